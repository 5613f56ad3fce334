"""Program state and the buffers held by our upgrade authority."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from solders.pubkey import Pubkey

from slopops.programs import loader
from slopops.programs.buffer import close_buffer
from slopops.programs.preflight import read_program
from slopops.programs.target import ProgramTarget, Session, open_session
from slopops.solana import load_keypair
from slopops.solana.rpc import RpcClient

logger = logging.getLogger(__name__)

_BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


@dataclass(frozen=True)
class BufferInfo:
    """A loader-v3 buffer whose authority is ours."""

    address: str
    lamports: int
    role: str | None


@dataclass(frozen=True)
class ProgramInventory:
    """A program's on-chain state and our open buffers."""

    program: str
    program_id: str
    deployed: bool
    authority: str | None
    programdata_bytes: int | None
    last_deployed_slot: int | None
    sha256: str | None
    elf_bytes: int | None
    buffers: list[BufferInfo]

    @property
    def buffer_lamports(self) -> int:
        """Lamports held by the listed buffers."""
        return sum(buffer.lamports for buffer in self.buffers)


@dataclass(frozen=True)
class CloseReport:
    """Buffers closed and the lamports recovered from each."""

    closed: dict[str, int]
    kept: list[str]

    @property
    def recovered_lamports(self) -> int:
        """Lamports returned to the fee payer."""
        return sum(self.closed.values())


def base58_encode(data: bytes) -> str:
    """Encode ``data`` in Bitcoin base58, as getProgramAccounts filters expect."""
    number = int.from_bytes(data, "big")
    encoded = ""
    while number:
        number, remainder = divmod(number, 58)
        encoded = _BASE58_ALPHABET[remainder] + encoded
    leading_zeros = len(data) - len(data.lstrip(b"\x00"))
    return "1" * leading_zeros + encoded


async def list_buffers(rpc: RpcClient, authority: Pubkey) -> list[tuple[Pubkey, int]]:
    """Return (address, lamports) of every buffer whose authority is ``authority``."""
    # Buffer header: u32 tag 1, then Some (1) and the authority's 32 bytes.
    prefix = bytes([loader.STATE_BUFFER, 0, 0, 0, 1]) + bytes(authority)
    accounts = await rpc.program_accounts(
        loader.LOADER_ID,
        filters=[{"memcmp": {"offset": 0, "bytes": base58_encode(prefix)}}],
        data_length_bytes=loader.BUFFER_HEADER_BYTES,
    )
    return [(address, account.lamports) for address, account in accounts]


def _roles(session: Session) -> dict[str, str]:
    """Map buffer addresses to the role of their saved keypair file."""
    roles = {}
    for path in session.target.store().buffer_keypair_paths(session.target.name):
        role = path.stem.split("-", 1)[0]
        roles[str(load_keypair(path).pubkey())] = role
    return roles


async def program_inventory(target: ProgramTarget) -> ProgramInventory:
    """Read the program's state and list our buffers with their lamports."""
    async with open_session(target, signing=False) as session:
        deployed = await read_program(session.rpc, target.name, session.program_id)
        # Without the payer file the on-chain upgrade authority owns our buffers.
        authority = session.authority_address
        if authority is None and deployed is not None and deployed.authority:
            authority = Pubkey.from_string(deployed.authority)
        buffers = await list_buffers(session.rpc, authority) if authority else []
        roles = _roles(session)
    return ProgramInventory(
        program=target.name,
        program_id=str(session.program_id),
        deployed=deployed is not None,
        authority=deployed.authority if deployed else None,
        programdata_bytes=(
            deployed.capacity_bytes + loader.PROGRAMDATA_HEADER_BYTES
            if deployed
            else None
        ),
        last_deployed_slot=deployed.slot if deployed else None,
        sha256=deployed.sha256 if deployed else None,
        elf_bytes=len(deployed.elf) if deployed else None,
        buffers=[
            BufferInfo(str(address), lamports, roles.get(str(address)))
            for address, lamports in buffers
        ],
    )


async def close_buffers(
    target: ProgramTarget, *, keep_rollback: bool = True
) -> CloseReport:
    """Close our buffers and recover their lamports to the fee payer.

    Args:
        target: The program whose upgrade authority owns the buffers.
        keep_rollback: Keep the buffers staged for a rollback.
    """
    async with open_session(target) as session:
        roles = _roles(session)
        closed = {}
        kept = []
        authority = session.authority.pubkey()
        for address, _ in await list_buffers(session.rpc, authority):
            if keep_rollback and roles.get(str(address)) == "rollback":
                kept.append(str(address))
                continue
            _, closed[str(address)] = await close_buffer(session, address)
        _forget_closed(session, set(closed))
    logger.info(
        "closed %d buffers of %s, recovered %d lamports, kept %d",
        len(closed),
        target.name,
        sum(closed.values()),
        len(kept),
    )
    return CloseReport(closed, kept)


def _forget_closed(session: Session, closed: set[str]) -> None:
    for path in session.target.store().buffer_keypair_paths(session.target.name):
        if str(load_keypair(path).pubkey()) in closed:
            path.unlink()
