"""Release a program: the steps in order, each callable on its own.

A release runs these steps in order:

1. preflight checks, before anything is signed;
2. save the current ELF (upgrades only);
3. write the release buffer;
4. stage the rollback buffer (upgrades only);
5. extend programdata if needed, then deploy or upgrade;
6. verify the on-chain sha256;
7. record the release and close stale rollback buffers.

The step functions take a :class:`ProgramTarget` and plain values, so Prefect
tasks can wrap each one. :func:`release_program` runs them all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from solders.pubkey import Pubkey

from slopops.programs.buffer import BufferWrite, ProgressCallback, write_buffer
from slopops.programs.deploy import (
    DeployOutcome,
    VerifiedProgram,
    apply_buffer,
    extend_programdata,
    verify_program,
)
from slopops.programs.elf import sha256_hex
from slopops.programs.errors import DeployRejectedError, ProgramUnchangedError
from slopops.programs.preflight import (
    PreflightReport,
    check_genesis,
    preflight,
    read_elf,
    read_program,
)
from slopops.programs.record import append_landed, pending_draft
from slopops.programs.rollback import close_stale_rollback_buffers, stage_rollback
from slopops.programs.store import ReleaseRecord, ReleaseStore, SavedElf
from slopops.programs.target import ProgramTarget, Session, open_session

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReleaseOutcome:
    """Outcome of a release, for its record and its report.

    ``unchanged`` is True when the program already ran the file: nothing was
    signed and ``record`` is the earlier release of that file. ``buffer`` is
    None then, and also when this run only recorded a release that an
    interrupted run had sent.
    """

    record: ReleaseRecord
    preflight: PreflightReport
    buffer: BufferWrite | None
    rollback_buffer: BufferWrite | None
    closed_buffers: dict[str, int]
    unchanged: bool = False


def elf_path_of(target: ProgramTarget, elf_path: Path | None) -> Path:
    """Return ``elf_path`` or the profile's ``elf_path`` for the program."""
    path = elf_path or target.program.elf_path
    if path is None:
        raise ValueError(
            f"program {target.name!r} has no elf_path; pass --elf or set it"
        )
    return path


def check_release_inputs(target: ProgramTarget, elf_path: Path) -> None:
    """Check the local inputs of a release before any RPC call or progress.

    Raises:
        InvalidElfError: The file is missing or is not a deployable sBPF ELF.
        KeypairError: The payer, authority or program keypair file is missing
            or invalid.
        PreflightError: The profile has no payer keypair, or the configured
            authority and its keypair disagree.
    """
    read_elf(target.name, elf_path)
    target.load_payer()
    target.load_authority()
    target.program_keypair()


async def run_preflight(
    target: ProgramTarget, elf_path: Path, *, min_extend_bytes: int = 0
) -> PreflightReport:
    """Check the file, cluster, authority and funds before any signature."""
    elf = read_elf(target.name, elf_path)
    async with open_session(target) as session:
        return await _preflight(session, elf, min_extend_bytes)


async def _preflight(
    session: Session, elf: bytes, min_extend_bytes: int
) -> PreflightReport:
    target = session.target
    buffer_path = target.store().buffer_keypair_path(
        target.name, "release", sha256_hex(elf)
    )
    # The genesis hash is checked before any other read, and again by preflight().
    await check_genesis(session.rpc, target.name, target.rpc.genesis_hash)
    deployed = await read_program(session.rpc, target.name, session.program_id)
    return await preflight(
        session,
        elf,
        rollback_bytes=len(deployed.elf) if deployed else None,
        buffer_funded=buffer_path.exists(),
        min_extend_bytes=min_extend_bytes,
    )


async def save_current_elf(
    target: ProgramTarget, store: ReleaseStore
) -> SavedElf | None:
    """Save the program's current on-chain ELF (with its slot) to ``store``."""
    async with open_session(target) as session:
        return await _save_current(session, store)


async def _save_current(session: Session, store: ReleaseStore) -> SavedElf | None:
    name = session.target.name
    deployed = await read_program(session.rpc, name, session.program_id)
    if deployed is None:
        return None
    saved = store.save_elf(name, deployed.elf, deployed.slot)
    logger.info(
        "saved current ELF of %s: sha256 %s, slot %d",
        name,
        saved.sha256,
        deployed.slot,
    )
    return saved


async def write_release_buffer(
    target: ProgramTarget, elf_path: Path, progress: ProgressCallback | None = None
) -> BufferWrite:
    """Write (or resume) the release buffer for the file at ``elf_path``."""
    elf = read_elf(target.name, elf_path)
    async with open_session(target) as session:
        return await write_buffer(session, elf, role="release", progress=progress)


async def apply_release(
    target: ProgramTarget, report: PreflightReport, buffer: BufferWrite
) -> DeployOutcome:
    """Extend programdata if needed, then deploy or upgrade from ``buffer``."""
    async with open_session(target) as session:
        return await _apply(session, report, buffer)


async def _apply(
    session: Session, report: PreflightReport, buffer: BufferWrite
) -> DeployOutcome:
    signatures: dict[str, str] = {}
    if report.extend_bytes:
        signatures["extend"], _ = await extend_programdata(session, report.extend_bytes)
    try:
        outcome = await apply_buffer(
            session,
            Pubkey.from_string(buffer.address),
            report.size_bytes,
            first_deploy=report.first_deploy,
        )
    except DeployRejectedError as exc:
        if exc.recovered_lamports:
            # The buffer is closed, so its keypair file has no further use.
            Path(buffer.keypair_path).unlink(missing_ok=True)
        raise
    # The upgrade drained the buffer, so its keypair file is no longer needed.
    Path(buffer.keypair_path).unlink(missing_ok=True)
    return DeployOutcome({**signatures, **outcome.signatures}, outcome.slot)


