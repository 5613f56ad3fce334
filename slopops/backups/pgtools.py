"""PostgreSQL client programs: finding them, their versions, and server facts.

A dump must come from the pg_dump whose major version matches the server's,
and a custom-format archive written by a newer pg_dump cannot be read by an
older pg_restore ("unsupported version in file header").
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from slopops.backups.errors import (
    DatabaseUnreachableError,
    InvalidDsnError,
    PgToolError,
)

_VERSION = re.compile(r"\(PostgreSQL\) (\d+)(?:\.(\d+))?")
_ARCHIVE_MAGIC = b"PGDMP"
# Passwords in a keyword DSN (password=..., or "password secret" with the
# "=" missing) and in a URI (://user:secret@), masked even when the rest of
# the DSN does not parse.
_KEYWORD_PASSWORD = re.compile(
    r"((?<![\w=])password\s*(?:=\s*|\s+))('(?:[^'\\]|\\.)*'|[^\s&]+)"
)
_URI_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")
MASK = "***"


@dataclass(frozen=True)
class PgTool:
    """A PostgreSQL client program and its version."""

    path: Path
    major: int
    version: str


def candidate_bin_dirs(configured: Path | None) -> list[Path]:
    """Return directories to search for pg_dump and pg_restore, in order.

    A configured directory is the only candidate. Otherwise: the embedded
    PostgreSQL's binaries, then ``/usr/lib/postgresql/*/bin`` newest first,
    then each directory on ``PATH``.
    """
    if configured is not None:
        return [configured]
    from slopops.stack.postgres import bin_dir

    directories: list[Path] = []
    try:
        directories.append(bin_dir())
    except FileNotFoundError:
        pass
    system = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda path: (
            int(Path(path).parent.name) if Path(path).parent.name.isdigit() else 0
        ),
        reverse=True,
    )
    directories.extend(Path(path) for path in system)
    directories.extend(
        Path(path) for path in os.environ.get("PATH", "").split(os.pathsep) if path
    )
    return directories


def tool_version(path: Path) -> PgTool:
    """Run ``path --version`` and parse the PostgreSQL version.

    Raises:
        PgToolError: the program does not run or prints no version.
    """
    try:
        output = subprocess.run(
            [str(path), "--version"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise PgToolError(
            path.name, f"{str(path)!r} --version did not run ({exc})"
        ) from exc
    match = _VERSION.search(output)
    if match is None:
        raise PgToolError(path.name, f"cannot parse the version in {output.strip()!r}")
    major = int(match.group(1))
    minor = match.group(2)
    return PgTool(path, major, f"{major}.{minor}" if minor else str(major))


def find_tool(
    name: str, directories: list[Path], *, major: int | None = None
) -> PgTool:
    """Return ``name`` from ``directories``: the given major, else the newest.

    Raises:
        PgToolError: no such program, or none with the required major version.
    """
    found: list[PgTool] = []
    seen: set[Path] = set()
    for directory in directories:
        path = directory / name
        if not path.is_file() or path.resolve() in seen:
            continue
        seen.add(path.resolve())
        tool = tool_version(path)
        if major is None or tool.major == major:
            found.append(tool)
    if not found:
        program = f"{name} {major}" if major is not None else name
        searched = ", ".join(str(directory) for directory in directories[:6])
        raise PgToolError(
            name,
            f"{program} was not found in {searched}; install it or set mem0.pg_bin_dir",
        )
    return max(found, key=lambda tool: tool.major)


def scalar(connection: psycopg.Connection, query: str | sql.Composable) -> object:
    """Return the first column of the first row of ``query``.

    Raises:
        PgToolError: the query returned no row.
    """
    row = connection.execute(query).fetchone()  # type: ignore[arg-type]
    if row is None:
        raise PgToolError("PostgreSQL", f"query {str(query)[:80]!r} returned no row")
    return row[0]


def server_major(connection: psycopg.Connection) -> tuple[int, str]:
    """Return the server's major version and full version text."""
    number = int(str(scalar(connection, "SHOW server_version_num")))
    text = str(scalar(connection, "SHOW server_version"))
    return number // 10000, text


