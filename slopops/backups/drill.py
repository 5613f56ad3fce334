"""Restore drill: prove the latest backup restores, then throw the copy away."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from config.settings import Settings
from slopops.arweave import RetryPolicy
from slopops.arweave.upload import ProgressCallback
from slopops.backups.context import open_context
from slopops.backups.errors import BackupError
from slopops.backups.restore import RestoreRequest, _restore, drop_database

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DrillReport:
    """The outcome of a drill: which backup, and whether it restored intact."""

    environment: str
    passed: bool
    backup_id: str | None
    dump_transaction_id: str | None
    row_counts: dict[str, int] = field(default_factory=dict)
    duration_seconds: float = 0.0
    error: str | None = None


def run_drill(
    settings: Settings,
    *,
    transaction_id: str | None = None,
    retry: RetryPolicy | None = None,
    on_progress: ProgressCallback | None = None,
) -> DrillReport:
    """Restore the latest backup (or ``transaction_id``) into a scratch target.

    The scratch database or file is removed afterwards, whatever the result.
    A failed restore is returned as a report with ``passed`` false, so the
    caller can publish it. Errors before the restore starts, such as a
    missing wallet or key store, are raised.
    """
    started = time.monotonic()
    context = open_context(settings, retry=retry)
    scratch_targets: list[str | Path] = []
    try:
        report = _restore(
            context,
            RestoreRequest(transaction_id=transaction_id),
            on_progress,
            scratch=True,
            on_target=scratch_targets.append,
        )
    except BackupError as exc:
        logger.error("restore drill of %s failed: %s", settings.environment, exc)
        return DrillReport(
            environment=settings.environment,
            passed=False,
            backup_id=None,
            dump_transaction_id=None,
            duration_seconds=time.monotonic() - started,
            error=str(exc),
        )
    finally:
        _remove_scratch(scratch_targets)
        context.close()
    logger.info("restore drill of backup %s passed", report.backup_id)
    return DrillReport(
        environment=settings.environment,
        passed=True,
        backup_id=report.backup_id,
        dump_transaction_id=report.dump_transaction_id,
        row_counts=report.row_counts,
        duration_seconds=time.monotonic() - started,
    )


def _remove_scratch(targets: list[str | Path]) -> None:
    for target in targets:
        if isinstance(target, Path):
            target.unlink(missing_ok=True)
        elif isinstance(target, str):
            drop_database(target)
