"""Prefect tasks of the MCP server, on the fake Machines API and a local node."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from prefect import flow

from config import Settings, load_settings
from config.settings import McpSettings
from slopops.bundles import Release
from slopops.fleet.errors import RolloutFailedError
from slopops.mcp.errors import McpInvariantError, McpReleaseFailedError
from tasks.mcp import deploy_mcp_image, rollback_mcp, verify_mcp
from tests.fixtures.fleet import FleetLab
from tests.fleet.test_cli import write_profile
from tests.mcp.fake_machines import FakeMachinesApi

APP = "slopmachine-mcp-tasks"
TOKEN = "task-token-789"


def _release(image: str) -> Release:
    return Release(bundle_id="b" * 16, mcp_image=image, deployed_at=datetime.now(UTC))


@flow
def _deploy_then_verify(settings: Settings, image: str) -> str:
    deploy_mcp_image(settings, image)
    return verify_mcp(settings, _release(image))


@flow
def _rollback(settings: Settings, good: str) -> str:
    return rollback_mcp(settings, _release(good))


@flow
def _verify(settings: Settings, image: str) -> str:
    return verify_mcp(settings, _release(image))


@pytest.mark.usefixtures("prefect_harness")
def test_fly_tasks(tmp_path: Path) -> None:
    api = FakeMachinesApi(APP, TOKEN, start_seconds=0.1).start()
    try:
        for _ in range(2):
            api.add_machine("mcp:a")
        mcp = {
            "mode": "fly",
            "fly_app": APP,
            "machines_api_url": api.url,
            "fly_api_token": TOKEN,
            "public_health_url": f"{api.url}/health",
            "min_running": 2,
            "health_timeout_seconds": 2,
        }
        settings = load_settings("local", write_profile(tmp_path / "config", {}, mcp))
        assert "2 machines healthy on mcp:b" in _deploy_then_verify(settings, "mcp:b")
        with pytest.raises(McpInvariantError, match="not 'mcp:c'"):
            _verify(settings, "mcp:c")
        assert "MCP on mcp:a" in _rollback(settings, "mcp:a")
        api.failing_images.add("mcp:bad")
        with pytest.raises(McpReleaseFailedError, match="restored"):
            _deploy_then_verify(settings, "mcp:bad")
        assert api.images() == ["mcp:a", "mcp:a"]
    finally:
        api.stop()


@pytest.mark.usefixtures("prefect_harness")
def test_local_tasks(fleet_lab: FleetLab) -> None:
    node = fleet_lab.add_node(instances=1)
    settings = load_settings("local").model_copy(
        update={
            "mcp": McpSettings(mode="local", local_node=node),
            "fleet": fleet_lab.fleet([]),
        }
    )
    first = fleet_lab.release("mcp-1").tarball
    second = fleet_lab.release("mcp-2").tarball
    assert "local MCP healthy on mcp-1" in _deploy_then_verify(settings, str(first))
    assert "local MCP healthy on mcp-2" in _deploy_then_verify(settings, str(second))
    assert "local MCP on mcp-1" in _rollback(settings, str(first))
    with pytest.raises(RolloutFailedError) as caught:
        _verify(settings, "mcp:other")
    message = str(caught.value)
    assert message.startswith(f"node status failed: local MCP node {node.name} ")
    assert "runs release 'mcp-1' (healthy), expected 'mcp-other'" in message
    assert "nodes []" not in message
