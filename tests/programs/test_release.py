"""Releases on the local chain with real program ELFs."""

from __future__ import annotations

from slopops.localnet.builtin_programs import memo_v3_elf
from slopops.programs import ProgramTarget, release_program
from slopops.programs.elf import sha256_hex
from tests.programs.conftest import Elfs


async def test_first_deploy_verifies_hash(target: ProgramTarget, elfs: Elfs) -> None:
    outcome = await release_program(target, elfs.memo_v3)

    assert outcome.record.kind == "deploy"
    assert outcome.record.sha256 == sha256_hex(memo_v3_elf())
    assert outcome.record.previous_sha256 is None
    assert outcome.preflight.first_deploy
    assert "deploy" in outcome.record.signatures
    assert outcome.buffer.chunks_total == 3
