"""Restore a backup: choose it, check the target, download, decrypt, restore.

Checks that need no download come first: the key still exists, the local
pg_restore can read the archive, and the target server can create every
extension the dump uses (pgvector). Only then is the dump downloaded
(resumable, sha256 checked) and decrypted by the age binary in the same
pass, to a mode-0600 file because ``pg_restore -j`` needs a regular file,
then restored. Row counts are compared with the manifest at the end.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pyrage
from psycopg import sql

from config.settings import Settings
from slopops.arweave import RetryPolicy, download_file
from slopops.arweave.upload import ProgressCallback
from slopops.backups import pgtools
from slopops.backups.catalog import BackupEntry, check_backup_date, list_backups
from slopops.backups.context import BackupContext, mem0_dsn, open_context
from slopops.backups.decryptor import DecryptionError, StreamDecryptor, find_age
from slopops.backups.errors import (
    ArchiveVersionError,
    BackupError,
    BackupNotFoundError,
    DatabaseUnreachableError,
    ExtensionUnavailableError,
    InvalidRequestError,
    KeyExpiredError,
    KeyNotFoundError,
    ManifestError,
    PgToolError,
    RowCountMismatchError,
    SpoolWriteError,
)
from slopops.backups.keys import (
    RECIPIENT_KEY_PREFIX,
    read_identity_file,
    recipient_key_id,
)
from slopops.backups.manifest import Manifest
from slopops.backups.sources import sqlite_row_counts

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RestoreReport:
    """The outcome of a restore."""

    backup_id: str
    dump_transaction_id: str
    target: str
    database: str | None
    created: bool
    row_counts: dict[str, int]
    ciphertext_bytes: int
    duration_seconds: float


@dataclass(frozen=True)
class RestoreRequest:
    """A restore's choice of backup and target.

    ``target_dsn`` names a database to create, unless ``clean`` restores over
    it. Without it, PostgreSQL restores go to a new database next to mem0's,
    or over mem0's own database when ``clean`` is set. ``sqlite_path`` works
    the same way for SQLite.
    """

    transaction_id: str | None = None
    date: str | None = None
    target_dsn: str | None = None
    sqlite_path: Path | None = None
    clean: bool = False
    jobs: int = 2
    identity_file: Path | None = None
    pg_bin_dir: Path | None = None


def restore_backup(
    settings: Settings,
    request: RestoreRequest,
    *,
    retry: RetryPolicy | None = None,
    on_progress: ProgressCallback | None = None,
) -> RestoreReport:
    """Restore the backup chosen by ``request``.

    Raises:
        InvalidRequestError: ``date`` is not ``YYYY-MM-DD``, or both
            ``transaction_id`` and ``date`` are set.
        InvalidDsnError: ``target_dsn`` does not parse.
        DatabaseUnreachableError: the target server cannot be reached.
        BackupNotFoundError: no complete backup matches.
        KeyExpiredError: the backup's key was destroyed by retention.
        ArchiveVersionError: the local pg_restore is too old for the dump.
        ExtensionUnavailableError: the target server lacks an extension.
        RowCountMismatchError: the restored rows differ from the manifest.
    """
    check_request(request)
    context = open_context(settings, retry=retry)
    try:
        return _restore(context, request, on_progress, scratch=False)
    finally:
        context.close()


def check_request(request: RestoreRequest) -> None:
    """Check a restore request's options before any network access.

    Raises:
        InvalidRequestError: ``date`` is not ``YYYY-MM-DD``, or both
            ``transaction_id`` and ``date`` are set.
        InvalidDsnError: ``target_dsn`` does not parse.
    """
    if request.transaction_id is not None and request.date is not None:
        raise InvalidRequestError(
            "date",
            f"--tx {request.transaction_id!r} and --date {request.date!r} "
            "exclude each other; pass one of them",
        )
    if request.date is not None:
        check_backup_date(request.date)
    if request.target_dsn is not None:
        pgtools.parse_dsn(request.target_dsn, "restore target")


def select_backup(
    context: BackupContext, *, transaction_id: str | None, date: str | None
) -> BackupEntry:
    """Return the backup with this id, the newest of ``date``, or the newest.

    ``transaction_id`` may be the dump's or the manifest's transaction id, or
    the backup id.

    Raises:
        BackupNotFoundError: nothing complete matches.
    """
    entries = [entry for entry in list_backups(context, date=date) if entry.complete]
    if transaction_id is not None:
        entries = [
            entry
            for entry in entries
            if transaction_id
            in (
                entry.dump_transaction_id,
                entry.manifest_transaction_id,
                entry.backup_id,
            )
        ]
    if not entries:
        requested = (
            f"transaction {transaction_id!r}"
            if transaction_id
            else f"date {date!r}"
            if date
            else "'latest'"
        )
        raise BackupNotFoundError(f"{requested} in environment {context.environment!r}")
    return entries[0]


def load_identity(
    context: BackupContext, entry: BackupEntry, identity_file: Path | None
) -> pyrage.x25519.Identity:
    """Return the age identity that decrypts ``entry``.

    Raises:
        KeyExpiredError: the key store no longer has the key.
        KeyNotFoundError: no key store, or no matching identity file.
    """
    key_id = entry.key_id
    if key_id.startswith(RECIPIENT_KEY_PREFIX):
        configured = context.settings.arweave.age_identity_file
        path = identity_file or (
            context.settings.resolve(configured) if configured else None
        )
        if path is None:
            raise KeyNotFoundError(key_id, "arweave.age_identity_file (not set)")
        identity = read_identity_file(path)
        if recipient_key_id(str(identity.to_public())) != key_id:
            raise KeyNotFoundError(key_id, f"the identity file {str(path)!r}")
        return identity
    if context.key_store is None:
        raise KeyNotFoundError(key_id, "arweave.key_store_dir (not set)")
    if not context.key_store.exists(key_id):
        raise KeyExpiredError(key_id, entry.dump_transaction_id or entry.backup_id)
    return context.key_store.identity(key_id)


def fetch_manifest(
    context: BackupContext, entry: BackupEntry, identity: pyrage.x25519.Identity
) -> Manifest:
    """Download, check and decrypt the manifest of ``entry``.

    Raises:
        ManifestError: it does not describe this backup's dump.
    """
    assert entry.manifest_transaction_id is not None
    work = _work_dir(context)
    path = work / f"{entry.manifest_transaction_id}.manifest.age"
    download_file(
        context.gateway,
        entry.manifest_transaction_id,
        path,
        expected_sha256=entry.manifest_sha256,
    )
    try:
        manifest = Manifest.from_json(
            pyrage.decrypt(path.read_bytes(), [identity]), entry.backup_id
        )
    except pyrage.DecryptError as exc:
        raise ManifestError(entry.backup_id, f"decryption failed ({exc})") from exc
    finally:
        path.unlink(missing_ok=True)
    if manifest.dump.transaction_id != entry.dump_transaction_id:
        raise ManifestError(
            entry.backup_id,
            f"it names dump {manifest.dump.transaction_id!r}, "
            f"not {entry.dump_transaction_id!r}",
        )
    if manifest.dump.ciphertext_sha256 != entry.dump_sha256:
        raise ManifestError(
            entry.backup_id, "its dump sha256 differs from the dump's tag"
        )
    return manifest


def _work_dir(context: BackupContext) -> Path:
    work = context.spool_dir / "restore"
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o700)
    return work


def _restore(
    context: BackupContext,
    request: RestoreRequest,
    on_progress: ProgressCallback | None,
    *,
    scratch: bool,
    on_target: Callable[[str | Path], None] | None = None,
) -> RestoreReport:
    started = time.monotonic()
    entry = select_backup(
        context, transaction_id=request.transaction_id, date=request.date
    )
    identity = load_identity(context, entry, request.identity_file)
    manifest = fetch_manifest(context, entry, identity)
    logger.info(
        "restoring backup %s (dump %s)", entry.backup_id, entry.dump_transaction_id
    )
    restorer: _SqliteRestore | _PostgresRestore
    if manifest.source.get("kind") == "sqlite":
        restorer = _SqliteRestore(context, request, manifest, scratch)
    else:
        restorer = _PostgresRestore(context, request, manifest, scratch)
    if on_target is not None:
        on_target(restorer.target)
    restorer.preflight()
    plaintext = _download_and_decrypt(context, entry, manifest, identity, on_progress)
    try:
        counts = restorer.restore(plaintext)
    finally:
        plaintext.unlink(missing_ok=True)
    return RestoreReport(
        backup_id=entry.backup_id,
        dump_transaction_id=manifest.dump.transaction_id,
        target=restorer.target_label,
        database=restorer.database,
        created=restorer.created,
        row_counts=counts,
        ciphertext_bytes=manifest.dump.ciphertext_bytes,
        duration_seconds=time.monotonic() - started,
    )


def _download_and_decrypt(
    context: BackupContext,
    entry: BackupEntry,
    manifest: Manifest,
    identity: pyrage.x25519.Identity,
    on_progress: ProgressCallback | None,
) -> Path:
    """Download the dump and decrypt it in the same pass; return the plaintext.

    Each chunk goes to the resumable part file and to age. A resumed download
    first passes the bytes already in the part file to age, so it too is one
    pass. The plaintext is returned only after the ciphertext's sha256 and
    the plaintext's size and sha256 match the manifest. It is deleted on any
    error.

    Raises:
        AgeNotFoundError: the age binary is not on PATH.
        DataMismatchError: the ciphertext's sha256 differs from the manifest.
        ManifestError: the dump does not decrypt, or the plaintext differs
            from the manifest.
        SpoolWriteError: the part file or the plaintext could not be
            written; the part file stays for a resume.
    """
    age_path = find_age()
    work = _work_dir(context)
    encrypted = work / f"{manifest.dump.transaction_id}.dump.age"
    plaintext = work / f"{manifest.dump.transaction_id}.dump"
    with StreamDecryptor(
        identity,
        plaintext,
        compression=manifest.source.get("compression"),
        age_path=age_path,
    ) as decryptor:
        try:
            download_file(
                context.gateway,
                manifest.dump.transaction_id,
                encrypted,
                expected_sha256=manifest.dump.ciphertext_sha256,
                on_progress=on_progress,
                sink=decryptor.write,
            )
            encrypted.unlink()
            size, digest = decryptor.finish()
        except DecryptionError as exc:
            raise ManifestError(
                entry.backup_id, f"the dump does not decrypt ({exc})"
            ) from exc
        except OSError as exc:
            logger.error("restore of %s: spool write failed: %s", entry.backup_id, exc)
            raise SpoolWriteError(work, exc) from exc
    logger.info("decrypted dump %s: %d bytes", manifest.dump.transaction_id, size)
    if (
        digest != manifest.dump.plaintext_sha256
        or size != manifest.dump.plaintext_bytes
    ):
        plaintext.unlink(missing_ok=True)
        raise ManifestError(
            entry.backup_id, "the decrypted dump's sha256 differs from the manifest"
        )
    return plaintext


class _PostgresRestore:
    def __init__(
        self,
        context: BackupContext,
        request: RestoreRequest,
        manifest: Manifest,
        scratch: bool,
    ) -> None:
        self.request = request
        self.manifest = manifest
        configured = request.pg_bin_dir or context.settings.mem0.pg_bin_dir
        self.bin_dirs = pgtools.candidate_bin_dirs(
            context.settings.resolve(configured) if configured else None
        )
        self.created = False
        self.target = self._choose_target(context, scratch)
        self.target_label = pgtools.redact(self.target)
        self.database: str | None = pgtools.database_name(self.target)

    def _choose_target(self, context: BackupContext, scratch: bool) -> str:
        if self.request.target_dsn is not None:
            return self.request.target_dsn
        base = mem0_dsn(context.settings)
        if self.request.clean and not scratch:
            return base
        stamp = f"{datetime.now(UTC):%Y%m%d%H%M%S}"
        prefix = "drill" if scratch else "restore"
        name = f"{pgtools.database_name(base)}_{prefix}_{stamp}"
        return pgtools.with_database(base, name)

    def preflight(self) -> None:
        source = self.manifest.source
        self.pg_restore = pgtools.find_tool("pg_restore", self.bin_dirs)
        dump_version = str(source.get("pg_dump_version") or "0")
        if self.pg_restore.major < int(dump_version.split(".")[0]):
            raise ArchiveVersionError(
                str(self.pg_restore.path), self.pg_restore.major, dump_version
            )
        admin = pgtools.with_database(self.target, "postgres")
        with pgtools.connect(admin, "restore target", connect_timeout=10) as connection:
            available = {
                str(row[0])
                for row in connection.execute(
                    "SELECT name FROM pg_available_extensions"
                )
            }
            exists = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s",
                (pgtools.database_name(self.target),),
            ).fetchone()
        for extension in source.get("extensions", []):
            if extension not in available:
                raise ExtensionUnavailableError(self.target_label, extension)
        if exists and not self.request.clean:
            raise BackupError(
                f"restore target database {pgtools.database_name(self.target)!r} "
                "exists; pass --clean to restore over it or name a new database"
            )
        self.exists = bool(exists)

    def restore(self, dump: Path) -> dict[str, int]:
        name = pgtools.database_name(self.target)
        if not self.exists:
            _create_database(pgtools.with_database(self.target, "postgres"), name)
            self.created = True
        try:
            self._run_pg_restore(dump)
            with pgtools.connect(self.target, "restore target") as connection:
                counts = pgtools.count_rows(connection)
        except BackupError:
            if self.created:
                drop_database(self.target)
                self.created = False
            raise
        _compare_counts(self.target_label, self.manifest.row_counts, counts)
        logger.info("restored %s tables into %s", len(counts), self.target_label)
        return counts

    def _run_pg_restore(self, dump: Path) -> None:
        conninfo, env = pgtools.split_password(self.target)
        argv = [
            str(self.pg_restore.path),
            "--jobs",
            str(self.request.jobs),
            "--no-owner",
            "--exit-on-error",
            "--dbname",
            conninfo,
        ]
        if self.request.clean:
            argv += ["--clean", "--if-exists"]
        argv.append(str(dump))
        logger.info(
            "running pg_restore %s into %s", self.pg_restore.version, self.target_label
        )
        result = subprocess.run(
            argv, capture_output=True, text=True, env={**os.environ, **env}
        )
        if result.returncode != 0:
            raise PgToolError(
                "pg_restore", f"exit code {result.returncode}: {result.stderr[-800:]}"
            )


def _create_database(admin_dsn: str, name: str) -> None:
    with pgtools.connect(admin_dsn, "restore target", autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    logger.info("created database %s", name)


# Attempts and pause of drop_database when the server drops the connection.
_DROP_ATTEMPTS = 3
_DROP_PAUSE_SECONDS = 2.0


def drop_database(dsn: str) -> None:
    """Drop the database that ``dsn`` names, closing its connections.

    A connection lost mid-statement (the server restarting after a crashed
    backend) is retried: ``DROP DATABASE IF EXISTS`` is safe to repeat.
    """
    name = pgtools.database_name(dsn)
    statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
        sql.Identifier(name)
    )
    admin_dsn = pgtools.with_database(dsn, "postgres")
    for attempt in range(1, _DROP_ATTEMPTS + 1):
        try:
            with pgtools.connect(
                admin_dsn, "restore target", autocommit=True
            ) as connection:
                connection.execute(statement)
            break
        except (psycopg.OperationalError, DatabaseUnreachableError) as exc:
            if attempt == _DROP_ATTEMPTS:
                raise
            logger.warning(
                "dropping database %s failed (attempt %d of %d): %s; retrying",
                name,
                attempt,
                _DROP_ATTEMPTS,
                str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
            )
            time.sleep(_DROP_PAUSE_SECONDS)
    logger.info("dropped database %s", name)


def _compare_counts(
    target: str, expected: dict[str, int], found: dict[str, int]
) -> None:
    differences = {
        table: (count, found.get(table, -1))
        for table, count in expected.items()
        if found.get(table) != count
    }
    if differences:
        raise RowCountMismatchError(target, differences)


class _SqliteRestore:
    def __init__(
        self,
        context: BackupContext,
        request: RestoreRequest,
        manifest: Manifest,
        scratch: bool,
    ) -> None:
        self.request = request
        self.manifest = manifest
        self.created = False
        self.target = self._choose_target(context, scratch)
        self.target_label = str(self.target)
        self.database: str | None = None

    def _choose_target(self, context: BackupContext, scratch: bool) -> Path:
        if self.request.sqlite_path is not None:
            return self.request.sqlite_path
        configured = context.settings.mem0.sqlite_path
        if configured is None:
            raise BackupError(
                "no SQLite target: pass --sqlite-path or set mem0.sqlite_path"
            )
        base = context.settings.resolve(configured)
        if self.request.clean and not scratch:
            return base
        stamp = f"{datetime.now(UTC):%Y%m%d%H%M%S}"
        suffix = "drill" if scratch else "restore"
        return base.with_name(f"{base.stem}.{suffix}-{stamp}{base.suffix}")

    def preflight(self) -> None:
        if self.target.exists() and not self.request.clean:
            raise BackupError(
                f"restore target {str(self.target)!r} exists; pass --clean to "
                "replace it or choose another path"
            )

    def restore(self, dump: Path) -> dict[str, int]:
        connection = sqlite3.connect(f"file:{dump}?mode=ro", uri=True)
        try:
            counts = sqlite_row_counts(connection)
        finally:
            connection.close()
        _compare_counts(self.target_label, self.manifest.row_counts, counts)
        self.target.parent.mkdir(parents=True, exist_ok=True)
        # Copy next to the target, then rename, so the target is replaced whole.
        with tempfile.NamedTemporaryFile(
            dir=self.target.parent, delete=False
        ) as handle:
            temporary = Path(handle.name)
        shutil.copyfile(dump, temporary)
        temporary.replace(self.target)
        self.created = True
        logger.info("restored sqlite database to %s", self.target)
        return counts
