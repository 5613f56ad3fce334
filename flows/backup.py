"""backup-mem0, restore-mem0 and restore-drill: mem0's backups on Arweave.

The backup engine makes a backup idempotent per UTC date: a second run on the
same day returns that day's backup unless ``force`` is set, so a retried or
duplicated schedule run uploads nothing twice. Each backup run also destroys
the data keys older than the retention, which is how backups expire on a
store that keeps data forever.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.states import Completed, State

from flows.common import settings_for
from tasks.backups import (
    backup_mem0 as backup_task,
)
from tasks.backups import (
    drill_mem0,
    expire_backup_keys,
    restore_mem0,
)


@flow(name="backup-mem0", persist_result=True)
def backup(environment: str, force: bool = False) -> State:
    """Back up mem0 of ``environment`` to Arweave, once per UTC date.

    Args:
        environment: local, devnet or mainnet (mainnet-beta).
        force: Take a new backup even if today's exists.
    """
    settings = settings_for(environment)
    report = backup_task(settings, force=force)
    expired = expire_backup_keys(settings)
    if expired:
        get_run_logger().info("destroyed %d expired backup keys", len(expired))
    kind = "existing" if report.existing else "new"
    return Completed(message=f"{kind} backup {report.backup_id} of {environment}")


@flow(name="restore-mem0", persist_result=True)
def restore(
    environment: str,
    transaction_id: str | None = None,
    date: str | None = None,
    target_dsn: str | None = None,
    clean: bool = False,
) -> State:
    """Restore mem0 from the latest backup, or from a chosen one.

    Args:
        environment: local, devnet or mainnet (mainnet-beta).
        transaction_id: Arweave transaction id of the backup's dump.
        date: UTC date (YYYY-MM-DD) of the backup.
        target_dsn: Database to restore into; a new one next to mem0's when
            absent.
        clean: Restore over the target's existing objects.
    """
    settings = settings_for(environment)
    report = restore_mem0(
        settings,
        transaction_id=transaction_id,
        date=date,
        target_dsn=target_dsn,
        clean=clean,
    )
    return Completed(message=f"restored backup {report.backup_id} of {environment}")


@flow(name="restore-drill", persist_result=True)
def restore_drill(environment: str, transaction_id: str | None = None) -> State:
    """Prove the latest backup restorable: restore, compare row counts, drop.

    Args:
        environment: local, devnet or mainnet (mainnet-beta).
        transaction_id: Drill this backup instead of the latest.
    """
    settings = settings_for(environment)
    report = drill_mem0(settings, transaction_id=transaction_id)
    return Completed(message=f"restore drill passed for backup {report.backup_id}")
