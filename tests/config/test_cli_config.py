"""``slopops config show`` and ``check``."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from slopops.cli import app
from tests.config.conftest import WriteProfile
from tests.config.helpers import write_private

SECRET = "s3cret-value-never-printed"


@pytest.fixture
def runner() -> CliRunner:
    """Return a CLI runner."""
    return CliRunner()


@pytest.mark.parametrize("output_format", ["json", "toml"])
def test_show_masks_secrets(
    runner: CliRunner,
    write_profile: WriteProfile,
    profile_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    output_format: str,
) -> None:
    write_private(profile_dir.parent / "mem0.dsn", f"postgresql://u:{SECRET}@db/m")
    write_profile(
        edit=lambda data: data["rpc"].update(
            fallback_urls=[f"https://user:{SECRET}@fallback.example.test/?key={SECRET}"]
        )
    )
    monkeypatch.setenv("SLOPOPS_MCP__FLY_API_TOKEN", SECRET)
    monkeypatch.setenv("SLOPOPS_RPC__API_KEY", SECRET)
    monkeypatch.setenv("SLOPOPS_MEM0__DSN", f"postgresql://u:{SECRET}@db/m")

    result = runner.invoke(
        app,
        ["config", "show", "--env", "devnet", "--config-dir", str(profile_dir)]
        + ["--format", output_format],
    )

    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    if output_format == "json":
        shown = json.loads(result.output)
    else:
        shown = tomllib.loads(result.output)
    assert shown["mcp"]["fly_api_token"] == "**********"
    assert shown["rpc"]["api_key"] == "**********"
    assert shown["mem0"]["dsn"] == "**********"
    assert shown["rpc"]["fallback_urls"] == [
        "https://user:**********@fallback.example.test/?key=**********"
    ]


def test_show_prints_resolved_values(
    runner: CliRunner,
    write_profile: WriteProfile,
    profile_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_profile()
    monkeypatch.setenv("SLOPOPS_MONITOR__WINDOW_SECONDS", "42")

    result = runner.invoke(
        app, ["config", "show", "-e", "devnet", "--config-dir", str(profile_dir)]
    )

    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["environment"] == "devnet"
    assert shown["monitor"]["window_seconds"] == 42
    assert shown["mcp"]["fly_api_token"] is None
    assert shown["programs"][0]["name"] == "slop_registry"


def test_show_shipped_devnet_profile(runner: CliRunner) -> None:
    result = runner.invoke(app, ["config", "show", "--env", "devnet"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["rpc"]["url"] == "https://api.devnet.solana.com/"


def test_show_invalid_profile_exits_2(
    runner: CliRunner, write_profile: WriteProfile, profile_dir: Path
) -> None:
    write_profile(edit=lambda data: data["rpc"].update(genesis_hash=""))

    result = runner.invoke(
        app, ["config", "show", "--env", "devnet", "--config-dir", str(profile_dir)]
    )

    assert result.exit_code == 2
    assert "rpc.genesis_hash: genesis_hash is empty" in result.output


def test_show_unknown_environment_exits_2(runner: CliRunner) -> None:
    result = runner.invoke(app, ["config", "show", "--env", "prod"])

    assert result.exit_code == 2
    assert "unknown environment; use one of local, devnet, mainnet-beta" in (
        result.output
    )


def test_check_reports_each_environment(
    runner: CliRunner, write_profile: WriteProfile, profile_dir: Path
) -> None:
    write_profile("local")
    write_profile("devnet", lambda data: data["rpc"].pop("url"))

    result = runner.invoke(app, ["config", "check", "--config-dir", str(profile_dir)])

    assert result.exit_code == 1
    assert "local: valid" in result.output
    assert "devnet: invalid 'devnet' profile: rpc.url: missing" in result.output
    assert "mainnet-beta: invalid 'mainnet-beta' profile: profile file" in (
        result.output
    )
