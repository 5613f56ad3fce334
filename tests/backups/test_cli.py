"""The ``slopops backup`` and ``slopops arweave`` commands, once each."""

from __future__ import annotations

import json
import sqlite3

from typer.testing import CliRunner

from slopops.cli import app

runner = CliRunner()


def _invoke(*args: str):
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def test_backup_commands_round_trip(make_profile, tmp_path) -> None:
    source = tmp_path / "mem0.db"
    connection = sqlite3.connect(source)
    with connection:
        connection.execute("CREATE TABLE memories (id INTEGER PRIMARY KEY, text TEXT)")
        connection.executemany(
            "INSERT INTO memories (text) VALUES (?)", [(f"m{i}",) for i in range(20)]
        )
    connection.close()
    profile = make_profile(sqlite_path=source)
    common = ["--env", "local", "--config-dir", str(profile.config_dir)]

    ran = json.loads(_invoke("backup", "run", *common, "--json").output)
    assert ran["existing"] is False
    again = _invoke("backup", "run", *common)
    assert "already exists" in again.output

    listed = json.loads(_invoke("backup", "list", *common, "--json").output)
    assert [entry["backup_id"] for entry in listed] == [ran["backup_id"]]
    assert listed[0]["status"] == "ok"

    target = tmp_path / "restored.db"
    restored = _invoke("backup", "restore", *common, "--sqlite-path", str(target))
    assert "rows match the manifest: memories=20" in restored.output
    assert target.exists()

    drilled = _invoke("backup", "drill", *common)
    assert "drill passed" in drilled.output


def test_restore_unknown_transaction_fails(make_profile, tmp_path) -> None:
    profile = make_profile(sqlite_path=tmp_path / "missing.db")
    result = runner.invoke(
        app,
        [
            "backup",
            "restore",
            "--env",
            "local",
            "--config-dir",
            str(profile.config_dir),
            "--tx",
            "no-such-id",
        ],
    )
    assert result.exit_code == 1
    assert "no backup matches transaction 'no-such-id'" in result.output


def test_arweave_keygen_and_balance(make_profile, tmp_path) -> None:
    profile = make_profile(sqlite_path=tmp_path / "mem0.db")
    common = ["--env", "local", "--config-dir", str(profile.config_dir)]
    wallet_path = tmp_path / "new-wallet.json"
    created = _invoke("arweave", "keygen", *common, "--output", str(wallet_path))
    assert "written to" in created.output
    assert wallet_path.stat().st_mode & 0o777 == 0o600
    repeated = runner.invoke(
        app, ["arweave", "keygen", *common, "--output", str(wallet_path)]
    )
    assert repeated.exit_code == 1
    assert "already exists" in repeated.output
    balance = _invoke("arweave", "balance", *common)
    assert f"{profile.wallet.address}: 1000000000000000 winston" in balance.output
