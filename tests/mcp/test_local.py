"""The local MCP server: a PM2 app released through the node code path."""

from __future__ import annotations

import httpx
import pytest

from config import load_settings
from config.settings import McpSettings, Settings
from slopops.mcp.local import (
    deploy_local,
    local_mcp_node,
    local_release,
    rollback_local,
    status_local,
)
from tests.fixtures.fleet import FleetLab


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
