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
    payer_keypair: Path | None
    state_dir: Path

    @classmethod
    def from_settings(cls, settings: Settings, program_name: str) -> ProgramTarget:
        """Resolve ``program_name``'s paths against the profile's workspace.

        Raises:
            KeyError: The profile has no such program.
        """
        program = settings.program(program_name)
        payer = settings.payer_keypair
        resolved = {
            name: settings.resolve(path)
            for name in ("elf_path", "program_keypair", "upgrade_authority_keypair")
            if (path := getattr(program, name)) is not None
        }
        return cls(
            environment=settings.environment,
            rpc=settings.rpc,
            program=program.model_copy(update=resolved),
            payer_keypair=settings.resolve(payer) if payer is not None else None,
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
        """Load the fee payer keypair.

        Raises:
            PreflightError: The profile has no payer keypair.
            KeypairError: The keypair file is missing or invalid.
        """
        if self.payer_keypair is None:
            raise PreflightError(
                self.name,
                f"the {self.environment!r} profile has no payer_keypair; set it "
                "or SLOPOPS_PAYER_KEYPAIR",
            )
        return load_keypair(self.payer_keypair)

    def read_only_authority(self) -> Pubkey | None:
        """Return the upgrade authority's address without needing the payer file.

        It is None when only the fee payer could name the authority and the
        profile sets no payer keypair or its file does not exist.
        """
        program = self.program
        configured = program.upgrade_authority or program.upgrade_authority_keypair
        payer_exists = self.payer_keypair is not None and self.payer_keypair.exists()
        if configured is None and not payer_exists:
            return None
        return self.expected_authority()

    def load_authority(self) -> Keypair:
        """Load the upgrade authority keypair (the payer's when none is set).

        Raises:
            PreflightError: Only ``upgrade_authority`` is configured, so no key
                can sign as it, or it disagrees with the keypair file.
        """
        expected = self.expected_authority()
        path = self.program.upgrade_authority_keypair
        keypair = load_keypair(path) if path is not None else self.load_payer()
        if keypair.pubkey() != expected:
            raise PreflightError(
                self.name,
                f"programs.{self.name}.upgrade_authority is {str(expected)!r} but "
                "no upgrade_authority_keypair is configured to sign as it; set "
                "upgrade_authority_keypair",
            )
        return keypair

    def expected_authority(self) -> Pubkey:
        """Return the configured upgrade authority's address.

        It is ``upgrade_authority`` when set, else the address of
        ``upgrade_authority_keypair``, else the fee payer's.

        Raises:
            PreflightError: ``upgrade_authority`` and the keypair file disagree.
        """
        path = self.program.upgrade_authority_keypair
        from_file = load_keypair(path).pubkey() if path is not None else None
        configured = self.program.upgrade_authority
        if configured is None:
            return from_file or self.load_payer().pubkey()
        expected = Pubkey.from_string(configured)
        if from_file is not None and from_file != expected:
            raise PreflightError(
                self.name,
                f"programs.{self.name}.upgrade_authority is {configured!r} but "
                f"upgrade_authority_keypair contains {str(from_file)!r}; make them "
                "agree",
            )
        return expected

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
    """An open RPC client, a sender and the loaded keys of a target.

    A read-only session (``signing=False``) has no authority keypair, and it
    has no fee payer keypair when the payer's file does not exist. Its
    ``authority_address`` is None when only the missing payer could name it.
    """

    target: ProgramTarget
    rpc: RpcClient
    sender: TransactionSender
    authority_address: Pubkey | None
    program_id: Pubkey
    authority_keypair: Keypair | None = None
    payer_keypair: Keypair | None = None

    @property
    def payer(self) -> Keypair:
        """The fee payer keypair; a read-only session without one raises."""
        if self.payer_keypair is None:
            raise PreflightError(
                self.target.name,
                "this session is read-only and has no fee payer keypair",
            )
        return self.payer_keypair

    @property
    def authority(self) -> Keypair:
        """The upgrade authority keypair; a read-only session raises."""
        if self.authority_keypair is None:
            raise PreflightError(
                self.target.name,
                "this session is read-only and has no upgrade authority keypair",
            )
        return self.authority_keypair


@asynccontextmanager
async def open_session(
    target: ProgramTarget, *, rpc: RpcClient | None = None, signing: bool = True
) -> AsyncIterator[Session]:
    """Open an RPC client and load the keys of ``target``; close on exit.

    Args:
        target: The program and environment.
        rpc: An open client to use instead of one built from the settings.
        signing: Load the upgrade authority and fee payer keypairs; False for
            reads only, which need neither file.
    """
    if signing:
        authority = target.load_authority()
        payer: Keypair | None = target.load_payer()
        authority_address: Pubkey | None = target.expected_authority()
    else:
        authority = None
        authority_address = target.read_only_authority()
        payer = _load_if_present(target.payer_keypair)
    client = rpc or RpcClient.from_settings(target.rpc)
    try:
        yield Session(
            target=target,
            rpc=client,
            sender=TransactionSender(
                client, max_in_flight=target.program.write_concurrency
            ),
            authority_address=authority_address,
            program_id=target.program_id(),
            authority_keypair=authority,
            payer_keypair=payer,
        )
    finally:
        if rpc is None:
            await client.aclose()


def _load_if_present(path: Path | None) -> Keypair | None:
    return load_keypair(path) if path is not None and path.exists() else None
