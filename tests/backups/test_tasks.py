"""Prefect tasks of backups: retry rule, artifacts, and one flow run."""

from __future__ import annotations

import sqlite3
from types import SimpleNamespace

from slopops.arweave.errors import GatewayUnavailableError, InsufficientBalanceError
from tasks.backups import backup_mem0, drill_mem0, retry_transient


def test_retry_only_transient_errors() -> None:
    transient = SimpleNamespace(data=GatewayUnavailableError("http://x", 3, "503"))
    final = SimpleNamespace(data=InsufficientBalanceError("addr", 1, 2))
    assert retry_transient(None, None, transient)
    assert not retry_transient(None, None, final)


def test_backup_and_drill_flow_publish_artifacts(
    prefect_harness, make_profile, tmp_path
) -> None:
    from prefect import flow
    from prefect.client.orchestration import get_client

    source = tmp_path / "mem0.db"
    connection = sqlite3.connect(source)
    with connection:
        connection.execute("CREATE TABLE memories (id INTEGER PRIMARY KEY, text TEXT)")
        connection.execute("INSERT INTO memories (text) VALUES ('one')")
    connection.close()
    settings = make_profile(sqlite_path=source).settings

    @flow
    def backup_then_drill() -> tuple:
        return backup_mem0(settings), drill_mem0(settings)

    backup, drill = backup_then_drill()
    assert not backup.existing
    assert drill.passed

    async def artifact_markdown(key: str) -> str:
        async with get_client() as client:
            artifact = await client.read_latest_artifacts(
                artifact_filter=None, limit=200
            )
        return next(item.data for item in artifact if item.key == key)

    import asyncio

    markdown = asyncio.run(artifact_markdown("mem0-local-backup"))
    assert backup.dump_transaction_id in markdown
    assert "throughput" in markdown
    assert "winston" in markdown
    drill_markdown = asyncio.run(artifact_markdown("mem0-local-drill"))
    assert "passed" in drill_markdown
