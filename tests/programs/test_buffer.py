"""Buffer writes: chunking, resume after an interruption, keypair safety."""

from __future__ import annotations

import os
import stat

import pytest

from slopops.localnet.builtin_programs import associated_token_elf
from slopops.programs import (
    ProgramTarget,
    close_buffers,
    program_inventory,
    release_program,
    write_release_buffer,
)
from slopops.programs.buffer import chunk_bytes
from slopops.programs.target import open_session
from tests.programs.conftest import Elfs


class Interrupted(Exception):
    """Raised from the progress callback to stop a write half way."""


async def test_chunk_is_1012_bytes_with_one_signer(target: ProgramTarget) -> None:
    async with open_session(target) as session:
        session.authority_keypair = session.payer
        assert chunk_bytes(session) == 1_012


async def test_chunk_shrinks_with_second_signer(target: ProgramTarget) -> None:
    async with open_session(target) as session:
        assert chunk_bytes(session) == 1_012 - 64 - 32


async def test_interrupted_write_resumes(target: ProgramTarget, elfs: Elfs) -> None:
    total = -(-len(associated_token_elf()) // (1_012 - 96))
    confirmed_before_stop = 0

    def stop_half_way(done: int, planned: int) -> None:
        nonlocal confirmed_before_stop
        confirmed_before_stop = done
        if done >= planned // 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        await write_release_buffer(target, elfs.associated_token, stop_half_way)
    resumed = await write_release_buffer(target, elfs.associated_token)

    assert not resumed.created
    assert resumed.chunks_total == total
    assert resumed.chunks_skipped >= confirmed_before_stop
    assert resumed.chunks_written == total - resumed.chunks_skipped
    assert resumed.write_transactions == resumed.chunks_written
    assert resumed.chunks_written < total
    outcome = await release_program(target, elfs.associated_token)
    assert outcome.buffer.address == resumed.address
    assert outcome.buffer.write_transactions == 0
    assert outcome.record.sha256 == resumed.sha256


async def test_buffer_keypair_saved_private(target: ProgramTarget, elfs: Elfs) -> None:
    written = await write_release_buffer(target, elfs.memo_v3)

    mode = stat.S_IMODE(os.stat(written.keypair_path).st_mode)
    assert mode == 0o600
    inventory = await program_inventory(target)
    assert [(b.address, b.role) for b in inventory.buffers] == [
        (written.address, "release")
    ]
    assert inventory.buffers[0].lamports == written.lamports


async def test_close_buffers_recovers_lamports(
    target: ProgramTarget, elfs: Elfs
) -> None:
    written = await write_release_buffer(target, elfs.memo_v3)

    report = await close_buffers(target)

    assert report.closed == {written.address: written.lamports}
    assert report.recovered_lamports == written.lamports
    assert (await program_inventory(target)).buffers == []
    assert not os.path.exists(written.keypair_path)


async def test_close_buffers_keeps_rollback(target: ProgramTarget, elfs: Elfs) -> None:
    await release_program(target, elfs.memo_v3)
    await release_program(target, elfs.associated_token)

    kept = await close_buffers(target)
    dropped = await close_buffers(target, keep_rollback=False)

    assert kept.closed == {}
    assert len(kept.kept) == 1
    assert list(dropped.closed) == kept.kept