async def _unchanged(
    session: Session, store: ReleaseStore, report: PreflightReport, elf: bytes
) -> ReleaseOutcome:
    """Handle a file that already runs on chain.

    A pending draft for the file means an earlier run was interrupted after
    its deploy or upgrade landed: that release is verified and recorded now.
    Otherwise the earlier record of the file is returned and nothing is signed.

    Raises:
        ProgramUnchangedError: No record of that file exists, so a rollback
            target could not be known.
    """
    name = session.target.name
    pending = session.target.store().read_pending(name)
    if (
        pending is not None
        and pending[0].kind != "rollback"
        and pending[0].sha256 == report.sha256
    ):
        logger.warning(
            "%s already runs sha256 %s from an interrupted release; recording it",
            name,
            report.sha256,
        )
        draft, balance_before = pending
        record, closed = await _complete(
            session, store, elf, draft, balance_before, None
        )
        return ReleaseOutcome(record, report, None, None, closed)
    earlier = [r for r in store.records(name) if r.sha256 == report.sha256]
    if not earlier:
        raise ProgramUnchangedError(name, report.program_id, report.sha256)
    await verify_program(session.rpc, name, session.program_id, report.sha256)
    logger.info(
        "%s (%s) already runs sha256 %s; nothing to release",
        name,
        report.program_id,
        report.sha256,
    )
    return ReleaseOutcome(earlier[-1], report, None, None, {}, unchanged=True)


async def verify_release(target: ProgramTarget, sha256: str) -> VerifiedProgram:
    """Compare the program's on-chain sha256 with ``sha256``."""
    async with open_session(target) as session:
        return await verify_program(
            session.rpc, target.name, session.program_id, sha256
        )


async def release_program(
    target: ProgramTarget,
    elf_path: Path,
    *,
    store: ReleaseStore | None = None,
    progress: ProgressCallback | None = None,
    min_extend_bytes: int = 0,
    on_preflight: Callable[[PreflightReport], None] | None = None,
) -> ReleaseOutcome:
    """Run every release step for the file at ``elf_path``.

    Args:
        target: The program and environment.
        elf_path: The new program file.
        store: The release store; default: the file store under the state dir.
        progress: Called with (chunks confirmed, chunks to write).
        min_extend_bytes: The cluster's minimum programdata extension.
        on_preflight: Called with the preflight report before anything is
            signed; raising from it stops the release.

    Raises:
        PreflightError: A check failed; nothing was signed.
        DeployRejectedError: The loader rejected the program; the buffer is
            closed and programdata is unchanged.
        VerificationError: The on-chain bytes differ from the file.
    """
    store = store or target.store()
    elf = read_elf(target.name, elf_path)
    async with open_session(target) as session:
        report = await _preflight(session, elf, min_extend_bytes)
        if on_preflight is not None:
            on_preflight(report)
        if report.current_sha256 == report.sha256:
            return await _unchanged(session, store, report, elf)
        if not report.first_deploy:
            await _save_current(session, store)
        buffer = await write_buffer(session, elf, role="release", progress=progress)
        rollback_buffer = None
        if report.current_sha256 is not None:
            rollback_buffer = await stage_rollback(
                session, store, report.current_sha256
            )
        draft = _draft_record(report, buffer, rollback_buffer)
        with pending_draft(session, draft, report.payer_balance_lamports):
            outcome = await _apply(session, report, buffer)
        record, closed = await _complete(
            session, store, elf, draft, report.payer_balance_lamports, outcome
        )
    return ReleaseOutcome(record, report, buffer, rollback_buffer, closed)


def _draft_record(
    report: PreflightReport, buffer: BufferWrite, rollback_buffer: BufferWrite | None
) -> ReleaseRecord:
    """Build the record of a release before its deploy or upgrade is sent."""
    return ReleaseRecord(
        program=report.program,
        program_id=report.program_id,
        kind="deploy" if report.first_deploy else "upgrade",
        sha256=report.sha256,
        previous_sha256=report.current_sha256,
        size_bytes=report.size_bytes,
        slot=0,
        signatures=dict(buffer.signatures),
        write_transactions=buffer.write_transactions
        + (rollback_buffer.write_transactions if rollback_buffer else 0),
        lamports_spent=0,
        buffer=buffer.address,
    )


async def _complete(
    session: Session,
    store: ReleaseStore,
    elf: bytes,
    draft: ReleaseRecord,
    balance_before: int,
    outcome: DeployOutcome | None,
) -> tuple[ReleaseRecord, dict[str, int]]:
    """Verify a landed deploy or upgrade, clean up and append its record.

    ``outcome`` is None when an earlier, interrupted run sent the transaction,
    so its signature is unknown.
    """
    name = session.target.name
    verified = await verify_program(session.rpc, name, session.program_id, draft.sha256)
    store.save_elf(name, elf, verified.slot)
    closed = await close_stale_rollback_buffers(session, draft.previous_sha256)
    record = await append_landed(
        session,
        store,
        draft,
        verified,
        balance_before,
        outcome,
        draft.kind,
        recovered_lamports=sum(closed.values()),
    )
    logger.info(
        "released %s (%s): %s -> %s at slot %d",
        name,
        draft.program_id,
        draft.previous_sha256,
        verified.sha256,
        verified.slot,
    )
    return record, closed
