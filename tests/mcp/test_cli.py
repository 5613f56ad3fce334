"""``slopops mcp`` on Fly, against the local fake of the Machines API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from slopops.cli import app
from tests.fleet.test_cli import write_profile
from tests.mcp.fake_machines import FakeMachinesApi

APP = "slopmachine-mcp-cli"
TOKEN = "cli-token-456"


@pytest.fixture
def fly_profile(tmp_path: Path) -> Iterator[tuple[FakeMachinesApi, Path]]:
    api = FakeMachinesApi(APP, TOKEN, start_seconds=0.1).start()
    for _ in range(2):
        api.add_machine("mcp:a")
    token_file = tmp_path / "fly-token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    mcp = {
        "mode": "fly",
        "fly_app": APP,
        "machines_api_url": api.url,
        "fly_api_token_file": str(token_file),
        "public_health_url": f"{api.url}/health",
        "min_running": 2,
        "health_timeout_seconds": 2,
    }
    config_dir = write_profile(tmp_path / "config", {}, mcp)
    try:
        yield api, config_dir
    finally:
        api.stop()


def _invoke(config_dir: Path, *args: str) -> object:
    return CliRunner().invoke(
        app, ["mcp", *args, "--env", "local", "--config-dir", str(config_dir)]
    )


def test_mcp_deploy_rollback_status(fly_profile: tuple[FakeMachinesApi, Path]) -> None:
    api, config_dir = fly_profile
    result = _invoke(config_dir, "deploy", "--image", "mcp:b")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert api.images() == ["mcp:b", "mcp:b"]
    result = _invoke(config_dir, "status")
    assert result.exit_code == 0  # type: ignore[attr-defined]
    assert "mcp:b" in result.output  # type: ignore[attr-defined]
    result = _invoke(config_dir, "rollback")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert api.images() == ["mcp:a", "mcp:a"]
    assert TOKEN not in result.output  # type: ignore[attr-defined]


def test_mcp_failed_deploy_exits_1(fly_profile: tuple[FakeMachinesApi, Path]) -> None:
    api, config_dir = fly_profile
    api.failing_images.add("mcp:bad")
    result = _invoke(config_dir, "deploy", "--image", "mcp:bad")
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert "previous images restored" in result.output  # type: ignore[attr-defined]
    assert api.images() == ["mcp:a", "mcp:a"]
