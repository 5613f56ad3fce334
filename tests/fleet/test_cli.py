"""``slopops nodes`` against real nodes, with a profile written for the test."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest
import tomli_w
from typer.testing import CliRunner, Result

from config.profiles import CONFIG_DIR
from slopops.cli import app
from slopops.cli import nodes as nodes_cli
from slopops.stack.pm2 import daemon_pid
from tests.fixtures.fleet import FleetLab


def write_profile(directory: Path, fleet: dict, mcp: dict | None = None) -> Path:
    """Write a local profile with the given fleet (and MCP) tables."""
    with (CONFIG_DIR / "local.toml").open("rb") as handle:
        profile = tomllib.load(handle)
    profile["fleet"] = fleet
    if mcp is not None:
        profile["mcp"] = mcp
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "local.toml").write_text(tomli_w.dumps(profile))
    return directory


def _fleet_table(lab: FleetLab, nodes: list) -> dict:
    fleet = lab.fleet(nodes).model_dump(mode="json", exclude_none=True)
    return fleet


def _deploy(config_dir: Path, *options: str) -> Result:
    """Run ``slopops nodes deploy`` on the local profile in ``config_dir``."""
    return CliRunner().invoke(
        app,
        ["nodes", "deploy", "--env", "local", "--config-dir", str(config_dir)]
        + list(options),
    )


def test_nodes_deploy_status_rollback(fleet_lab: FleetLab) -> None:
    nodes = [fleet_lab.add_node(instances=1) for _ in range(2)]
    config_dir = write_profile(
        fleet_lab.base_dir / "config", _fleet_table(fleet_lab, nodes)
    )
    runner = CliRunner()
    for release_id in ("A", "B"):
        tarball = fleet_lab.release(release_id).tarball
        result = _deploy(config_dir, "--release", str(tarball))
        assert result.exit_code == 0, result.output
        assert "batch 2/2 done, 0 failed so far" in result.output
    result = runner.invoke(
        app, ["nodes", "status", "--env", "local", "--config-dir", str(config_dir)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("healthy") == 2
    result = runner.invoke(
        app, ["nodes", "rollback", "--env", "local", "--config-dir", str(config_dir)]
    )
    assert result.exit_code == 0, result.output
    assert "rolled_back" in result.output
    for node in nodes:
        assert fleet_lab.current(node) == "A"


def test_nodes_deploy_failure_exits_1(fleet_lab: FleetLab) -> None:
    down = fleet_lab.unreachable_node()
    config_dir = write_profile(
        fleet_lab.base_dir / "config", _fleet_table(fleet_lab, [down])
    )
    tarball = fleet_lab.release("A").tarball
    result = _deploy(config_dir, "--release", str(tarball))
    assert result.exit_code == 1
    assert "unreachable" in result.output
    assert "error: rollout of release 'A' from " in result.output
    assert "stopped: 1 of 1 nodes failed, above the failure limit" in result.output


def test_nodes_deploy_wrong_release_names_it(
    fleet_lab: FleetLab, monkeypatch: pytest.MonkeyPatch
) -> None:
    nodes = [fleet_lab.add_node(instances=1) for _ in range(2)]
    table = _fleet_table(fleet_lab, nodes) | {"batch_size": "1"}
    config_dir = write_profile(fleet_lab.base_dir / "config", table)
    # The tarball's release.json names A, so nodes report A where B is expected.
    tarball = fleet_lab.base_dir / "B.tar.gz"
    shutil.copy(fleet_lab.release("A").tarball, tarball)
    monkeypatch.setattr(nodes_cli.console, "width", 400)
    result = _deploy(config_dir, "--release", str(tarball))
    assert result.exit_code == 1, result.output
    # The skipped node is not counted as failed.
    assert "batch 1/2 done, 1 failed so far" in result.output
    error = next(
        line for line in result.output.splitlines() if line.startswith("error: ")
    )
    assert f"rollout of release 'B' from {str(tarball)!r} stopped" in error
    assert f"failed on nodes [{nodes[0].name!r}]" in error
    assert "release 'B' failed its health check" in error
    assert f"skipped nodes [{nodes[1].name!r}]" in error


def test_nodes_deploy_missing_tarball_exits_2(
    fleet_lab: FleetLab, tmp_path: Path
) -> None:
    down = fleet_lab.unreachable_node()
    config_dir = write_profile(
        fleet_lab.base_dir / "config", _fleet_table(fleet_lab, [down])
    )
    result = _deploy(config_dir, "--release", str(tmp_path / "missing.tar.gz"))
    assert result.exit_code == 2
    assert "file not found" in result.output


def test_nodes_deploy_malformed_sha256_exits_2(fleet_lab: FleetLab) -> None:
    down = fleet_lab.unreachable_node()
    config_dir = write_profile(
        fleet_lab.base_dir / "config", _fleet_table(fleet_lab, [down])
    )
    tarball = fleet_lab.release("A").tarball
    result = _deploy(config_dir, "--release", str(tarball), "--sha256", "ABC123")
    assert result.exit_code == 2, result.output
    assert "error: invalid release 'ABC123': a sha256 is 64 hex digits" in (
        result.output
    )
    # Rejected before any node was contacted.
    assert "unreachable" not in result.output


def test_nodes_without_inventory_exits_2(tmp_path: Path) -> None:
    config_dir = write_profile(tmp_path / "config", {})
    result = CliRunner().invoke(
        app, ["nodes", "status", "--env", "local", "--config-dir", str(config_dir)]
    )
    assert result.exit_code == 2
    assert "lists no nodes under [[fleet.nodes]]" in result.output


def test_nodes_status_reasons(
    fleet_lab: FleetLab, monkeypatch: pytest.MonkeyPatch
) -> None:
    idle = fleet_lab.add_node(instances=1)
    down = fleet_lab.unreachable_node()
    config_dir = write_profile(
        fleet_lab.base_dir / "config", _fleet_table(fleet_lab, [idle, down])
    )
    # Wide enough that no table cell wraps inside the text checked below.
    monkeypatch.setattr(nodes_cli.console, "width", 400)
    result = CliRunner().invoke(
        app, ["nodes", "status", "--env", "local", "--config-dir", str(config_dir)]
    )
    assert result.exit_code == 1, result.output
    assert "last known good: none recorded" in result.output
    assert "PM2 is not running" in result.output
    assert f"connection to {down.host}:{down.port} refused" in result.output
    assert "Errno" not in result.output
    assert daemon_pid(Path(idle.pm2_home or "")) is None
