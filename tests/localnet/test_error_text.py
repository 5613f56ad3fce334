"""Transaction error text, as agave writes it."""

from __future__ import annotations

import pytest

from slopops.localnet.error_text import describe_transaction_error


@pytest.mark.parametrize(
    ("err", "text"),
    [
        ("BlockhashNotFound", "Blockhash not found"),
        ("AlreadyProcessed", "This transaction has already been processed"),
        (
            {"InstructionError": [1, "InvalidAccountData"]},
            "Error processing Instruction 1: invalid account data for instruction",
        ),
        (
            {"InstructionError": [0, {"Custom": 6001}]},
            "Error processing Instruction 0: custom program error: 0x1771",
        ),
        (
            {"InsufficientFundsForRent": {"account_index": 2}},
            "Transaction results in an account (2) with insufficient funds for rent",
        ),
        ("ClusterMaintenance", "cluster maintenance"),
        (
            {"InstructionError": [3, "ArithmeticOverflow"]},
            "Error processing Instruction 3: arithmetic overflow",
        ),
    ],
)
def test_describe_transaction_error(err, text):
    assert describe_transaction_error(err) == text
