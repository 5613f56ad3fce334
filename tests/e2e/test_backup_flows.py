"""backup-mem0, restore-mem0 and restore-drill through the server and worker.

mem0 is an embedded PostgreSQL with pgvector started from the profile's
``mem0.embedded_dir`` in the e2e workspace, so the flows find it the way
they find the stack's. Backups go to the session's arlocal.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from slopops.backups import sample
from slopops.stack.postgres import PostgresServer, start_postgres
from slopops.stack.process import free_port
from tests.e2e.conftest import Simulation

pytestmark = pytest.mark.timeout(300)

MEM0_ROWS = 300
MEM0_DIMENSIONS = 8
TABLES = ("public.memories", "public.memory_history")
SYSTEM_DATABASES = {"postgres", "template0", "template1", "mem0"}


@pytest.fixture(scope="module")
def mem0_server(simulation: Simulation) -> Iterator[PostgresServer]:
    """Start mem0 where the local profile's ``mem0.embedded_dir`` points."""
    data_dir = simulation.workspace / ".state/simulation/mem0"
    server = start_postgres(data_dir=data_dir, port=free_port())
    try:
        sample.create_database(server.dsn(), "mem0")
        sample.create_schema(server.dsn("mem0"), MEM0_DIMENSIONS)
        sample.insert_memories(
            server.dsn("mem0"), MEM0_ROWS, MEM0_DIMENSIONS, text_bytes=64
        )
        yield server
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def _artifact(simulation: Simulation, key: str) -> str:
    """Return the markdown of the latest artifact with ``key``."""
    response = simulation.api(
        "POST",
        "/artifacts/filter",
        json={"artifacts": {"key": {"any_": [key]}}, "sort": "CREATED_DESC"},
    )
    response.raise_for_status()
    found = response.json()
    assert found, f"no artifact with key {key!r}"
    return str(found[0]["data"])


def _row_counts(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as connection:
        return {
            table: connection.execute(
                sql.SQL("SELECT count(*) FROM {}").format(
                    sql.Identifier(*table.split("."))
                )
            ).fetchone()[0]  # type: ignore[index]
            for table in TABLES
        }


def _user_databases(server: PostgresServer) -> set[str]:
    with psycopg.connect(server.dsn()) as connection:
        rows = connection.execute("SELECT datname FROM pg_database").fetchall()
    return {row[0] for row in rows} - SYSTEM_DATABASES


def _run(simulation: Simulation, deployment: str, **parameters: object) -> dict:
    run_id = simulation.run(deployment, **parameters)
    return simulation.wait(run_id, {"COMPLETED"}, timeout_seconds=180)


def test_backup_restore_and_drill(
    simulation: Simulation, mem0_server: PostgresServer
) -> None:
    first = _run(simulation, "backup-mem0/local", environment="local")
    message = first["state"]["message"]
    assert message.startswith("new backup ")
    backup_id = message.split()[2]
    assert "new, verified" in _artifact(simulation, "mem0-local-backup")
    key_dir = simulation.workspace / ".state/simulation/keys/backups/local"
    keys = [path for path in key_dir.iterdir() if path.is_file()]
    assert len(keys) == 1
    assert keys[0].stat().st_mode & 0o077 == 0

    again = _run(simulation, "backup-mem0/local", environment="local")
    assert again["state"]["message"] == f"existing backup {backup_id} of local"
    assert "existing backup reused" in _artifact(simulation, "mem0-local-backup")

    before = _user_databases(mem0_server)
    restored = _run(simulation, "restore-mem0/local", environment="local")
    assert restored["state"]["message"] == f"restored backup {backup_id} of local"
    created = _user_databases(mem0_server) - before
    assert len(created) == 1
    counts = _row_counts(mem0_server.dsn(created.pop()))
    assert counts == {table: MEM0_ROWS for table in TABLES}
    restore_markdown = _artifact(simulation, "mem0-local-restore")
    for table in TABLES:
        assert f"| rows in {table} | {MEM0_ROWS} |" in restore_markdown

    before = _user_databases(mem0_server)
    drilled = _run(simulation, "restore-drill/local", environment="local")
    assert backup_id in drilled["state"]["message"]
    drill_markdown = _artifact(simulation, "mem0-local-drill")
    assert re.search(r"\| result \| passed \|", drill_markdown)
    assert f"| backup id | {backup_id} |" in drill_markdown
    for table in TABLES:
        assert f"| rows in {table} | {MEM0_ROWS} |" in drill_markdown
    # The drill drops its scratch database.
    assert _user_databases(mem0_server) == before
