"""Write a program file into a loader-v3 buffer, resuming an interrupted write.

The buffer keypair is saved (mode 0600) before any lamports move. Then one
transaction creates and initializes the buffer, and the writes go out with
many in flight. A second run for the same bytes reuses the
saved keypair, reads the buffer back and writes only the chunks that differ,
so one release never pays for two buffers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from solders.hash import Hash
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, create_account

from slopops.programs import loader
from slopops.programs.elf import sha256_hex
from slopops.programs.errors import ProgramReleaseError
from slopops.programs.store import BufferRole
from slopops.programs.target import Session
from slopops.solana import (
    PendingTransaction,
    build_transaction,
    load_keypair,
    save_keypair,
    with_compute_unit_price,
)
from slopops.solana.transactions import PACKET_DATA_SIZE

logger = logging.getLogger(__name__)

# Called with (chunks confirmed so far, chunks to write in this run).
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class BufferWrite:
    """The outcome of writing one buffer."""

    address: str
    keypair_path: str
    sha256: str
    size_bytes: int
    chunk_bytes: int
    chunks_total: int
    chunks_written: int
    chunks_skipped: int
    write_transactions: int
    signatures: dict[str, str]
    created: bool
    lamports: int
    elapsed_seconds: float


class BufferMismatchError(ProgramReleaseError):
    """A saved buffer keypair points at an account this release cannot use."""

    def __init__(self, program: str, buffer: str, problem: str) -> None:
        self.buffer = buffer
        super().__init__(
            program,
            f"buffer {buffer!r} {problem}; close it with "
            "`slopops program close-buffers` and release again",
        )


def chunk_bytes(session: Session) -> int:
    """Return the largest Write payload that fits one transaction.

    With one signer and no compute-unit price this is 1,012 bytes; a second
    signer or a price instruction makes it smaller.
    """
    # Measure with a 128-byte payload: from 128 bytes on, the instruction's
    # compact-u16 data length takes two bytes, as it does for every full chunk.
    probe = bytes(128)
    placeholder = Keypair()
    instructions = with_compute_unit_price(
        [loader.write(placeholder.pubkey(), session.authority.pubkey(), 0, probe)],
        session.target.program.compute_unit_price_micro_lamports,
    )
    transaction = build_transaction(
        instructions, [session.payer, session.authority], Hash.default()
    )
    return PACKET_DATA_SIZE - (len(bytes(transaction)) - len(probe))


def load_or_create_keypair(path: Path) -> tuple[Keypair, bool]:
    """Load the buffer keypair at ``path``, or create and save a new one."""
    if path.exists():
        return load_keypair(path), False
    keypair = Keypair()
    save_keypair(path, keypair)
    logger.info("saved buffer keypair %s at %s", keypair.pubkey(), path)
    return keypair, True


async def write_buffer(
    session: Session,
    elf: bytes,
    *,
    role: BufferRole = "release",
    progress: ProgressCallback | None = None,
) -> BufferWrite:
    """Create (or resume) the ``role`` buffer for ``elf`` and fill it.

    Raises:
        BufferMismatchError: The saved buffer has another authority or size.
        TransactionFailedError: A create or write transaction failed on chain.
    """
    target = session.target
    sha256 = sha256_hex(elf)
    path = target.store().buffer_keypair_path(target.name, role, sha256)
    keypair, _ = load_or_create_keypair(path)
    address = keypair.pubkey()
    existing = await _read_buffer(session, address, len(elf))
    signatures: dict[str, str] = {}
    created = existing is None
    if existing is None:
        signatures["create buffer"] = await _create_buffer(session, keypair, len(elf))
        existing = bytes(len(elf))
    size = chunk_bytes(session)
    pending = _write_transactions(session, address, elf, existing, size)
    total = -(-len(elf) // size)
    logger.info(
        "writing %s buffer %s of %s: %d of %d chunks differ",
        role,
        address,
        target.name,
        len(pending),
        total,
    )
    done = 0

    def confirmed(_: PendingTransaction) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, len(pending))

    if progress is not None:
        progress(0, len(pending))
    # Writes skip the node's simulation: their failure shows in their status.
    stats = await session.sender.send_all(
        pending, on_confirmed=confirmed, skip_preflight=True
    )
    account = await session.rpc.account_info(address)
    return BufferWrite(
        address=str(address),
        keypair_path=str(path),
        sha256=sha256,
        size_bytes=len(elf),
        chunk_bytes=size,
        chunks_total=total,
        chunks_written=len(pending),
        chunks_skipped=total - len(pending),
        write_transactions=stats.sends,
        signatures=signatures,
        created=created,
        lamports=account.lamports if account else 0,
        elapsed_seconds=stats.elapsed_seconds,
    )


async def _read_buffer(session: Session, address: Pubkey, size: int) -> bytes | None:
    account = await session.rpc.account_info(address)
    if account is None:
        return None
    name = session.target.name
    if account.owner != loader.LOADER_ID:
        raise BufferMismatchError(name, str(address), f"is owned by {account.owner}")
    state = loader.parse_state(account.data)
    if not isinstance(state, loader.BufferState):
        raise BufferMismatchError(name, str(address), "is not a loader-v3 buffer")
    if state.authority != session.authority.pubkey():
        raise BufferMismatchError(
            name, str(address), f"has authority {state.authority}, not ours"
        )
    if len(state.data) != size:
        raise BufferMismatchError(
            name, str(address), f"holds {len(state.data)} bytes, not {size}"
        )
    return state.data


async def _create_buffer(session: Session, keypair: Keypair, size: int) -> str:
    space = loader.BUFFER_HEADER_BYTES + size
    lamports = await session.rpc.minimum_balance_for_rent_exemption(space)
    instructions = [
        create_account(
            CreateAccountParams(
                from_pubkey=session.payer.pubkey(),
                to_pubkey=keypair.pubkey(),
                lamports=lamports,
                space=space,
                owner=loader.LOADER_ID,
            )
        ),
        loader.initialize_buffer(keypair.pubkey(), session.authority.pubkey()),
    ]
    pending = PendingTransaction(
        f"create buffer {keypair.pubkey()}",
        with_compute_unit_price(
            instructions, session.target.program.compute_unit_price_micro_lamports
        ),
        [session.payer, keypair],
    )
    await session.sender.send_one(pending)
    logger.info(
        "created buffer %s (%d bytes, %d lamports) in %s",
        keypair.pubkey(),
        space,
        lamports,
        pending.signature,
    )
    return str(pending.signature)


def _write_transactions(
    session: Session, address: Pubkey, elf: bytes, existing: bytes, size: int
) -> list[PendingTransaction]:
    price = session.target.program.compute_unit_price_micro_lamports
    authority = session.authority
    pending = []
    for offset in range(0, len(elf), size):
        chunk = elf[offset : offset + size]
        if existing[offset : offset + size] == chunk:
            continue
        instruction = loader.write(address, authority.pubkey(), offset, chunk)
        pending.append(
            PendingTransaction(
                f"write {offset}",
                with_compute_unit_price([instruction], price),
                [session.payer, authority],
            )
        )
    return pending


async def close_buffer(session: Session, address: Pubkey) -> tuple[str, int]:
    """Close the buffer at ``address``; return the signature and lamports recovered.

    The lamports go to the fee payer.
    """
    account = await session.rpc.account_info(address)
    lamports = account.lamports if account else 0
    instruction = loader.close(
        address, session.payer.pubkey(), session.authority.pubkey()
    )
    pending = PendingTransaction(
        f"close buffer {address}",
        with_compute_unit_price(
            [instruction], session.target.program.compute_unit_price_micro_lamports
        ),
        [session.payer, session.authority],
    )
    await session.sender.send_one(pending)
    logger.info(
        "closed buffer %s, recovered %d lamports in %s",
        address,
        lamports,
        pending.signature,
    )
    return str(pending.signature), lamports
