"""Rollback buffers and the one-transaction rollback.

Before an upgrade, the current ELF is written into a buffer owned by the
upgrade authority, so that a rollback is a single Upgrade transaction. The
Upgrade consumes that buffer; after a rollback, the next one is staged when
the store holds the release before it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from solders.pubkey import Pubkey

from slopops.programs import loader
from slopops.programs.buffer import BufferWrite, close_buffer, write_buffer
from slopops.programs.deploy import (
    DeployOutcome,
    apply_buffer,
    extend_programdata,
    verify_program,
)
from slopops.programs.errors import (
    NoRollbackTargetError,
    ProgramNotFoundError,
)
from slopops.programs.preflight import (
    check_authority,
    check_genesis,
    extension_bytes,
    read_program,
)
from slopops.programs.record import append_landed, pending_draft
from slopops.programs.store import ReleaseRecord, ReleaseStore, rollback_target
from slopops.programs.target import ProgramTarget, Session, open_session
from slopops.solana import load_keypair

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RollbackOutcome:
    """Outcome of a rollback: its record and the next staged rollback buffer."""

    record: ReleaseRecord
    restaged: bool
    next_rollback_buffer: BufferWrite | None


async def stage_rollback(
    session: Session, store: ReleaseStore, sha256: str
) -> BufferWrite:
    """Write the saved ELF ``sha256`` into the rollback buffer (or resume it).

    Raises:
        NoRollbackTargetError: The store does not hold that ELF.
    """
    name = session.target.name
    elf = store.load_elf(name, sha256)
    if elf is None:
        raise NoRollbackTargetError(name, sha256)
    staged = await write_buffer(session, elf, role="rollback")
    logger.info("staged rollback buffer %s for %s (%s)", staged.address, name, sha256)
    return staged


async def close_stale_rollback_buffers(
    session: Session, keep_sha256: str | None
) -> dict[str, int]:
    """Close rollback buffers of every ELF but ``keep_sha256``.

    Returns:
        Lamports recovered per closed buffer address.
    """
    store = session.target.store()
    closed = {}
    for path in store.buffer_keypair_paths(session.target.name):
        if not path.name.startswith("rollback-"):
            continue
        if keep_sha256 is not None and path.stem == f"rollback-{keep_sha256}":
            continue
        address = load_keypair(path).pubkey()
        if await session.rpc.account_info(address) is not None:
            _, closed[str(address)] = await close_buffer(session, address)
        path.unlink()
    return closed


async def rollback_program(
    target: ProgramTarget, *, store: ReleaseStore | None = None
) -> RollbackOutcome:
    """Put the previous release back with one Upgrade, verify and record it.

    Raises:
        NoRollbackTargetError: The store has no release before the current one.
        PreflightError: The cluster or the upgrade authority is not the expected.
        VerificationError: The on-chain bytes differ after the upgrade.
    """
    store = store or target.store()
    async with open_session(target) as session:
        return await _rollback(session, store)


async def _rollback(session: Session, store: ReleaseStore) -> RollbackOutcome:
    name = session.target.name
    await check_genesis(session.rpc, name, session.target.rpc.genesis_hash)
    deployed = await read_program(session.rpc, name, session.program_id)
    if deployed is None:
        raise ProgramNotFoundError(name, str(session.program_id), "does not exist")
    check_authority(name, deployed, session.authority.pubkey())

    files = session.target.store()
    pending = files.read_pending(name)
    if pending is not None and pending[0].kind == "rollback":
        draft, balance = pending
        if draft.sha256 == deployed.sha256:
            # An interrupted rollback already landed: record it, never go
            # back one more release.
            logger.warning("recording the interrupted rollback of %s", name)
            return await _complete(session, store, draft, balance, None, False)
        files.clear_pending(name)
    # NOTE: a pending deploy or upgrade draft that already landed is not
    # recorded here; re-running the release records it, after which a
    # rollback finds its target.

    target_sha256 = rollback_target(store.records(name), deployed.sha256)
    if target_sha256 is None or store.load_elf(name, target_sha256) is None:
        raise NoRollbackTargetError(name, deployed.sha256)
    balance = await session.rpc.balance(session.payer.pubkey())
    buffer, restaged = await _ready_rollback_buffer(session, store, target_sha256)

    signatures = {}
    extend = extension_bytes(deployed.capacity_bytes, buffer.size_bytes, 0)
    if extend:
        signatures["extend"], _ = await extend_programdata(session, extend)
    draft = ReleaseRecord(
        program=name,
        program_id=str(session.program_id),
        kind="rollback",
        sha256=target_sha256,
        previous_sha256=deployed.sha256,
        size_bytes=buffer.size_bytes,
        slot=0,
        signatures=signatures,
        write_transactions=buffer.write_transactions if restaged else 0,
        lamports_spent=0,
        buffer=buffer.address,
    )
    with pending_draft(session, draft, balance):
        outcome = await apply_buffer(
            session,
            Pubkey.from_string(buffer.address),
            buffer.size_bytes,
            first_deploy=False,
        )
    Path(buffer.keypair_path).unlink(missing_ok=True)
    return await _complete(session, store, draft, balance, outcome, restaged)


async def _complete(
    session: Session,
    store: ReleaseStore,
    draft: ReleaseRecord,
    balance_before: int,
    outcome: DeployOutcome | None,
    restaged: bool,
) -> RollbackOutcome:
    """Verify a landed rollback, stage the next one and append its record.

    ``outcome`` is None when an interrupted run sent the Upgrade.
    """
    name = session.target.name
    verified = await verify_program(session.rpc, name, session.program_id, draft.sha256)
    next_buffer = await _stage_next(session, store, store.records(name), draft.sha256)
    # A rollback is sent as an Upgrade, so that is its transaction's key.
    record = await append_landed(
        session, store, draft, verified, balance_before, outcome, "upgrade"
    )
    logger.info(
        "rolled back %s from %s to %s at slot %d",
        name,
        draft.previous_sha256,
        verified.sha256,
        verified.slot,
    )
    return RollbackOutcome(record, restaged, next_buffer)


async def _ready_rollback_buffer(
    session: Session, store: ReleaseStore, sha256: str
) -> tuple[BufferWrite, bool]:
    """Return the staged rollback buffer, writing what is missing of it."""
    path = session.target.store().buffer_keypair_path(
        session.target.name, "rollback", sha256
    )
    staged = path.exists() and await _is_buffer(session, load_keypair(path).pubkey())
    buffer = await stage_rollback(session, store, sha256)
    restaged = not staged or buffer.chunks_written > 0
    if restaged:
        logger.warning(
            "rollback buffer of %s was missing or incomplete; wrote %d chunks",
            sha256,
            buffer.chunks_written,
        )
    return buffer, restaged


async def _is_buffer(session: Session, address: Pubkey) -> bool:
    account = await session.rpc.account_info(address)
    if account is None or account.owner != loader.LOADER_ID:
        return False
    return isinstance(loader.parse_state(account.data), loader.BufferState)


async def _stage_next(
    session: Session,
    store: ReleaseStore,
    records: list[ReleaseRecord],
    current_sha256: str,
) -> BufferWrite | None:
    next_sha256 = rollback_target(records, current_sha256)
    if next_sha256 is None or store.load_elf(session.target.name, next_sha256) is None:
        logger.info(
            "no earlier release of %s to stage after rollback", session.target.name
        )
        return None
    return await stage_rollback(session, store, next_sha256)
