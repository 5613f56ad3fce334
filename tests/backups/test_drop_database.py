"""Dropping a scratch database survives a server that restarts mid-way."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest

from slopops.backups.errors import DatabaseUnreachableError
from slopops.backups.restore import drop_database
from slopops.stack.postgres import start_postgres
from slopops.stack.process import free_port


def _databases(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as connection:
        rows = connection.execute("SELECT datname FROM pg_database").fetchall()
    return {row[0] for row in rows}


def test_drop_retried_after_server_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "pg"
    port = free_port()
    server = start_postgres(data_dir=data_dir, port=port)
    with psycopg.connect(server.dsn(), autocommit=True) as connection:
        connection.execute("CREATE DATABASE scratch")
    server.stop()

    restarted: list = []
    thread = threading.Thread(
        target=lambda: restarted.append(start_postgres(data_dir=data_dir, port=port))
    )
    thread.start()
    try:
        drop_database(server.dsn("scratch"))
    finally:
        thread.join()
    try:
        assert "scratch" not in _databases(restarted[0].dsn())
    finally:
        restarted[0].stop()


def test_drop_gives_up_on_stopped_server(tmp_path: Path) -> None:
    server = start_postgres(data_dir=tmp_path / "pg", port=free_port())
    server.stop()

    with pytest.raises(DatabaseUnreachableError, match="refused|failed|reach"):
        drop_database(server.dsn("scratch"))
