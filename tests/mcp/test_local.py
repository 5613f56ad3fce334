"""The local MCP server: a PM2 app released through the node code path."""

from __future__ import annotations

import httpx
import pytest
from typer.testing import CliRunner

from config import load_settings
from config.settings import McpSettings, Settings
from slopops.cli import app
from slopops.mcp.local import (
    deploy_local,
    local_mcp_node,
    local_release,
    rollback_local,
    status_local,
)
from tests.fixtures.fleet import FleetLab
from tests.fleet.test_cli import write_profile


def _settings(lab: FleetLab) -> Settings:
    node = lab.add_node(instances=1)
    base = load_settings("local")
    return base.model_copy(
        update={
            "mcp": McpSettings(mode="local", local_node=node),
            "fleet": lab.fleet([]),
            "state_dir": lab.base_dir / "state",
        }
    )


def test_local_mcp_deploy_and_rollback(fleet_lab: FleetLab) -> None:
    settings = _settings(fleet_lab)
    node = local_mcp_node(settings)
    for release_id in ("mcp-1", "mcp-2"):
        report = deploy_local(settings, fleet_lab.release(release_id))
        assert report.ok, report.rows()
    assert httpx.get(node.health_url, timeout=5).json()["release"] == "mcp-2"
    report = rollback_local(settings)
    assert report.ok
    assert report.outcomes[0].release == "mcp-1"
    status = status_local(settings)
    assert status.outcomes[0].release == "mcp-1"
    assert status.outcomes[0].health == "healthy"


def test_local_commands_need_local_mode(fleet_lab: FleetLab) -> None:
    settings = _settings(fleet_lab).model_copy(
        update={
            "mcp": McpSettings(
                mode="fly", fly_app="some-app", machines_api_url="http://127.0.0.1:9"
            )
        }
    )
    with pytest.raises(ValueError, match="need mode 'local'"):
        local_mcp_node(settings)


def test_local_mcp_image_reference(fleet_lab: FleetLab) -> None:
    settings = _settings(fleet_lab)
    node = local_mcp_node(settings)
    release = local_release(settings, "registry.fly.io/slopmachine-mcp:1.2.0")
    assert release.release_id == "registry.fly.io-slopmachine-mcp-1.2.0"
    assert release.tarball.parent == fleet_lab.base_dir / "state" / "mcp-releases"
    report = deploy_local(settings, release)
    assert report.ok, report.rows()
    health = httpx.get(node.health_url, timeout=5).json()
    assert health["release"] == release.release_id


def test_local_cli_names_failed_release(fleet_lab: FleetLab) -> None:
    node = fleet_lab.add_node(instances=1)
    fleet = fleet_lab.fleet([]).model_dump(mode="json", exclude_none=True)
    mcp = {
        "mode": "local",
        "local_node": node.model_dump(mode="json", exclude_none=True),
    }
    config_dir = write_profile(fleet_lab.base_dir / "config", fleet, mcp)
    tarball = fleet_lab.release("mcp-bad", crash_at_start=True).tarball
    result = CliRunner().invoke(
        app,
        [
            "mcp",
            "deploy",
            "--env",
            "local",
            "--config-dir",
            str(config_dir),
            "--image",
            str(tarball),
        ],
    )
    assert result.exit_code == 1, result.output
    error = next(
        line for line in result.output.splitlines() if line.startswith("error: ")
    )
    assert f"rollout of release 'mcp-bad' from {str(tarball)!r} stopped" in error
    assert f"failed on nodes [{node.name!r}]" in error
    assert "failed its health check" in error
