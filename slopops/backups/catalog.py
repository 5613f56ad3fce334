"""List the backups of an environment from the gateway's GraphQL index.

Only objects signed by our wallet count. Each backup is a dump and a
manifest sharing a ``Backup-Id`` tag. A dump without a manifest is
incomplete, because its run stopped before the backup counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date as Date

from slopops.arweave import FoundTransaction, find_transactions
from slopops.backups.context import BackupContext
from slopops.backups.errors import InvalidRequestError
from slopops.backups.keys import RECIPIENT_KEY_PREFIX
from slopops.backups.manifest import (
    OBJECT_DUMP,
    OBJECT_MANIFEST,
    TIMESTAMP_TAG,
    base_tags,
)

STATUS_OK = "ok"
STATUS_PENDING = "pending"
STATUS_EXPIRED = "expired"
STATUS_INCOMPLETE = "incomplete"

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class BackupEntry:
    """One backup as seen on the gateway."""

    backup_id: str
    date: str
    unix_time_ms: int
    key_id: str
    data_format: str
    dump_transaction_id: str | None
    manifest_transaction_id: str | None
    dump_sha256: str
    manifest_sha256: str
    size_bytes: int
    pending: bool
    status: str

    @property
    def complete(self) -> bool:
        """Whether both the dump and the manifest were uploaded."""
        return (
            self.dump_transaction_id is not None
            and self.manifest_transaction_id is not None
        )


def check_backup_date(value: str) -> str:
    """Return ``value`` if it is a calendar date written ``YYYY-MM-DD``.

    Raises:
        InvalidRequestError: another format, or no such day.
    """
    try:
        valid = _DATE.fullmatch(value) is not None and bool(Date.fromisoformat(value))
    except ValueError:
        valid = False
    if not valid:
        raise InvalidRequestError(
            "date",
            f"date {value!r} is invalid; write the UTC date as YYYY-MM-DD, "
            "for example 2026-12-04",
        )
    return value


def list_backups(
    context: BackupContext, *, date: str | None = None
) -> list[BackupEntry]:
    """Return the environment's backups, newest first by their timestamp tag.

    Args:
        context: The environment's gateway, wallet and key store.
        date: Only backups of this UTC date (``YYYY-MM-DD``) when given.

    Raises:
        InvalidRequestError: ``date`` is not a ``YYYY-MM-DD`` date.
    """
    if date is not None:
        check_backup_date(date)
    tags = base_tags(context.environment)
    if date is not None:
        tags["Backup-Date"] = date
    found = find_transactions(
        context.gateway,
        owners=[context.wallet.address],
        tags=tags,
        sort_tag=TIMESTAMP_TAG,
    )
    grouped: dict[str, dict[str, FoundTransaction]] = {}
    for transaction in found:
        backup_id = transaction.tags.get("Backup-Id")
        kind = transaction.tags.get("Object")
        if backup_id and kind in (OBJECT_DUMP, OBJECT_MANIFEST):
            # Newest first: keep the first (newest) object of each kind.
            grouped.setdefault(backup_id, {}).setdefault(kind, transaction)
    entries = [
        _entry(context, backup_id, parts) for backup_id, parts in grouped.items()
    ]
    entries.sort(key=lambda entry: entry.unix_time_ms, reverse=True)
    return entries


def _entry(
    context: BackupContext, backup_id: str, parts: dict[str, FoundTransaction]
) -> BackupEntry:
    dump = parts.get(OBJECT_DUMP)
    manifest = parts.get(OBJECT_MANIFEST)
    first = dump or manifest
    assert first is not None
    tags = first.tags
    key_id = tags.get("Key-Id", "")
    pending = any(part.pending for part in parts.values())
    return BackupEntry(
        backup_id=backup_id,
        date=tags.get("Backup-Date", ""),
        unix_time_ms=int(tags.get(TIMESTAMP_TAG, "0") or 0),
        key_id=key_id,
        data_format=dump.tags.get("Format", "") if dump else "",
        dump_transaction_id=dump.transaction_id if dump else None,
        manifest_transaction_id=manifest.transaction_id if manifest else None,
        dump_sha256=dump.tags.get("Ciphertext-SHA256", "") if dump else "",
        manifest_sha256=manifest.tags.get("Ciphertext-SHA256", "") if manifest else "",
        size_bytes=dump.size_bytes if dump else 0,
        pending=pending,
        status=_status(context, key_id, dump, manifest, pending),
    )


def _status(
    context: BackupContext,
    key_id: str,
    dump: FoundTransaction | None,
    manifest: FoundTransaction | None,
    pending: bool,
) -> str:
    if dump is None or manifest is None:
        return STATUS_INCOMPLETE
    if (
        context.key_store is not None
        and not key_id.startswith(RECIPIENT_KEY_PREFIX)
        and not context.key_store.exists(key_id)
    ):
        return STATUS_EXPIRED
    return STATUS_PENDING if pending else STATUS_OK
