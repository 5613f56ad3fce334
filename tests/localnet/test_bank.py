"""The chain state in process: slots, blockhash window, rejections, ledger."""

from __future__ import annotations

import time

import pytest
from solders.keypair import Keypair
from solders.system_program import TransferParams, transfer
from solders.transaction_status import TransactionErrorFieldless

from slopops.localnet.bank import Bank, TransactionRejected, genesis_hash_for
from tests.localnet.chain import memo, sign

LAMPORTS_PER_SOL = 1_000_000_000


def test_genesis_hash_is_pinned_per_seed():
    assert str(genesis_hash_for("local")) == (
        "F96DuMLvcwNiaDbDdD1DFzAA1Ed6FnhPB1QpmnGsHzJM"
    )
    assert str(genesis_hash_for("devnet")) == (
        "67feRf1jVhA5RtZuqRxuDZKhRsonWvMnK4UTq3NqGaac"
    )
    assert str(genesis_hash_for("mainnet-beta")) == (
        "5KBvJaAanekCcJMF9DBAvGFmmwxEbHZ1MnojErJoaFEJ"
    )


def test_blockhashes_differ_per_seed():
    assert Bank("devnet").latest_blockhash != Bank("mainnet-beta").latest_blockhash
    assert Bank("devnet").latest_blockhash == Bank("devnet").latest_blockhash


def test_blockhash_window_expires_oldest():
    bank = Bank("window", max_processing_age=3)
    payer = Keypair()
    bank.airdrop(payer.pubkey(), LAMPORTS_PER_SOL)
    old = bank.latest_blockhash
    assert bank.last_valid_block_height(old) == bank.block_height + 3
    for _ in range(3):
        bank.airdrop(Keypair().pubkey(), LAMPORTS_PER_SOL)
    assert bank.is_blockhash_valid(old)
    bank.airdrop(Keypair().pubkey(), LAMPORTS_PER_SOL)
    assert not bank.is_blockhash_valid(old)
    with pytest.raises(TransactionRejected) as raised:
        bank.process(sign([payer], [memo("late")], old))
    assert raised.value.simulation.err == TransactionErrorFieldless.BlockhashNotFound


def test_rejected_transaction_leaves_no_trace():
    bank = Bank("reject")
    unfunded = Keypair()
    transaction = sign([unfunded], [memo("no funds")], bank.latest_blockhash)
    slot = bank.slot
    with pytest.raises(TransactionRejected) as raised:
        bank.process(transaction)
    assert raised.value.simulation.err == TransactionErrorFieldless.AccountNotFound
    assert bank.slot == slot
    assert bank.ledger.get(transaction.signatures[0]) is None
    assert len(bank.ledger) == 0


def test_failed_transaction_lands_in_its_own_slot():
    bank = Bank("fail")
    payer = Keypair()
    bank.airdrop(payer.pubkey(), LAMPORTS_PER_SOL)
    too_much = transfer(
        TransferParams(
            from_pubkey=payer.pubkey(),
            to_pubkey=Keypair().pubkey(),
            lamports=2 * LAMPORTS_PER_SOL,
        )
    )
    record = bank.process(sign([payer], [too_much], bank.latest_blockhash))
    assert record.err is not None
    assert record.fee_lamports == 5_000
    assert record.slot == 1
    assert bank.slot == 2
    assert bank.svm.get_balance(payer.pubkey()) == LAMPORTS_PER_SOL - 5_000


def test_clock_follows_slots():
    bank = Bank("clock")
    bank.airdrop(Keypair().pubkey(), LAMPORTS_PER_SOL)
    clock = bank.svm.get_clock()
    assert clock.slot == bank.slot == 1
    assert abs(clock.unix_timestamp - time.time()) < 60
    assert bank.block_time(1) == clock.unix_timestamp
    assert bank.block_time(2) is None


def test_simulation_does_not_land():
    bank = Bank("simulate")
    payer = Keypair()
    bank.airdrop(payer.pubkey(), LAMPORTS_PER_SOL)
    transaction = sign([payer], [memo("dry run")], bank.latest_blockhash)
    simulation = bank.simulate(transaction)
    assert simulation.err is None
    assert any("dry run" in line for line in simulation.logs)
    assert bank.ledger.get(transaction.signatures[0]) is None
    assert bank.slot == 1
    bank.process(transaction)
    assert bank.ledger.get(transaction.signatures[0]) is not None
