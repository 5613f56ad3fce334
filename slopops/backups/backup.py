"""Run one backup: dump, encrypt, spool, upload, confirm and read back.

Write order: the dump's spool file and ``pending.json`` first, then the dump
transaction (resumable), its confirmation and read-back, then the manifest
the same way. A backup counts only when both objects were downloaded again
and matched their sha256. An interrupted run leaves ``pending.json``, and
the next run resumes that upload instead of dumping again.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyrage

from config.settings import Settings
from slopops.arweave import (
    RetryPolicy,
    UploadResult,
    check_funds,
    upload_file,
    verify_data,
    wait_for_confirmation,
)
from slopops.backups import pgtools
from slopops.backups.catalog import BackupEntry, list_backups
from slopops.backups.context import BackupContext, mem0_dsn, open_context
from slopops.backups.keys import EncryptionKey, fixed_recipient_key
from slopops.backups.manifest import (
    MANIFEST_FORMAT,
    OBJECT_DUMP,
    OBJECT_MANIFEST,
    DumpRecord,
    Manifest,
    object_tags,
)
from slopops.backups.pipeline import spool_encrypted
from slopops.backups.sources import (
    SourceInfo,
    check_postgres,
    check_sqlite,
    dump_postgres,
    dump_sqlite,
)

logger = logging.getLogger(__name__)

# Called with (stage, bytes done, bytes total); stage is "upload" or "verify".
StageProgress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class BackupReport:
    """The outcome of :func:`run_backup`."""

    backup_id: str
    date: str
    existing: bool
    dump_transaction_id: str
    manifest_transaction_id: str | None
    key_id: str
    ciphertext_bytes: int
    cost_winston: int
    duration_seconds: float
    gateway_url: str
    resumed: bool = False

    @property
    def throughput_bytes_per_second(self) -> float:
        """Ciphertext bytes per second of wall time."""
        return (
            self.ciphertext_bytes / self.duration_seconds
            if self.duration_seconds
            else 0.0
        )

    @property
    def link(self) -> str:
        """Gateway URL of the encrypted dump."""
        return f"{self.gateway_url.rstrip('/')}/{self.dump_transaction_id}"


def run_backup(
    settings: Settings,
    *,
    force: bool = False,
    now: datetime | None = None,
    retry: RetryPolicy | None = None,
    poll_seconds: float = 5.0,
    on_progress: StageProgress | None = None,
) -> BackupReport:
    """Back up mem0 to Arweave, or report today's backup if one exists.

    Args:
        settings: The environment's settings.
        force: Make a new backup even if one exists for the same UTC date.
        now: The backup's time (UTC); the current time when None.
        retry: Retry policy of gateway requests.
        poll_seconds: Interval between confirmation checks.
        on_progress: Called during upload and read-back.

    Raises:
        EncryptionNotConfiguredError: no key store and no recipient, before
            any other work.
        KeyStorePermissionError: the key store is open to group or others.
        InvalidDsnError: the mem0 DSN does not parse, before any key or
            spool file is created.
        DatabaseUnreachableError: the mem0 server cannot be reached, before
            any key or spool file is created.
        InsufficientBalanceError: the wallet cannot pay, before any upload.
        DataMismatchError: the read-back differs from what was uploaded.
    """
    started = time.monotonic()
    now = (now or datetime.now(UTC)).astimezone(UTC)
    context = open_context(settings, retry=retry)
    try:
        date = f"{now:%Y-%m-%d}"
        if not force:
            existing = _existing_backup(context, date)
            if existing is not None:
                logger.info("backup %s already exists for %s", existing.backup_id, date)
                return _existing_report(context, existing, started)
        pending = _load_pending(context.spool_dir)
        if pending is None:
            _check_source(context.settings)
            pending = _spool_new_backup(context, now)
        else:
            logger.info("resuming pending backup %s", pending["backup_id"])
        report = _upload_backup(context, pending, started, poll_seconds, on_progress)
        expire_keys(context, now)
        return report
    finally:
        context.close()


def _existing_backup(context: BackupContext, date: str) -> BackupEntry | None:
    for entry in list_backups(context, date=date):
        if entry.complete:
            return entry
    return None


def _existing_report(
    context: BackupContext, entry: BackupEntry, started: float
) -> BackupReport:
    return BackupReport(
        backup_id=entry.backup_id,
        date=entry.date,
        existing=True,
        dump_transaction_id=entry.dump_transaction_id or "",
        manifest_transaction_id=entry.manifest_transaction_id,
        key_id=entry.key_id,
        ciphertext_bytes=entry.size_bytes,
        cost_winston=0,
        duration_seconds=time.monotonic() - started,
        gateway_url=context.gateway.url,
    )


def _encryption_key(context: BackupContext, now: datetime) -> EncryptionKey:
    if context.key_store is not None:
        return context.key_store.create(now)
    assert context.recipient is not None
    return fixed_recipient_key(context.recipient)


def _check_source(settings: Settings) -> None:
    if settings.mem0.kind == "sqlite":
        assert settings.mem0.sqlite_path is not None
        check_sqlite(settings.resolve(settings.mem0.sqlite_path))
        return
    check_postgres(mem0_dsn(settings), _pg_bin_dirs(settings))


def _pg_bin_dirs(settings: Settings) -> list[Path]:
    bin_dir = (
        settings.resolve(settings.mem0.pg_bin_dir) if settings.mem0.pg_bin_dir else None
    )
    return pgtools.candidate_bin_dirs(bin_dir)


def _spool_new_backup(context: BackupContext, now: datetime) -> dict[str, Any]:
    backup_id = f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"
    key = _encryption_key(context, now)
    spool_path = context.spool_dir / f"{backup_id}.dump.age"
    try:
        spooled, info = _dump(context.settings, spool_path, key)
    except BaseException:
        # No spool file, so nothing was encrypted to this key: a key left
        # here would only be destroyed by retention, unused.
        spool_path.unlink(missing_ok=True)
        if context.key_store is not None:
            context.key_store.discard(key.key_id)
        raise
    logger.info(
        "spooled backup %s: %d plaintext bytes, %d encrypted",
        backup_id,
        spooled.plaintext_bytes,
        spooled.ciphertext_bytes,
    )
    pending = {
        "backup_id": backup_id,
        "created_at": now.isoformat(),
        "unix_time_ms": int(now.timestamp() * 1000),
        "key_id": key.key_id,
        "recipient": str(key.recipient),
        "spool_path": str(spool_path),
        "source": asdict(info),
        "plaintext_bytes": spooled.plaintext_bytes,
        "plaintext_sha256": spooled.plaintext_sha256,
        "ciphertext_bytes": spooled.ciphertext_bytes,
        "ciphertext_sha256": spooled.ciphertext_sha256,
    }
    _save_pending(context.spool_dir, pending)
    return pending


def _dump(
    settings: Settings, spool_path: Path, key: EncryptionKey
) -> tuple[Any, SourceInfo]:
    if settings.mem0.kind == "sqlite":
        assert settings.mem0.sqlite_path is not None
        return dump_sqlite(
            settings.resolve(settings.mem0.sqlite_path), spool_path, [key.recipient]
        )
    return dump_postgres(
        mem0_dsn(settings), _pg_bin_dirs(settings), spool_path, [key.recipient]
    )


def _upload_backup(
    context: BackupContext,
    pending: dict[str, Any],
    started: float,
    poll_seconds: float,
    on_progress: StageProgress | None,
) -> BackupReport:
    spool_path = Path(pending["spool_path"])
    created = datetime.fromisoformat(pending["created_at"])
    tags = dict(
        environment=context.environment,
        backup_id=pending["backup_id"],
        date=f"{created:%Y-%m-%d}",
        unix_time_ms=pending["unix_time_ms"],
        key_id=pending["key_id"],
    )
    _check_funds(context, pending, spool_path)
    dump = _upload_verified(
        context,
        spool_path,
        object_tags(
            object_kind=OBJECT_DUMP,
            data_format=pending["source"]["format"],
            ciphertext_sha256=pending["ciphertext_sha256"],
            **tags,
        ),
        pending["ciphertext_sha256"],
        poll_seconds,
        on_progress,
    )
    manifest_path = _spool_manifest(context, pending, dump.transaction_id)
    manifest_sha256 = _sha256_file(manifest_path)
    manifest = _upload_verified(
        context,
        manifest_path,
        object_tags(
            object_kind=OBJECT_MANIFEST,
            data_format=MANIFEST_FORMAT,
            ciphertext_sha256=manifest_sha256,
            dump_transaction_id=dump.transaction_id,
            **tags,
        ),
        manifest_sha256,
        poll_seconds,
        None,
    )
    for path in (spool_path, manifest_path, context.spool_dir / "pending.json"):
        path.unlink(missing_ok=True)
    return _report(context, pending, tags["date"], dump, manifest, started)


def _check_funds(
    context: BackupContext, pending: dict[str, Any], spool_path: Path
) -> None:
    # A manifest is a few kilobytes. A dump whose upload state exists is
    # signed already and its reward is paid when posted, so only the
    # manifest is left to pay for.
    manifest_bytes = 64 * 1024
    dump_state = spool_path.with_name(spool_path.name + ".upload.json")
    dump_bytes = 0 if dump_state.exists() else pending["ciphertext_bytes"]
    check_funds(context.gateway, context.wallet, dump_bytes + manifest_bytes)


def _report(
    context: BackupContext,
    pending: dict[str, Any],
    date: str,
    dump: UploadResult,
    manifest: UploadResult,
    started: float,
) -> BackupReport:
    report = BackupReport(
        backup_id=pending["backup_id"],
        date=date,
        existing=False,
        dump_transaction_id=dump.transaction_id,
        manifest_transaction_id=manifest.transaction_id,
        key_id=pending["key_id"],
        ciphertext_bytes=dump.size_bytes,
        cost_winston=dump.reward_winston + manifest.reward_winston,
        duration_seconds=time.monotonic() - started,
        gateway_url=context.gateway.url,
        resumed=dump.resumed,
    )
    logger.info(
        "backup %s complete: dump %s, manifest %s, %d bytes, %d winston",
        report.backup_id,
        report.dump_transaction_id,
        report.manifest_transaction_id,
        report.ciphertext_bytes,
        report.cost_winston,
    )
    return report


def _upload_verified(
    context: BackupContext,
    path: Path,
    tags: dict[str, str],
    sha256: str,
    poll_seconds: float,
    on_progress: StageProgress | None,
) -> UploadResult:
    gateway = context.gateway
    state_path = path.with_name(path.name + ".upload.json")
    result = upload_file(
        gateway,
        context.wallet,
        path,
        tags=tags,
        state_path=state_path,
        keep_state=True,
        on_progress=(lambda done, total: on_progress("upload", done, total))
        if on_progress
        else None,
    )
    if gateway.is_arlocal():
        # arlocal mines only on request; a real gateway mines on its own.
        gateway.mine()
    wait_for_confirmation(
        gateway,
        result.transaction_id,
        timeout_seconds=context.settings.arweave.confirmation_timeout_seconds,
        poll_seconds=poll_seconds,
    )
    verify_data(
        gateway,
        result.transaction_id,
        expected_sha256=sha256,
        on_progress=(lambda done, total: on_progress("verify", done, total))
        if on_progress
        else None,
    )
    state_path.unlink(missing_ok=True)
    logger.info("read back %s: sha256 matches", result.transaction_id)
    return result


def _spool_manifest(
    context: BackupContext, pending: dict[str, Any], dump_transaction_id: str
) -> Path:
    manifest = Manifest(
        backup_id=pending["backup_id"],
        environment=context.environment,
        created_at=pending["created_at"],
        unix_time_ms=pending["unix_time_ms"],
        key_id=pending["key_id"],
        source=pending["source"],
        dump=DumpRecord(
            transaction_id=dump_transaction_id,
            plaintext_bytes=pending["plaintext_bytes"],
            plaintext_sha256=pending["plaintext_sha256"],
            ciphertext_bytes=pending["ciphertext_bytes"],
            ciphertext_sha256=pending["ciphertext_sha256"],
        ),
    )
    path = context.spool_dir / f"{pending['backup_id']}.manifest.age"
    if path.exists():
        # A resumed run must upload the same bytes its state file describes.
        return path
    recipient = pyrage.x25519.Recipient.from_str(pending["recipient"])
    spool_encrypted(io.BytesIO(manifest.to_json()), path, [recipient], compression=None)
    return path


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _load_pending(spool_dir: Path) -> dict[str, Any] | None:
    path = spool_dir / "pending.json"
    try:
        pending = dict(json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except ValueError:
        logger.warning("ignoring unreadable %s", path)
        return None
    if not Path(pending.get("spool_path", "")).exists():
        logger.warning(
            "pending backup %s lost its spool file; starting over",
            pending.get("backup_id"),
        )
        path.unlink()
        return None
    return pending


def _save_pending(spool_dir: Path, pending: dict[str, Any]) -> None:
    spool_dir.mkdir(parents=True, exist_ok=True)
    path = spool_dir / "pending.json"
    temporary = path.with_name("pending.json.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(pending, handle)
    os.replace(temporary, path)


def expire_keys(context: BackupContext, now: datetime) -> list[str]:
    """Destroy backup keys older than the retention; return their ids."""
    if context.key_store is None or not context.key_store.directory.exists():
        return []
    return context.key_store.expire(context.settings.arweave.retention_days, now)
