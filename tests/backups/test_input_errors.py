"""Bad input to backups and restores: clear errors, nothing left behind."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from slopops.backups import RestoreRequest, list_backups, open_context, restore_backup
from slopops.backups import run_backup as engine_run_backup
from slopops.backups.errors import (
    BackupError,
    DatabaseUnreachableError,
    InvalidDsnError,
    InvalidRequestError,
    KeyStorePermissionError,
    PgToolError,
)
from slopops.backups.pgtools import mask_dsn
from slopops.cli import app
from slopops.stack.postgres import bin_dir
from slopops.stack.process import free_port

runner = CliRunner()
PASSWORD = "hunter2-secret"


def _run_backup(settings):
    return engine_run_backup(settings, poll_seconds=0.05)


def _sqlite_source(path: Path) -> Path:
    connection = sqlite3.connect(path)
    with connection:
        connection.execute("CREATE TABLE memories (id INTEGER PRIMARY KEY, text TEXT)")
        connection.executemany(
            "INSERT INTO memories (text) VALUES (?)", [(f"m{i}",) for i in range(5)]
        )
    connection.close()
    return path


def _cli(profile, *args: str):
    common = ["--env", "local", "--config-dir", str(profile.config_dir)]
    return runner.invoke(app, [args[0], args[1], *common, *args[2:]])


def test_mask_dsn_hides_passwords() -> None:
    cases = {
        f"host=h password={PASSWORD} dbname=d": "host=h password=*** dbname=d",
        f"host=h password='{PASSWORD} x'": "host=h password=***",
        f"postgresql://u:{PASSWORD}@h:5432/d": "postgresql://u:***@h:5432/d",
        f"postgresql://u@h/d?password={PASSWORD}&a=1": "postgresql://u@h/d?password=***&a=1",
        f"host=h password {PASSWORD}": "host=h password ***",
        "not a dsn": "not a dsn",
        "user=password host=h": "user=password host=h",
    }
    for dsn, expected in cases.items():
        assert mask_dsn(dsn) == expected


def test_restore_invalid_target_dsn(make_profile, tmp_path) -> None:
    profile = make_profile(sqlite_path=tmp_path / "mem0.db")
    dsn = f"not a dsn password={PASSWORD}"
    with pytest.raises(InvalidDsnError) as caught:
        restore_backup(profile.settings, RestoreRequest(target_dsn=dsn))
    assert isinstance(caught.value.__cause__, psycopg.ProgrammingError)
    assert caught.value.masked_dsn == "not a dsn password=***"
    assert PASSWORD not in str(caught.value)

    result = _cli(profile, "backup", "restore", "--target-dsn", dsn)
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert "restore target DSN 'not a dsn password=***' is invalid" in result.output
    assert 'missing "=" after "not"' in result.output
    assert "postgresql://U@H:P/D" in result.output
    assert PASSWORD not in result.output


def test_restore_invalid_date(make_profile, tmp_path) -> None:
    profile = make_profile(sqlite_path=tmp_path / "mem0.db")
    for value in ("notadate", "2026-02-30", "2026-1-04", "20261204"):
        with pytest.raises(InvalidRequestError, match="YYYY-MM-DD"):
            restore_backup(profile.settings, RestoreRequest(date=value))
    result = _cli(profile, "backup", "restore", "--date", "notadate")
    assert result.exit_code == 1
    assert "date 'notadate' is invalid" in result.output
    listed = _cli(profile, "backup", "list", "--date", "notadate")
    assert listed.exit_code == 1
    assert "date 'notadate' is invalid" in listed.output


def test_restore_tx_with_date_rejected(make_profile, tmp_path) -> None:
    profile = make_profile(sqlite_path=tmp_path / "mem0.db")
    request = RestoreRequest(transaction_id="abc", date="2026-12-04")
    with pytest.raises(InvalidRequestError, match="exclude each other"):
        restore_backup(profile.settings, request)
    result = _cli(profile, "backup", "restore", "--tx", "abc", "--date", "2026-12-04")
    assert result.exit_code == 1
    assert "--tx 'abc' and --date '2026-12-04' exclude each other" in result.output


def test_unreachable_source_leaves_no_key(make_profile) -> None:
    port = free_port()
    dsn = f"host=127.0.0.1 port={port} dbname=mem0 user=mem0 password={PASSWORD}"
    profile = make_profile(dsn=dsn)
    key_store = profile.settings.resolve(profile.settings.arweave.key_store_dir)
    spool_dir = profile.state_dir / "backups" / "local"
    with pytest.raises(DatabaseUnreachableError) as caught:
        _run_backup(profile.settings)
    assert isinstance(caught.value.__cause__, psycopg.OperationalError)
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert PASSWORD not in str(caught.value)
    assert list(key_store.glob("*.json")) == []
    assert not spool_dir.exists() or list(spool_dir.iterdir()) == []

    result = _cli(profile, "backup", "run")
    assert result.exit_code == 1
    assert f"cannot connect to mem0 database 'mem0' at 127.0.0.1:{port}" in (
        result.output
    )
    assert PASSWORD not in result.output
    assert list(key_store.glob("*.json")) == []


def test_missing_sqlite_source_leaves_no_key(make_profile, tmp_path) -> None:
    profile = make_profile(sqlite_path=tmp_path / "absent.db")
    key_store = profile.settings.resolve(profile.settings.arweave.key_store_dir)
    with pytest.raises(BackupError, match="cannot be read") as caught:
        _run_backup(profile.settings)
    assert "mem0.sqlite_path" in str(caught.value)
    assert list(key_store.glob("*.json")) == []


def test_open_key_store_rejected(make_profile, tmp_path) -> None:
    profile = make_profile(sqlite_path=_sqlite_source(tmp_path / "mem0.db"))
    key_store = profile.settings.resolve(profile.settings.arweave.key_store_dir)
    key_store.mkdir(parents=True)
    key_store.chmod(0o755)
    with pytest.raises(KeyStorePermissionError) as caught:
        _run_backup(profile.settings)
    assert caught.value.mode == 0o755
    assert f"chmod 700 {key_store}" in str(caught.value)
    assert list(key_store.iterdir()) == []

    # The CLI's profile check may reject it first (exit code 2); either way
    # the message names the fix.
    result = _cli(profile, "backup", "list")
    assert result.exit_code in (1, 2)
    assert f"chmod 700 {key_store}" in result.output


def test_created_key_store_is_private(make_profile, tmp_path) -> None:
    profile = make_profile(sqlite_path=_sqlite_source(tmp_path / "mem0.db"))
    key_store = profile.settings.resolve(profile.settings.arweave.key_store_dir)
    assert not key_store.exists()
    report = _run_backup(profile.settings)
    assert key_store.stat().st_mode & 0o777 == 0o700
    assert (key_store / f"{report.key_id}.json").stat().st_mode & 0o777 == 0o600


def test_list_shows_key_and_sha256(make_profile, tmp_path) -> None:
    profile = make_profile(sqlite_path=_sqlite_source(tmp_path / "mem0.db"))
    report = _run_backup(profile.settings)
    context = open_context(profile.settings)
    try:
        [entry] = list_backups(context)
    finally:
        context.close()

    result = _cli(profile, "backup", "list")
    assert result.exit_code == 0, result.output
    header, row = result.output.splitlines()
    assert header.split() == [
        "DATE",
        "STATUS",
        "BACKUP-ID",
        "KEY-ID",
        "DUMP-TX",
        "CIPHERTEXT-SHA256",
        "BYTES",
    ]
    assert row.split() == [
        report.date,
        "ok",
        report.backup_id,
        report.key_id,
        report.dump_transaction_id,
        entry.dump_sha256,
        str(entry.size_bytes),
    ]
    as_json = json.loads(_cli(profile, "backup", "list", "--json").output)
    assert as_json[0]["key_id"] == report.key_id
    assert as_json[0]["dump_sha256"] == entry.dump_sha256


def test_failed_dump_discards_key(make_profile, mem0_database, tmp_path) -> None:
    # A pg_dump that reports the real version but fails to dump, as one does
    # when the server drops the connection mid-dump.
    real = bin_dir() / "pg_dump"
    failing = tmp_path / "failing-bin" / "pg_dump"
    failing.parent.mkdir()
    failing.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = --version ]; then exec {real} --version; fi\n'
        "echo 'pg_dump: error: connection lost' >&2\n"
        "exit 1\n"
    )
    failing.chmod(0o755)
    profile = make_profile(dsn=mem0_database.dsn)
    settings = profile.settings.model_copy(
        update={
            "mem0": profile.settings.mem0.model_copy(
                update={"pg_bin_dir": failing.parent}
            )
        }
    )
    key_store = settings.resolve(settings.arweave.key_store_dir)
    spool_dir = profile.state_dir / "backups" / "local"
    with pytest.raises(PgToolError, match="connection lost"):
        _run_backup(settings)
    assert list(key_store.glob("*.json")) == []
    assert list(spool_dir.glob("*.dump.age")) == []
    assert not (spool_dir / "pending.json").exists()
