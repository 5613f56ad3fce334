"""Prefect tasks of the fleet: mapped per node, with progress and table artifacts."""

from __future__ import annotations

import asyncio

import pytest
from prefect import flow
from prefect.client.orchestration import get_client

from config.settings import FleetSettings
from slopops.fleet import Release
from slopops.fleet.report import RolloutReport
from tasks.fleet import check_nodes, roll_back_nodes, roll_out_nodes
from tests.fixtures.fleet import FleetLab


@flow
def _deploy(fleet: FleetSettings, release: Release) -> RolloutReport:
    return roll_out_nodes(fleet, release)


@flow
def _rollback(fleet: FleetSettings) -> RolloutReport:
    return roll_back_nodes(fleet)


@flow
def _status(fleet: FleetSettings) -> RolloutReport:
    return check_nodes(fleet)


async def _artifacts() -> list:
    async with get_client() as client:
        return list(await client.read_latest_artifacts(limit=200))


def _latest(key: str) -> object:
    artifacts = asyncio.run(_artifacts())
    matches = [a for a in artifacts if a.key == key]  # type: ignore[attr-defined]
    assert matches, f"no artifact {key!r}"
    return matches[0]


@pytest.mark.usefixtures("prefect_harness")
def test_mapped_rollout_publishes_artifacts(fleet_lab: FleetLab) -> None:
    nodes = [fleet_lab.add_node(instances=1) for _ in range(2)]
    fleet = fleet_lab.fleet(nodes, batch_size="1")
    report = _deploy(fleet, fleet_lab.release("A"))
    assert report.ok, report.rows()
    assert [o.release for o in report.outcomes] == ["A", "A"]
    report = _deploy(fleet, fleet_lab.release("B"))
    assert report.ok
    progress = _latest("nodes-deploy-b-progress")
    assert progress.type == "progress"  # type: ignore[attr-defined]
    assert float(progress.data) == 100.0  # type: ignore[attr-defined]
    table = _latest("nodes-deploy-b")
    assert table.type == "table"  # type: ignore[attr-defined]
    assert "node-127.0.0.2" in str(table.data)  # type: ignore[attr-defined]
    assert "healthy" in str(table.data)  # type: ignore[attr-defined]
    status = _status(fleet)
    assert [o.release for o in status.outcomes] == ["B", "B"]
    back = _rollback(fleet)
    assert back.ok
    assert [o.release for o in back.outcomes] == ["A", "A"]
    for node in nodes:
        assert fleet_lab.current(node) == "A"
