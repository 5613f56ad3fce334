"""Releases on the local chain with real program ELFs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from slopops.localnet.builtin_programs import associated_token_elf, memo_v3_elf
from slopops.programs import (
    ProgramTarget,
    failure_rate,
    open_session,
    program_inventory,
    release_program,
    rollback_program,
)
from slopops.programs import release as release_module
from slopops.programs import rollback as rollback_module
from slopops.programs.elf import sha256_hex
from slopops.programs.errors import (
    DeployRejectedError,
    NoRollbackTargetError,
    ProgramUnchangedError,
)
from slopops.programs.preflight import read_program
from slopops.solana import RpcClient, RpcUnavailableError
from tests.programs.conftest import Elfs, memo_errors, send_memos

MEMO_SHA256 = sha256_hex(memo_v3_elf())
ATA_SHA256 = sha256_hex(associated_token_elf())


async def test_first_deploy_verifies_hash(target: ProgramTarget, elfs: Elfs) -> None:
    outcome = await release_program(target, elfs.memo_v3)

    assert outcome.record.kind == "deploy"
    assert outcome.record.sha256 == MEMO_SHA256
    assert outcome.record.previous_sha256 is None
    assert outcome.preflight.first_deploy
    assert "deploy" in outcome.record.signatures
    assert outcome.buffer.chunks_total == 3
    assert outcome.rollback_buffer is None
    assert await memo_errors(target, await send_memos(target, 2)) == [None, None]


async def test_upgrade_extends_programdata(target: ProgramTarget, elfs: Elfs) -> None:
    await release_program(target, elfs.memo_v3)

    outcome = await release_program(target, elfs.associated_token)

    assert outcome.record.kind == "upgrade"
    assert outcome.preflight.extend_bytes == 105_032 - 2_304
    assert set(outcome.record.signatures) >= {"extend", "upgrade"}
    assert outcome.record.sha256 == ATA_SHA256
    assert outcome.record.previous_sha256 == MEMO_SHA256
    assert outcome.rollback_buffer is not None
    assert outcome.rollback_buffer.sha256 == MEMO_SHA256
    assert outcome.record.lamports_spent > 0
    inventory = await program_inventory(target)
    assert inventory.sha256 == ATA_SHA256
    assert inventory.programdata_bytes == 45 + 105_032
    assert [b.role for b in inventory.buffers] == ["rollback"]


async def test_failing_release_probe_reports_all(
    target: ProgramTarget, elfs: Elfs
) -> None:
    await release_program(target, elfs.memo_v3)
    await release_program(target, elfs.associated_token)

    errors = await memo_errors(target, await send_memos(target, 5))
    async with RpcClient([str(target.rpc.url)]) as rpc:
        async with open_session(target) as session:
            rate = await failure_rate(rpc, session.program_id, limit=5)

    assert all(error is not None for error in errors)
    assert rate.samples == 5
    assert rate.failed == 5
    assert rate.rate == 1.0
    assert rate.error_kinds == {"InstructionError:InvalidInstructionData": 5}


async def test_rollback_is_one_transaction(target: ProgramTarget, elfs: Elfs) -> None:
    await release_program(target, elfs.memo_v3)
    await release_program(target, elfs.associated_token)

    outcome = await rollback_program(target)

    assert outcome.record.kind == "rollback"
    assert list(outcome.record.signatures) == ["upgrade"]
    assert outcome.record.write_transactions == 0
    assert not outcome.restaged
    assert outcome.record.sha256 == MEMO_SHA256
    assert outcome.record.previous_sha256 == ATA_SHA256
    assert outcome.next_rollback_buffer is None
    assert await memo_errors(target, await send_memos(target, 1)) == [None]
    with pytest.raises(NoRollbackTargetError, match="nothing to roll back to"):
        await rollback_program(target)


async def test_rollback_without_history_fails(
    target: ProgramTarget, elfs: Elfs
) -> None:
    await release_program(target, elfs.memo_v3)

    with pytest.raises(NoRollbackTargetError):
        await rollback_program(target)


async def test_rollback_stages_next_buffer(target: ProgramTarget, elfs: Elfs) -> None:
    await release_program(target, elfs.memo_v3)
    await release_program(target, elfs.associated_token)
    await release_program(target, elfs.memo_v3)

    first = await rollback_program(target)
    second = await rollback_program(target)

    assert first.record.sha256 == ATA_SHA256
    assert first.next_rollback_buffer is not None
    assert first.next_rollback_buffer.sha256 == MEMO_SHA256
    assert second.record.sha256 == MEMO_SHA256
    assert list(second.record.signatures) == ["upgrade"]


async def test_rejected_first_deploy_closes_buffer(
    target: ProgramTarget, elfs: Elfs
) -> None:
    with pytest.raises(DeployRejectedError, match="loader rejected") as caught:
        await release_program(target, elfs.memo_v1)

    assert caught.value.recovered_lamports > 0
    assert any("sol_alloc_free_" in line for line in caught.value.logs)
    inventory = await program_inventory(target)
    assert not inventory.deployed
    assert inventory.buffers == []
    assert target.store().buffer_keypair_paths("demo") == []


async def test_rejected_upgrade_keeps_programdata(
    target: ProgramTarget, elfs: Elfs
) -> None:
    await release_program(target, elfs.memo_v3)
    async with open_session(target) as session:
        before = await read_program(session.rpc, "demo", session.program_id)

    with pytest.raises(DeployRejectedError) as caught:
        await release_program(target, elfs.memo_v1)

    async with open_session(target) as session:
        after = await read_program(session.rpc, "demo", session.program_id)
    assert before is not None and after is not None
    # The extend before the upgrade landed, so only the ELF bytes stay as they were.
    assert after.sha256 == MEMO_SHA256
    assert after.elf == before.elf
    assert "sol_alloc_free_" in " ".join(caught.value.logs)
    assert caught.value.recovered_lamports > 0
    records = target.store().records("demo")
    assert [record.kind for record in records] == ["deploy"]
    # Nothing landed, so no draft is left for a later run to record.
    assert target.store().read_pending("demo") is None


async def test_same_file_again_is_unchanged(target: ProgramTarget, elfs: Elfs) -> None:
    first = await release_program(target, elfs.memo_v3)

    again = await release_program(target, elfs.memo_v3)

    assert again.unchanged
    assert again.buffer is None
    assert again.record == first.record
    assert len(target.store().records("demo")) == 1


async def test_same_file_without_record_rejected(
    target: ProgramTarget, elfs: Elfs, tmp_path: Path
) -> None:
    await release_program(target, elfs.memo_v3)
    forgetful = replace(target, state_dir=tmp_path / "lost-state")

    with pytest.raises(ProgramUnchangedError, match="already runs sha256"):
        await release_program(forgetful, elfs.memo_v3)


async def test_interrupted_after_upgrade_recorded_on_rerun(
    target: ProgramTarget, elfs: Elfs, monkeypatch: pytest.MonkeyPatch
) -> None:
    await release_program(target, elfs.memo_v3)
    real_verify = release_module.verify_program

    async def unavailable(*args: object, **kwargs: object) -> object:
        raise RpcUnavailableError("getAccountInfo", [str(target.rpc.url)], "down")

    monkeypatch.setattr(release_module, "verify_program", unavailable)
    with pytest.raises(RpcUnavailableError):
        await release_program(target, elfs.associated_token)
    monkeypatch.setattr(release_module, "verify_program", real_verify)

    rerun = await release_program(target, elfs.associated_token)

    assert not rerun.unchanged
    assert rerun.record.kind == "upgrade"
    assert rerun.record.sha256 == ATA_SHA256
    assert rerun.record.previous_sha256 == MEMO_SHA256
    assert rerun.record.signatures["upgrade"].startswith("unknown")
    assert target.store().read_pending("demo") is None
    back = await rollback_program(target)
    assert back.record.sha256 == MEMO_SHA256


async def test_interrupted_rollback_not_repeated(
    target: ProgramTarget, elfs: Elfs, monkeypatch: pytest.MonkeyPatch
) -> None:
    await release_program(target, elfs.memo_v3)
    await release_program(target, elfs.associated_token)
    real_verify = rollback_module.verify_program

    async def unavailable(*args: object, **kwargs: object) -> object:
        raise RpcUnavailableError("getAccountInfo", [str(target.rpc.url)], "down")

    monkeypatch.setattr(rollback_module, "verify_program", unavailable)
    with pytest.raises(RpcUnavailableError):
        await rollback_program(target)
    monkeypatch.setattr(rollback_module, "verify_program", real_verify)

    rerun = await rollback_program(target)

    assert rerun.record.kind == "rollback"
    assert rerun.record.sha256 == MEMO_SHA256
    assert rerun.record.previous_sha256 == ATA_SHA256
    assert rerun.record.signatures["upgrade"].startswith("unknown")
    kinds = [record.kind for record in target.store().records("demo")]
    assert kinds == ["deploy", "upgrade", "rollback"]
