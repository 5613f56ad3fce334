"""Prefect tasks around mem0 backups, restores and drills.

Each task wraps one engine call of :mod:`slopops.backups`, takes the
environment's :class:`config.Settings` and plain values, and retries only
:class:`slopops.errors.TransientError` (gateway timeouts, 5xx, 429, an
unconfirmed transaction). Uploads and downloads update a progress artifact;
each backup, restore and drill ends with a markdown artifact.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE

from config.settings import Settings
from slopops.backups import (
    BackupEntry,
    BackupReport,
    DrillReport,
    RestoreReport,
    RestoreRequest,
    expire_keys,
    list_backups,
    open_context,
    restore_backup,
    run_backup,
    run_drill,
)
from slopops.backups.errors import BackupError
from slopops.errors import TransientError

# Seconds between progress artifact updates.
PROGRESS_INTERVAL_SECONDS = 1.0
_WINSTON_PER_AR = 10**12


def retry_transient(task_: Any, task_run: Any, state: Any) -> bool:
    """Return whether a failed run should be retried: transient errors only."""
    return isinstance(getattr(state, "data", None), TransientError)


_OPTIONS: dict[str, Any] = {
    "retries": 3,
    "retry_delay_seconds": [10, 60, 300],
    "retry_condition_fn": retry_transient,
    "cache_policy": NO_CACHE,
}


def _key(settings: Settings, suffix: str) -> str:
    # Artifact keys allow lowercase letters, digits and dashes only.
    return f"mem0-{settings.environment}-{suffix}".lower()


def _progress(settings: Settings, stage: str) -> Callable[[str, int, int], None]:
    """Return a callback that keeps one progress artifact per stage up to date."""
    artifacts: dict[str, Any] = {}
    last_update = [0.0]

    def report(name: str, done: int, total: int) -> None:
        percent = 100.0 * done / total if total else 100.0
        if name not in artifacts:
            artifacts[name] = create_progress_artifact(
                progress=percent,
                key=_key(settings, f"{stage}-{name}"),
                description=f"mem0 {stage}: {name} of {total} bytes",
            )
            return
        now = time.monotonic()
        if done < total and now - last_update[0] < PROGRESS_INTERVAL_SECONDS:
            return
        last_update[0] = now
        update_progress_artifact(artifacts[name], progress=percent)

    return report


@task(name="backup-mem0", **_OPTIONS)
def backup_mem0(settings: Settings, force: bool = False) -> BackupReport:
    """Back up mem0 and publish size, duration, throughput, cost and link.

    Returns today's existing backup instead, unless ``force`` is set.
    """
    logger = get_run_logger()
    logger.info("backing up mem0 of %s", settings.environment)
    progress = _progress(settings, "backup")
    report = run_backup(settings, force=force, on_progress=progress)
    create_markdown_artifact(
        key=_key(settings, "backup"),
        markdown=backup_markdown(report),
        description=f"mem0 backup {report.backup_id}",
    )
    logger.info(
        "backup %s: dump %s (%s)",
        report.backup_id,
        report.dump_transaction_id,
        "existing" if report.existing else "new",
    )
    return report


@task(name="list-mem0-backups", **_OPTIONS)
def list_mem0_backups(settings: Settings, date: str | None = None) -> list[BackupEntry]:
    """Return the environment's backups, newest first."""
    context = open_context(settings)
    try:
        return list_backups(context, date=date)
    finally:
        context.close()


@task(name="restore-mem0", **_OPTIONS)
def restore_mem0(
    settings: Settings,
    transaction_id: str | None = None,
    date: str | None = None,
    target_dsn: str | None = None,
    clean: bool = False,
    jobs: int = 2,
) -> RestoreReport:
    """Restore the latest backup, or the one of ``transaction_id`` or ``date``.

    Without ``target_dsn`` the restore creates a new database next to mem0's;
    ``clean`` restores over the target instead.
    """
    logger = get_run_logger()
    request = RestoreRequest(
        transaction_id=transaction_id,
        date=date,
        target_dsn=target_dsn,
        clean=clean,
        jobs=jobs,
    )
    progress = _progress(settings, "restore")
    report = restore_backup(
        settings,
        request,
        on_progress=lambda done, total: progress("download", done, total),
    )
    create_markdown_artifact(
        key=_key(settings, "restore"),
        markdown=restore_markdown(report),
        description=f"mem0 restore of {report.backup_id}",
    )
    logger.info("restored backup %s into %s", report.backup_id, report.target)
    return report


