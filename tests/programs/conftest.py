"""Fixtures for program release tests: keys, programs and targets on a chain."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.signature import Signature

from config.settings import ProgramSettings, RpcSettings
from slopops.localnet.builtin_programs import (
    associated_token_elf,
    memo_v1_elf,
    memo_v3_elf,
    write_program_so,
)
from slopops.programs import ProgramTarget, open_session
from slopops.solana import RpcClient, build_transaction, save_keypair
from tests.fixtures.localnet import LAMPORTS_PER_SOL, Localnet


@dataclass(frozen=True)
class Keys:
    """Keypairs of one test program and where they are saved."""

    payer: Keypair
    authority: Keypair
    program: Keypair
    directory: Path

    def path(self, name: str) -> Path:
        return self.directory / f"{name}.json"


@dataclass(frozen=True)
class Elfs:
    """Real program files written for one test."""

    memo_v3: Path
    memo_v1: Path
    associated_token: Path


@pytest.fixture(scope="session")
def elfs(tmp_path_factory: pytest.TempPathFactory) -> Elfs:
    """Write the LiteSVM program ELFs to files once per session."""
    directory = tmp_path_factory.mktemp("elfs")
    return Elfs(
        memo_v3=write_program_so(memo_v3_elf(), directory / "memo_v3.so"),
        memo_v1=write_program_so(memo_v1_elf(), directory / "memo_v1.so"),
        associated_token=write_program_so(
            associated_token_elf(), directory / "associated_token.so"
        ),
    )


def make_keys(chain: Localnet, directory: Path, payer_sol: int = 100) -> Keys:
    """Create and save a payer (funded), an authority and a program keypair."""
    keys = Keys(Keypair(), Keypair(), Keypair(), directory)
    for name in ("payer", "authority", "program"):
        save_keypair(keys.path(name), getattr(keys, name))
    if payer_sol:
        chain.airdrop(keys.payer.pubkey(), payer_sol * LAMPORTS_PER_SOL)
    return keys


def make_target(
    chain: Localnet,
    keys: Keys,
    state_dir: Path,
    *,
    urls: list[str] | None = None,
    genesis_hash: str | None = None,
    **program: object,
) -> ProgramTarget:
    """Build a target for a program named "demo" on ``chain``."""
    primary, *fallbacks = urls or [chain.url]
    rpc = RpcSettings(
        url=primary,
        fallback_urls=fallbacks,
        genesis_hash=genesis_hash or chain.genesis_hash,
        timeout_seconds=5.0,
    )
    fields: dict[str, object] = {
        "name": "demo",
        "program_keypair": keys.path("program"),
        "upgrade_authority_keypair": keys.path("authority"),
        **program,
    }
    settings = ProgramSettings(**fields)  # type: ignore[arg-type]
    return ProgramTarget(
        environment="local",
        rpc=rpc,
        program=settings,
        payer_keypair=keys.path("payer"),
        state_dir=state_dir,
    )


TargetFactory = Callable[..., ProgramTarget]


async def send_memos(target: ProgramTarget, count: int) -> list[str]:
    """Send ``count`` memo instructions to the program, skipping preflight."""
    signatures = []
    async with open_session(target) as session:
        for index in range(count):
            instruction = Instruction(session.program_id, f"memo {index}".encode(), [])
            blockhash = await session.rpc.latest_blockhash()
            transaction = build_transaction(
                [instruction], [session.payer], blockhash.blockhash
            )
            signature = await session.rpc.send_transaction(
                bytes(transaction), skip_preflight=True
            )
            signatures.append(str(signature))
    return signatures


async def memo_errors(target: ProgramTarget, signatures: list[str]) -> list[object]:
    """Return the err field of each memo transaction."""
    async with RpcClient([str(target.rpc.url)]) as rpc:
        statuses = await rpc.signature_statuses(
            [Signature.from_string(s) for s in signatures]
        )
    return [status.err if status else "missing" for status in statuses]


@pytest.fixture
def keys(localnet: Localnet, tmp_path: Path) -> Keys:
    """Return fresh keys with a payer holding 100 SOL on the shared chain."""
    return make_keys(localnet, tmp_path / "keys")


@pytest.fixture
def target(localnet: Localnet, keys: Keys, tmp_path: Path) -> ProgramTarget:
    """Return a target for a new program on the shared chain."""
    return make_target(localnet, keys, tmp_path / "state")