def count_rows(connection: psycopg.Connection) -> dict[str, int]:
    """Count the rows of every user table, keyed ``schema.table``."""
    tables = connection.execute(
        """
        SELECT n.nspname, c.relname FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p')
          AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg_toast%%'
          AND NOT EXISTS (SELECT 1 FROM pg_depend d
                          WHERE d.objid = c.oid AND d.deptype = 'e')
        ORDER BY 1, 2
        """
    ).fetchall()
    counts = {}
    for schema, table in tables:
        query = sql.SQL("SELECT count(*) FROM {}.{}").format(
            sql.Identifier(schema), sql.Identifier(table)
        )
        counts[f"{schema}.{table}"] = int(str(scalar(connection, query)))
    return counts


def installed_extensions(connection: psycopg.Connection) -> list[str]:
    """Return the extensions installed in the database, except plpgsql."""
    rows = connection.execute(
        "SELECT extname FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1"
    ).fetchall()
    return [str(row[0]) for row in rows]


def archive_version(header: bytes) -> str | None:
    """Return the archive format version (``1.16``) of a custom-format dump."""
    if len(header) < 8 or not header.startswith(_ARCHIVE_MAGIC):
        return None
    return f"{header[5]}.{header[6]}"


def mask_dsn(dsn: str) -> str:
    """Return ``dsn`` with its password replaced by ``***``, parsed or not."""
    masked = _KEYWORD_PASSWORD.sub(lambda match: match.group(1) + MASK, dsn)
    return _URI_PASSWORD.sub(lambda match: match.group(1) + MASK + "@", masked)


def parse_dsn(dsn: str, role: str = "PostgreSQL") -> dict[str, object]:
    """Parse ``dsn`` into libpq keywords.

    Args:
        dsn: A libpq keyword/value string or a ``postgresql://`` URI.
        role: What the DSN is for, such as ``"mem0"``, for the message.

    Raises:
        InvalidDsnError: libpq cannot parse it. The message masks the password.
    """
    try:
        return dict(conninfo_to_dict(dsn))
    except psycopg.ProgrammingError as exc:
        raise InvalidDsnError(role, mask_dsn(dsn), str(exc).strip()) from exc


def connect(dsn: str, role: str = "PostgreSQL", **kwargs: object) -> psycopg.Connection:
    """Open a psycopg connection, translating its errors into backup errors.

    Args:
        dsn: The libpq DSN.
        role: What the DSN is for, such as ``"mem0"``, for the message.
        **kwargs: Passed to :func:`psycopg.connect` (``autocommit``,
            ``connect_timeout``).

    Raises:
        InvalidDsnError: the DSN does not parse.
        DatabaseUnreachableError: the server refused, timed out or rejected
            the login. The message names host and port, never the password.
    """
    params = parse_dsn(dsn, role)
    try:
        return psycopg.connect(dsn, **kwargs)  # type: ignore[arg-type]
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "failed"
        raise DatabaseUnreachableError(
            role,
            str(params.get("host") or os.environ.get("PGHOST") or "localhost"),
            str(params.get("port") or os.environ.get("PGPORT") or "5432"),
            str(params.get("dbname") or "postgres"),
            # libpq's connection errors name host, port and user, never the
            # password, and mask_dsn would garble "password authentication".
            reason,
        ) from exc


def split_password(dsn: str) -> tuple[str, dict[str, str]]:
    """Return the DSN without its password and an environment holding it.

    Keeps the password off the command line of pg_dump and pg_restore.

    Raises:
        InvalidDsnError: the DSN does not parse.
    """
    params = parse_dsn(dsn)
    password = params.pop("password", None)
    env = {"PGPASSWORD": str(password)} if password else {}
    return make_conninfo(**{k: str(v) for k, v in params.items()}), env


def with_database(dsn: str, database: str) -> str:
    """Return ``dsn`` pointing at another database on the same server.

    Raises:
        InvalidDsnError: the DSN does not parse.
    """
    params = parse_dsn(dsn)
    params["dbname"] = database
    return make_conninfo(**{k: str(v) for k, v in params.items()})


def database_name(dsn: str) -> str:
    """Return the database name of ``dsn``.

    Raises:
        InvalidDsnError: the DSN does not parse.
    """
    return str(parse_dsn(dsn).get("dbname") or "postgres")


def redact(dsn: str) -> str:
    """Return ``dsn`` without its password, for messages and logs."""
    return split_password(dsn)[0]


def which(name: str) -> Path | None:
    """Return the path of ``name`` on PATH."""
    found = shutil.which(name)
    return Path(found) if found else None
