"""Failure-rate probe: error kinds, windows and limits."""

from __future__ import annotations

import pytest

from slopops.programs import ProgramTarget, failure_rate, open_session, release_program
from slopops.programs.probe import error_kind
from tests.programs.conftest import Elfs, memo_errors, send_memos


@pytest.mark.parametrize(
    ("err", "kind"),
    [
        (
            {"InstructionError": [0, "InvalidInstructionData"]},
            "InstructionError:InvalidInstructionData",
        ),
        ({"InstructionError": [1, {"Custom": 6000}]}, "InstructionError:Custom(6000)"),
        ("AccountNotFound", "AccountNotFound"),
        (
            {"InsufficientFundsForRent": {"account_index": 2}},
            "InsufficientFundsForRent",
        ),
        ([1, 2], "[1, 2]"),
    ],
)
def test_error_kind_names(err: object, kind: str) -> None:
    assert error_kind(err) == kind


async def test_window_counts_recent_transactions(
    target: ProgramTarget, elfs: Elfs
) -> None:
    await release_program(target, elfs.memo_v3)
    assert await memo_errors(target, await send_memos(target, 3)) == [None] * 3

    async with open_session(target) as session:
        recent = await failure_rate(session.rpc, session.program_id, window_seconds=600)
        newest = await failure_rate(session.rpc, session.program_id, limit=2)

    # The window also contains the deploy transaction, which names the program.
    assert recent.samples == 4
    assert recent.failed == 0
    assert recent.rate == 0.0
    assert newest.samples == 2


async def test_probe_without_bounds_rejected(target: ProgramTarget) -> None:
    async with open_session(target) as session:
        with pytest.raises(ValueError, match="limit or window_seconds"):
            await failure_rate(session.rpc, session.program_id)
