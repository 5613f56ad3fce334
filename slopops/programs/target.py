"""The target of a release: one program of one environment, with its keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from solders.keypair import Keypair
from solders.pubkey import Pubkey

from config.settings import ProgramSettings, RpcSettings, Settings
from slopops.programs.errors import PreflightError
from slopops.programs.store import FileReleaseStore
from slopops.solana import RpcClient, TransactionSender, load_keypair


@dataclass(frozen=True)
class ProgramTarget:
    """One program of one environment, with every path made absolute.

    Build it with :meth:`from_settings`, or directly from the settings parts
    (``rpc`` and ``program`` sections, payer keypair and state directory).
    """

    environment: str
    rpc: RpcSettings
    program: ProgramSettings
    payer_keypair: Path
    state_dir: Path

    @classmethod
    def from_settings(cls, settings: Settings, program_name: str) -> ProgramTarget:
        """Resolve ``program_name``'s paths against the profile's workspace.

        Raises:
            KeyError: The profile has no such program.
            PreflightError: The profile has no payer keypair.
        """
        program = settings.program(program_name)
        if settings.payer_keypair is None:
            raise PreflightError(
                program_name,
                f"the {settings.environment!r} profile has no payer_keypair; set it "
                "or SLOPOPS_PAYER_KEYPAIR",
            )
        resolved = {
            name: settings.resolve(path)
            for name in ("elf_path", "program_keypair", "upgrade_authority_keypair")
            if (path := getattr(program, name)) is not None
        }
        return cls(
            environment=settings.environment,
            rpc=settings.rpc,
            program=program.model_copy(update=resolved),
            payer_keypair=settings.resolve(settings.payer_keypair),
            state_dir=settings.resolve(settings.state_dir),
        )

    @property
    def name(self) -> str:
        """The program's name in the profile."""
        return self.program.name

    def store(self) -> FileReleaseStore:
        """Return the file release store under the state directory."""
        return FileReleaseStore(self.state_dir)

    def load_payer(self) -> Keypair:
        """Load the fee payer keypair."""
        return load_keypair(self.payer_keypair)

    def load_authority(self) -> Keypair:
        """Load the upgrade authority keypair (the payer's when none is set)."""
        path = self.program.upgrade_authority_keypair
        return load_keypair(path) if path is not None else self.load_payer()

    def expected_authority(self) -> Pubkey:
        """Return the configured upgrade authority's address."""
        if self.program.upgrade_authority_keypair is None and (
            self.program.upgrade_authority is not None
        ):
            return Pubkey.from_string(self.program.upgrade_authority)
        return self.load_authority().pubkey()

    def program_keypair(self) -> Keypair | None:
        """Load the program address keypair, None when none is configured."""
        path = self.program.program_keypair
        return load_keypair(path) if path is not None else None

    def program_id(self) -> Pubkey:
        """Return the program address: configured, or the program keypair's.

        Raises:
            PreflightError: Neither a program id nor a program keypair is set.
        """
        if self.program.program_id is not None:
            return Pubkey.from_string(self.program.program_id)
        keypair = self.program_keypair()
        if keypair is None:
            raise PreflightError(
                self.name,
                f"program {self.name!r} has neither program_id nor program_keypair; "
                "set one in the profile or in Anchor.toml",
            )
        return keypair.pubkey()


@dataclass
class Session:
    """An open RPC client, a sender and the loaded signing keys of a target."""

    target: ProgramTarget
    rpc: RpcClient
    sender: TransactionSender
    payer: Keypair
    authority: Keypair
    program_id: Pubkey


@asynccontextmanager
async def open_session(
    target: ProgramTarget, *, rpc: RpcClient | None = None
) -> AsyncIterator[Session]:
    """Open an RPC client and load the keys of ``target``; close on exit."""
    client = rpc or RpcClient.from_settings(target.rpc)
    try:
        yield Session(
            target=target,
            rpc=client,
            sender=TransactionSender(
                client, max_in_flight=target.program.write_concurrency
            ),
            payer=target.load_payer(),
            authority=target.load_authority(),
            program_id=target.program_id(),
        )
    finally:
        if rpc is None:
            await client.aclose()
