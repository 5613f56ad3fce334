"""verify-nodes against real nodes, with the rollout's failure limit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prefect import flow

from config import Settings, load_settings
from slopops.bundles import Release
from slopops.fleet import Fleet
from slopops.fleet.errors import RolloutFailedError
from slopops.fleet.local import LocalFleet
from tasks.releases import verify_nodes

SIMULATION_DIR = Path(__file__).resolve().parents[2] / "config" / "simulation"

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.timeout(300)]


def _settings(lab: LocalFleet, max_failure_percent: float) -> Settings:
    """Return a profile whose fleet is the lab: two nodes up, one unreachable."""
    nodes = [node.settings for node in lab.nodes]
    fleet = lab.fleet(nodes, max_failure_percent=max_failure_percent)
    return load_settings("local", SIMULATION_DIR).model_copy(update={"fleet": fleet})


def _release(node_release: str) -> Release:
    return Release(
        bundle_id="0" * 64, node_release=node_release, deployed_at=datetime.now(UTC)
    )


@flow
def _verify(settings: Settings, release: Release) -> str:
    return verify_nodes(settings, release)


@pytest.fixture(scope="module")
def rolled_out() -> Iterator[LocalFleet]:
    """Roll release r1 over two nodes and an unreachable third, tolerated at 34 %.

    The tests only read the nodes' state, so they share one rollout.
    """
    lab = LocalFleet()
    try:
        lab.add_node(instances=1)
        lab.add_node(instances=1)
        lab.unreachable_node()
        nodes = [node.settings for node in lab.nodes]
        fleet = lab.fleet(nodes, max_failure_percent=34)
        report = Fleet(fleet).roll_out(lab.release("r1"))
        assert report.ok
        assert report.tolerated_failures == 1
        yield lab
    finally:
        lab.close()


def test_tolerated_failure_passes_verification(rolled_out: LocalFleet) -> None:
    detail = _verify(_settings(rolled_out, 34), _release("r1"))
    unreachable = rolled_out.nodes[2].settings.name
    assert detail.startswith("2 of 3 nodes healthy on r1")
    assert "tolerated within max_failure_percent 34" in detail
    assert unreachable in detail


def test_failure_beyond_limit_fails_verification(rolled_out: LocalFleet) -> None:
    with pytest.raises(RolloutFailedError) as caught:
        _verify(_settings(rolled_out, 0), _release("r1"))
    assert rolled_out.nodes[2].settings.name in str(caught.value.report.reason)


def test_wrong_release_fails_verification(rolled_out: LocalFleet) -> None:
    with pytest.raises(RolloutFailedError) as caught:
        _verify(_settings(rolled_out, 34), _release("r2"))
    assert "'r2'" in str(caught.value.report.reason)
    message = str(caught.value)
    assert message.startswith("node status failed: nodes [")
    assert "do not run healthy release 'r2'" in message
    for node in rolled_out.nodes:
        assert node.settings.name in message
    assert "nodes []" not in message
