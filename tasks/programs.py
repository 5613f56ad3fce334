"""Prefect tasks around each step of a program release.

Each task wraps one engine call of :mod:`slopops.programs` and retries only
:class:`slopops.errors.TransientError` (timeouts, 5xx, 429 from every RPC
endpoint, unconfirmed transactions); every other error fails the task at once.
Tasks take a :class:`ProgramTarget` (built from ``Settings`` parts with
``ProgramTarget.from_settings(settings, name)`` or directly from the ``rpc``
and ``programs`` sections, the payer keypair and the state directory) and
plain values. A progress artifact follows the buffer write; a markdown
artifact records each release and rollback.

Use :func:`release_program_task` for a release: it runs every step and keeps
the draft record that lets a retry finish an interrupted upgrade. The single
step tasks (preflight, save, buffer, apply, verify) suit gates and checks;
they write no release record.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import (
    acreate_markdown_artifact,
    acreate_progress_artifact,
    aupdate_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from solders.pubkey import Pubkey

from config.settings import MonitorSettings, RpcSettings
from slopops.programs import (
    BufferWrite,
    CloseReport,
    DeployOutcome,
    FailureRate,
    PreflightReport,
    ProgramInventory,
    ProgramTarget,
    ReleaseOutcome,
    RollbackOutcome,
    SavedElf,
    VerifiedProgram,
    apply_release,
    close_buffers,
    failure_rate,
    program_inventory,
    release_program,
    rollback_program,
    run_preflight,
    save_current_elf,
    verify_release,
    write_release_buffer,
)
from slopops.programs.buffer import ProgressCallback
from slopops.solana import RpcClient
from tasks.retries import retry_transient

# Seconds between progress artifact updates during a buffer write.
PROGRESS_INTERVAL_SECONDS = 1.0


# Engine calls read fresh chain state every time: never cache their results.
_OPTIONS: dict[str, Any] = {
    "retries": 3,
    "retry_delay_seconds": [2, 10, 30],
    "retry_condition_fn": retry_transient,
    "cache_policy": NO_CACHE,
}


def _artifact_key(target: ProgramTarget, suffix: str) -> str:
    """Return an artifact key: lowercase letters, digits and dashes only."""
    raw = f"program-{target.environment}-{target.name}-{suffix}"
    return re.sub(r"[^a-z0-9-]+", "-", raw.lower())


class _ProgressArtifact:
    """A progress artifact updated from the engine's progress callback."""

    def __init__(self, target: ProgramTarget, description: str) -> None:
        self.key = _artifact_key(target, "buffer-write")
        self.description = description
        self.fraction = 0.0
        self._artifact_id: Any = None

    def callback(self) -> ProgressCallback:
        def update(done: int, total: int) -> None:
            self.fraction = 1.0 if total == 0 else done / total

        return update

    async def follow(self, work: Any) -> Any:
        """Await ``work`` while pushing the progress every interval."""
        self._artifact_id = await acreate_progress_artifact(
            progress=0.0, key=self.key, description=self.description
        )
        runner = asyncio.ensure_future(work)
        while not runner.done():
            await asyncio.wait({runner}, timeout=PROGRESS_INTERVAL_SECONDS)
            await aupdate_progress_artifact(self._artifact_id, self.fraction * 100)
        return runner.result()


@task(name="program-preflight", **_OPTIONS)
async def preflight_program(
    target: ProgramTarget, elf_path: Path, min_extend_bytes: int = 0
) -> PreflightReport:
    """Check file, cluster, upgrade authority and funds before any signature."""
    report = await run_preflight(target, elf_path, min_extend_bytes=min_extend_bytes)
    get_run_logger().info(
        "preflight of %s passed: %d bytes, sha256 %s, extend %d, estimate %d "
        "lamports of %d",
        target.name,
        report.size_bytes,
        report.sha256,
        report.extend_bytes,
        report.estimated_lamports,
        report.payer_balance_lamports,
    )
    return report


@task(name="program-save-current-elf", **_OPTIONS)
async def save_rollback_material(target: ProgramTarget) -> SavedElf | None:
    """Save the current on-chain ELF and its slot to the release store."""
    saved = await save_current_elf(target, target.store())
    if saved is not None:
        get_run_logger().info(
            "saved current ELF of %s: sha256 %s, slot %s",
            target.name,
            saved.sha256,
            saved.slot,
        )
    return saved


@task(name="program-write-buffer", **_OPTIONS)
async def write_program_buffer(target: ProgramTarget, elf_path: Path) -> BufferWrite:
    """Write (or resume) the release buffer, with a progress artifact."""
    progress = _ProgressArtifact(target, f"Buffer write of {target.name}")
    written: BufferWrite = await progress.follow(
        write_release_buffer(target, elf_path, progress.callback())
    )
    get_run_logger().info(
        "buffer %s of %s: %d chunks written, %d already in place",
        written.address,
        target.name,
        written.chunks_written,
        written.chunks_skipped,
    )
    return written


@task(name="program-apply", **_OPTIONS)
async def apply_program_release(
    target: ProgramTarget, report: PreflightReport, buffer: BufferWrite
) -> DeployOutcome:
    """Extend programdata if needed, then deploy or upgrade from the buffer."""
    outcome = await apply_release(target, report, buffer)
    get_run_logger().info(
        "%s of %s landed at slot %d",
        list(outcome.signatures),
        target.name,
        outcome.slot,
    )
    return outcome


