"""Promotion of program, nodes and MCP, and undo after a failed node step."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from slopops.fleet.local import LocalFleet
from tests.e2e.conftest import Simulation

pytestmark = pytest.mark.timeout(600)


def bundle_with_nodes(
    simulation: Simulation, lab: LocalFleet, name: str, elf: bytes, crash: bool
) -> Path:
    source = simulation.bundle_dir(name, elf, image=f"registry.local/mcp:{name}")
    tarball = lab.release(name, crash_at_start=crash).tarball
    (source / "nodes").mkdir()
    shutil.copyfile(tarball, source / "nodes" / tarball.name)
    return source


def test_failed_node_step_rolls_back_program(
    simulation: Simulation,
    simulation_fleet: LocalFleet,
    good_elf: bytes,
    bad_elf: bytes,
) -> None:
    simulation.reset_records()
    good = bundle_with_nodes(
        simulation, simulation_fleet, "nodes-good", good_elf, False
    )
    run_id = simulation.run("promote/devnet", bundle=str(good))
    simulation.wait(run_id, {"COMPLETED"}, timeout_seconds=300)
    record = simulation.variable("release-record-devnet")
    node_release = record["current"]["node_release"]
    agents, mcp = simulation_fleet.nodes[:2], simulation_fleet.nodes[2]
    for local in agents:
        assert simulation_fleet.current(local.settings) == node_release
    assert simulation_fleet.current(mcp.settings) == "registry.local-mcp-nodes-good"

    crashing = bundle_with_nodes(
        simulation, simulation_fleet, "nodes-crash", bad_elf, True
    )
    run_id = simulation.run("promote/devnet", bundle=str(crashing))
    simulation.wait(run_id, {"FAILED"}, timeout_seconds=300)
    assert simulation.variable("release-record-devnet") == record
    for local in agents:
        assert simulation_fleet.current(local.settings) == node_release
    assert simulation_fleet.current(mcp.settings) == "registry.local-mcp-nodes-good"
    good_sha = record["current"]["programs"]["slop_registry"]
    logs = simulation.wait_for_log(run_id, f"rolled back to sha256 {good_sha}")
    assert f"rolled back to sha256 {good_sha}" in logs
    assert "rolling those back" in logs