@task(name="drill-mem0", **_OPTIONS)
def drill_mem0(
    settings: Settings, transaction_id: str | None = None, fail_on_error: bool = True
) -> DrillReport:
    """Restore the latest backup into a scratch target, compare, drop it.

    The markdown artifact is published whether the drill passes or not.

    Raises:
        BackupError: the drill failed and ``fail_on_error`` is set.
    """
    logger = get_run_logger()
    progress = _progress(settings, "drill")
    report = run_drill(
        settings,
        transaction_id=transaction_id,
        on_progress=lambda done, total: progress("download", done, total),
    )
    create_markdown_artifact(
        key=_key(settings, "drill"),
        markdown=drill_markdown(report),
        description=f"mem0 restore drill: {'passed' if report.passed else 'failed'}",
    )
    if not report.passed:
        logger.error("restore drill failed: %s", report.error)
        if fail_on_error:
            raise BackupError(
                f"restore drill of {settings.environment!r} failed: {report.error}"
            )
    else:
        logger.info("restore drill passed for backup %s", report.backup_id)
    return report


@task(name="expire-backup-keys", **_OPTIONS)
def expire_backup_keys(settings: Settings, now: datetime | None = None) -> list[str]:
    """Destroy backup keys older than ``arweave.retention_days``; return their ids."""
    context = open_context(settings)
    try:
        destroyed = expire_keys(context, now or datetime.now(UTC))
    finally:
        context.close()
    get_run_logger().info("destroyed %d expired backup keys", len(destroyed))
    return destroyed


def backup_markdown(report: BackupReport) -> str:
    """Render a backup report as a markdown table."""
    megabytes = report.ciphertext_bytes / 1e6
    cost_ar = report.cost_winston / _WINSTON_PER_AR
    rows = [
        ("backup id", report.backup_id),
        ("date (UTC)", report.date),
        ("status", "existing backup reused" if report.existing else "new, verified"),
        ("size", f"{report.ciphertext_bytes} bytes ({megabytes:.1f} MB)"),
        ("duration", f"{report.duration_seconds:.1f} s"),
        ("throughput", f"{report.throughput_bytes_per_second / 1e6:.2f} MB/s"),
        ("cost", f"{report.cost_winston} winston ({cost_ar:.6f} AR)"),
        ("dump transaction", f"`{report.dump_transaction_id}`"),
        ("manifest transaction", f"`{report.manifest_transaction_id}`"),
        ("key id", f"`{report.key_id}`"),
        ("gateway link", f"[{report.link}]({report.link})"),
    ]
    return _table("mem0 backup", rows)


def restore_markdown(report: RestoreReport) -> str:
    """Render a restore report as a markdown table."""
    rows = [
        ("backup id", report.backup_id),
        ("dump transaction", f"`{report.dump_transaction_id}`"),
        ("target", f"`{report.target}`"),
        ("duration", f"{report.duration_seconds:.1f} s"),
        ("size", f"{report.ciphertext_bytes} bytes"),
        *[
            (f"rows in {table}", str(rows))
            for table, rows in sorted(report.row_counts.items())
        ],
    ]
    return _table("mem0 restore", rows)


def drill_markdown(report: DrillReport) -> str:
    """Render a drill report as a markdown table."""
    rows = [
        ("result", "passed" if report.passed else "FAILED"),
        ("environment", report.environment),
        ("backup id", report.backup_id or "-"),
        ("dump transaction", f"`{report.dump_transaction_id or '-'}`"),
        ("duration", f"{report.duration_seconds:.1f} s"),
        *[
            (f"rows in {table}", str(rows))
            for table, rows in sorted(report.row_counts.items())
        ],
    ]
    if report.error:
        rows.append(("error", report.error))
    return _table("mem0 restore drill", rows)


def _table(title: str, rows: list[tuple[str, str]]) -> str:
    lines = [f"# {title}", "", "| | |", "|---|---|"]
    lines += [f"| {name} | {value.replace('|', '/')} |" for name, value in rows]
    return "\n".join(lines) + "\n"