@task(name="program-verify", **_OPTIONS)
async def verify_program_release(target: ProgramTarget, sha256: str) -> VerifiedProgram:
    """Check that the on-chain ELF hashes to ``sha256``; fail the release if not."""
    verified = await verify_release(target, sha256)
    get_run_logger().info(
        "verified %s: sha256 %s at slot %d", target.name, verified.sha256, verified.slot
    )
    return verified


@task(name="program-release", **_OPTIONS)
async def release_program_task(
    target: ProgramTarget, elf_path: Path, min_extend_bytes: int = 0
) -> ReleaseOutcome:
    """Run a whole release: preflight, buffer, rollback buffer, upgrade, verify.

    A retry after a transient error resumes the buffer write where it stopped.
    """
    progress = _ProgressArtifact(target, f"Buffer write of {target.name}")
    outcome: ReleaseOutcome = await progress.follow(
        release_program(
            target,
            elf_path,
            progress=progress.callback(),
            min_extend_bytes=min_extend_bytes,
        )
    )
    await acreate_markdown_artifact(
        key=_artifact_key(target, "release"),
        markdown=release_markdown(target, outcome),
        description=f"Release of {target.name} on {target.environment}",
    )
    get_run_logger().info(
        "released %s: %s -> %s at slot %d",
        target.name,
        outcome.record.previous_sha256,
        outcome.record.sha256,
        outcome.record.slot,
    )
    return outcome


@task(name="program-rollback", **_OPTIONS)
async def rollback_program_task(target: ProgramTarget) -> RollbackOutcome:
    """Put the previous release back in one Upgrade and record it."""
    outcome = await rollback_program(target)
    record = outcome.record
    await acreate_markdown_artifact(
        key=_artifact_key(target, "rollback"),
        markdown=_record_markdown(
            f"Rollback of {target.name} on {target.environment}", record
        ),
        description=f"Rollback of {target.name} on {target.environment}",
    )
    get_run_logger().info(
        "rolled back %s from %s to %s at slot %d",
        target.name,
        record.previous_sha256,
        record.sha256,
        record.slot,
    )
    return outcome


@task(name="program-inventory", **_OPTIONS)
async def program_inventory_task(target: ProgramTarget) -> ProgramInventory:
    """Read the program's state and list our buffers with their lamports."""
    inventory = await program_inventory(target)
    get_run_logger().info(
        "%s: sha256 %s, slot %s, %d buffers holding %d lamports",
        target.name,
        inventory.sha256,
        inventory.last_deployed_slot,
        len(inventory.buffers),
        inventory.buffer_lamports,
    )
    return inventory


@task(name="program-close-buffers", **_OPTIONS)
async def close_buffers_task(
    target: ProgramTarget, keep_rollback: bool = True
) -> CloseReport:
    """Close our buffers, except the rollback buffer when ``keep_rollback``."""
    report = await close_buffers(target, keep_rollback=keep_rollback)
    get_run_logger().info(
        "closed %d buffers of %s, recovered %d lamports",
        len(report.closed),
        target.name,
        report.recovered_lamports,
    )
    return report


@task(name="program-failure-rate", **_OPTIONS)
async def failure_rate_task(
    rpc: RpcSettings,
    program_id: str,
    monitor: MonitorSettings | None = None,
    limit: int | None = None,
    window_seconds: int | None = None,
) -> FailureRate:
    """Measure the failed share of the program's recent transactions.

    Without ``limit`` and ``window_seconds``, the window is
    ``monitor.window_seconds`` (the default ``MonitorSettings`` when absent).
    """
    if limit is None and window_seconds is None:
        window_seconds = (monitor or MonitorSettings()).window_seconds
    async with RpcClient.from_settings(rpc) as client:
        rate = await failure_rate(
            client,
            Pubkey.from_string(program_id),
            limit=limit,
            window_seconds=window_seconds,
        )
    get_run_logger().info(
        "failure rate of %s: %d of %d failed %s",
        program_id,
        rate.failed,
        rate.samples,
        rate.error_kinds,
    )
    return rate


def release_markdown(target: ProgramTarget, outcome: ReleaseOutcome) -> str:
    """Render a release as markdown: hashes, slot, signatures and lamports."""
    title = (
        f"{outcome.record.kind.capitalize()} of {target.name} on {target.environment}"
    )
    lines = [_record_markdown(title, outcome.record)]
    if outcome.unchanged:
        lines.append("\nThe program already ran this file: nothing was signed.")
    if outcome.buffer is not None:
        lines.append(
            f"\nEstimated cost before signing: "
            f"{outcome.preflight.estimated_lamports} lamports. Buffer "
            f"`{outcome.buffer.address}`: {outcome.buffer.chunks_written} chunks "
            f"written, {outcome.buffer.chunks_skipped} already in place."
        )
    if outcome.rollback_buffer is not None:
        lines.append(
            f"Rollback buffer `{outcome.rollback_buffer.address}` holds sha256 "
            f"`{outcome.rollback_buffer.sha256}`."
        )
    return "\n".join(lines)


def _record_markdown(title: str, record: Any) -> str:
    rows = [
        f"# {title}",
        "",
        "| field | value |",
        "|---|---|",
        f"| program id | `{record.program_id}` |",
        f"| old sha256 | `{record.previous_sha256 or 'none'}` |",
        f"| new sha256 | `{record.sha256}` |",
        f"| slot | {record.slot} |",
        f"| write transactions | {record.write_transactions} |",
        f"| lamports spent | {record.lamports_spent} |",
        f"| lamports recovered | {record.recovered_lamports} |",
    ]
    for label, signature in record.signatures.items():
        rows.append(f"| {label} | `{signature}` |")
    return "\n".join(rows)
