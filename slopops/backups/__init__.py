"""Backups of mem0 to Arweave: encrypted, verified, restorable.

The public entry points are :func:`run_backup`, :func:`list_backups` (through
:func:`open_context`), :func:`restore_backup` and :func:`run_drill`. The
format of what is uploaded is described in docs/backup-format.md.
"""

from slopops.backups.backup import BackupReport, expire_keys, run_backup
from slopops.backups.catalog import BackupEntry, list_backups
from slopops.backups.context import BackupContext, open_context
from slopops.backups.drill import DrillReport, run_drill
from slopops.backups.restore import RestoreReport, RestoreRequest, restore_backup

__all__ = [
    "BackupContext",
    "BackupEntry",
    "BackupReport",
    "DrillReport",
    "RestoreReport",
    "RestoreRequest",
    "expire_keys",
    "list_backups",
    "open_context",
    "restore_backup",
    "run_backup",
    "run_drill",
]
