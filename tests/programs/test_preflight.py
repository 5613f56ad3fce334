"""Checks that stop a release before anything is signed."""

from __future__ import annotations

from pathlib import Path

import pytest

from slopops.localnet.builtin_programs import associated_token_elf
from slopops.programs import (
    ProgramTarget,
    loader,
    open_session,
    program_inventory,
    release_program,
    run_preflight,
    write_release_buffer,
)
from slopops.programs.errors import (
    GenesisHashMismatchError,
    InsufficientFundsError,
    InvalidElfError,
    PreflightError,
    ProgramFinalError,
    UpgradeAuthorityMismatchError,
)
from slopops.solana import PendingTransaction, RpcClient
from slopops.stack.process import free_port
from tests.fixtures.localnet import Localnet
from tests.programs.conftest import Elfs, Keys, make_keys, make_target


async def payer_balance(target: ProgramTarget) -> int:
    async with RpcClient([str(target.rpc.url)]) as rpc:
        return await rpc.balance(target.load_payer().pubkey())


async def test_wrong_genesis_hash_signs_nothing(
    localnet: Localnet, keys: Keys, tmp_path: Path, elfs: Elfs
) -> None:
    other = "EtWTRABZaYq6iMfeYKouRu166VU2xqa1wcaWoxPkrZBG"
    target = make_target(localnet, keys, tmp_path / "state", genesis_hash=other)
    before = await payer_balance(target)

    with pytest.raises(GenesisHashMismatchError, match="differs from the profile"):
        await release_program(target, elfs.memo_v3)

    assert await payer_balance(target) == before
    assert target.store().buffer_keypair_paths("demo") == []


async def test_wrong_upgrade_authority_rejected(
    localnet: Localnet, target: ProgramTarget, tmp_path: Path, elfs: Elfs
) -> None:
    await release_program(target, elfs.memo_v3)
    intruder = make_keys(localnet, tmp_path / "intruder")
    other = make_target(
        localnet,
        intruder,
        tmp_path / "intruder-state",
        program_id=str(target.program_id()),
    )

    with pytest.raises(UpgradeAuthorityMismatchError, match="not the configured"):
        await release_program(other, elfs.associated_token)


async def test_final_program_rejected(target: ProgramTarget, elfs: Elfs) -> None:
    await release_program(target, elfs.memo_v3)
    async with open_session(target) as session:
        programdata = loader.programdata_address(session.program_id)
        instruction = loader.set_authority(
            programdata, session.authority.pubkey(), None
        )
        await session.sender.send_one(
            PendingTransaction(
                "finalize", [instruction], [session.payer, session.authority]
            )
        )

    with pytest.raises(ProgramFinalError, match="is final"):
        await release_program(target, elfs.associated_token)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "shorter than an ELF64 header"),
        (b"#!/bin/sh\necho not a program\n" * 4, "ELF magic"),
        (associated_token_elf()[:50_000], "truncated or with trailing data"),
        (associated_token_elf() + b"\x00" * 16, "truncated or with trailing data"),
        (
            associated_token_elf()[:0x12] + b"\x3e\x00" + associated_token_elf()[0x14:],
            "not sBPF",
        ),
    ],
    ids=["empty", "script", "truncated", "trailing", "x86-64"],
)
async def test_invalid_file_rejected(
    target: ProgramTarget, tmp_path: Path, content: bytes, problem: str
) -> None:
    path = tmp_path / "bad.so"
    path.write_bytes(content)
    before = await payer_balance(target)

    with pytest.raises(InvalidElfError, match=problem):
        await release_program(target, path)

    assert await payer_balance(target) == before


async def test_missing_file_rejected(target: ProgramTarget, tmp_path: Path) -> None:
    with pytest.raises(InvalidElfError, match="cannot be read"):
        await release_program(target, tmp_path / "missing.so")


async def test_payer_without_funds_rejected(
    localnet: Localnet, tmp_path: Path, elfs: Elfs
) -> None:
    keys = make_keys(localnet, tmp_path / "keys", payer_sol=0)
    localnet.airdrop(keys.payer.pubkey(), 10_000_000)
    target = make_target(localnet, keys, tmp_path / "state")

    with pytest.raises(InsufficientFundsError, match="needs about") as caught:
        await release_program(target, elfs.associated_token)

    assert caught.value.balance_lamports == 10_000_000
    assert caught.value.needed_lamports > 700_000_000
    assert await payer_balance(target) == 10_000_000


async def test_preflight_reports_estimate(target: ProgramTarget, elfs: Elfs) -> None:
    report = await run_preflight(target, elfs.associated_token)

    assert report.first_deploy
    assert report.size_bytes == 105_032
    assert report.extend_bytes == 0
    assert 0 < report.estimated_lamports < report.payer_balance_lamports


async def test_primary_down_fallback_serves(
    localnet: Localnet, keys: Keys, tmp_path: Path, elfs: Elfs
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    target = make_target(localnet, keys, tmp_path / "state", urls=[dead, localnet.url])

    outcome = await release_program(target, elfs.memo_v3)

    assert outcome.record.kind == "deploy"


async def test_authority_without_keypair_reads_only(
    localnet: Localnet, keys: Keys, tmp_path: Path, elfs: Elfs
) -> None:
    signer = make_target(localnet, keys, tmp_path / "state")
    written = await write_release_buffer(signer, elfs.memo_v3)
    reader = make_target(
        localnet,
        keys,
        tmp_path / "state",
        upgrade_authority_keypair=None,
        upgrade_authority=str(keys.authority.pubkey()),
    )

    inventory = await program_inventory(reader)
    with pytest.raises(PreflightError, match="no upgrade_authority_keypair"):
        await release_program(reader, elfs.memo_v3)

    assert [b.address for b in inventory.buffers] == [written.address]


async def test_authority_disagreeing_with_keypair_rejected(
    localnet: Localnet, keys: Keys, tmp_path: Path, elfs: Elfs
) -> None:
    target = make_target(
        localnet,
        keys,
        tmp_path / "state",
        upgrade_authority=str(keys.payer.pubkey()),
    )

    with pytest.raises(PreflightError, match="make them agree"):
        await release_program(target, elfs.memo_v3)
