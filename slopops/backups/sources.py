"""Backup sources: PostgreSQL through ``pg_dump -Fc``, SQLite through its backup API.

Each ``dump_*`` function streams its source through
:func:`~slopops.backups.pipeline.spool_encrypted` and returns what the
manifest records about it.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pyrage

from slopops.backups import pgtools
from slopops.backups.errors import BackupError, PgToolError
from slopops.backups.pipeline import GZIP, SpoolResult, spool_encrypted

logger = logging.getLogger(__name__)

POSTGRES_FORMAT = "pg_dump-custom"
SQLITE_FORMAT = "sqlite3-gzip"


@dataclass(frozen=True)
class SourceInfo:
    """The contents of a dump and the versions of the programs that wrote it."""

    kind: str
    format: str
    compression: str | None
    database: str
    row_counts: dict[str, int]
    server_version: str | None = None
    pg_dump_version: str | None = None
    archive_version: str | None = None
    extensions: list[str] = field(default_factory=list)


def dump_postgres(
    dsn: str,
    bin_dirs: list[Path],
    spool_path: Path,
    recipients: Sequence[pyrage.x25519.Recipient],
) -> tuple[SpoolResult, SourceInfo]:
    """Dump ``dsn`` with the matching pg_dump into an encrypted spool file.

    Row counts are taken inside the snapshot that pg_dump uses, so they match
    the dump even while the database is being written.

    Raises:
        InvalidDsnError: ``dsn`` does not parse.
        DatabaseUnreachableError: the server cannot be reached.
        PgToolError: no pg_dump of the server's major version, or it failed.
    """
    # Autocommit, so the settings below apply to the BEGIN of transaction().
    with pgtools.connect(dsn, "mem0", autocommit=True) as connection:
        major, server_version = pgtools.server_major(connection)
        pg_dump = pgtools.find_tool("pg_dump", bin_dirs, major=major)
        connection.read_only = True
        connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with connection.transaction():
            snapshot = str(pgtools.scalar(connection, "SELECT pg_export_snapshot()"))
            counts = pgtools.count_rows(connection)
            extensions = pgtools.installed_extensions(connection)
            spooled = _run_pg_dump(pg_dump, dsn, snapshot, spool_path, recipients)
    info = SourceInfo(
        kind="postgresql",
        format=POSTGRES_FORMAT,
        # pg_dump -Fc compresses each table's data itself.
        compression=None,
        database=pgtools.database_name(dsn),
        row_counts=counts,
        server_version=server_version,
        pg_dump_version=pg_dump.version,
        archive_version=pgtools.archive_version(spooled.header),
        extensions=extensions,
    )
    return spooled, info


def _run_pg_dump(
    pg_dump: pgtools.PgTool,
    dsn: str,
    snapshot: str,
    spool_path: Path,
    recipients: Sequence[pyrage.x25519.Recipient],
) -> SpoolResult:
    conninfo, env = pgtools.split_password(dsn)
    argv = [str(pg_dump.path), "-Fc", "--snapshot", snapshot, "--dbname", conninfo]
    logger.info("running pg_dump %s on %s", pg_dump.version, conninfo)
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env={**os.environ, **env},
        )
        assert process.stdout is not None
        try:
            spooled = spool_encrypted(
                process.stdout, spool_path, recipients, compression=None
            )
        finally:
            process.stdout.close()
            code = process.wait()
        stderr.seek(0)
        message = stderr.read().decode(errors="replace").strip()
    if code != 0:
        spool_path.unlink(missing_ok=True)
        raise PgToolError("pg_dump", f"exit code {code}: {message[-500:]}")
    return spooled


def check_postgres(dsn: str, bin_dirs: list[Path]) -> pgtools.PgTool:
    """Connect to ``dsn`` and find the pg_dump of its server's major version.

    Runs before a backup creates its key or spool file, so a bad source
    leaves nothing behind.

    Raises:
        InvalidDsnError: ``dsn`` does not parse.
        DatabaseUnreachableError: the server cannot be reached.
        PgToolError: no pg_dump of the server's major version.
    """
    with pgtools.connect(dsn, "mem0", connect_timeout=10) as connection:
        major, _ = pgtools.server_major(connection)
    return pgtools.find_tool("pg_dump", bin_dirs, major=major)


def check_sqlite(path: Path) -> None:
    """Open ``path`` read-only and read its schema.

    Raises:
        BackupError: the file is missing or is not an SQLite database.
    """
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise BackupError(
            f"mem0 SQLite database {str(path)!r} cannot be read ({exc}); "
            "check mem0.sqlite_path"
        ) from exc


def dump_sqlite(
    path: Path,
    spool_path: Path,
    recipients: Sequence[pyrage.x25519.Recipient],
) -> tuple[SpoolResult, SourceInfo]:
    """Copy ``path`` with SQLite's online backup API, then gzip and encrypt it.

    The consistent copy is a temporary file next to the spool, mode 0600,
    deleted before this function returns.
    """
    spool_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=spool_path.parent, suffix=".sqlite") as copy:
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        target = sqlite3.connect(copy.name)
        try:
            source.backup(target)
            counts = sqlite_row_counts(target)
        finally:
            target.close()
            source.close()
        logger.info("copied sqlite database %s (%d tables)", path, len(counts))
        with open(copy.name, "rb") as handle:
            spooled = spool_encrypted(handle, spool_path, recipients, compression=GZIP)
    info = SourceInfo(
        kind="sqlite",
        format=SQLITE_FORMAT,
        compression=GZIP,
        database=path.name,
        row_counts=counts,
    )
    return spooled, info


def sqlite_row_counts(connection: sqlite3.Connection) -> dict[str, int]:
    """Count the rows of every table except SQLite's own."""
    names = [
        str(row[0])
        for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    return {
        name: int(
            connection.execute(
                f'SELECT count(*) FROM "{name.replace(chr(34), chr(34) * 2)}"'
            ).fetchone()[0]
        )
        for name in names
    }
