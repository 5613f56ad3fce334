"""Rolling deploys across several real nodes."""

from __future__ import annotations

import shutil
import threading
import time
from collections import Counter

import httpx
import pytest

from slopops.fleet import Fleet, Release
from slopops.fleet.errors import RolloutFailedError
from slopops.fleet.report import RolloutReport
from tests.fixtures.fleet import FleetLab


def test_rolling_deploy_three_nodes(fleet_lab: FleetLab) -> None:
    nodes = [fleet_lab.add_node(instances=1) for _ in range(3)]
    fleet = Fleet(fleet_lab.fleet(nodes, batch_size="2", batch_pause_seconds=0.2))
    progress: list[tuple[int, int]] = []
    report = fleet.roll_out(
        fleet_lab.release("A"),
        on_batch=lambda done, total, _: progress.append((done, total)),
    )
    assert report.ok, report.rows()
    assert progress == [(1, 2), (2, 2)]
    assert [row["release"] for row in report.rows()] == ["A", "A", "A"]
    assert [row["health"] for row in report.rows()] == ["healthy"] * 3
    for node in nodes:
        assert fleet_lab.current(node) == "A"
        assert httpx.get(node.health_url, timeout=5).json()["release"] == "A"
    status = fleet.status()
    assert [outcome.release for outcome in status.outcomes] == ["A", "A", "A"]


def test_unreachable_node_mid_rollout_rolls_back(fleet_lab: FleetLab) -> None:
    nodes = [fleet_lab.add_node(instances=1) for _ in range(3)]
    fleet = Fleet(fleet_lab.fleet(nodes, batch_size="1"))
    assert fleet.roll_out(fleet_lab.release("A")).ok

    def stop_second_node(done: int, total: int, report: RolloutReport) -> None:
        if done == 1:
            fleet_lab.nodes[1].sshd.stop()  # type: ignore[union-attr]

    report = fleet.roll_out(fleet_lab.release("B"), on_batch=stop_second_node)
    assert report.stopped
    assert not report.ok
    first, second, third = report.outcomes
    assert first.status == "rolled_back"
    assert first.release == "A"
    assert first.health == "healthy"
    assert second.status == "failed"
    assert "unreachable" in (second.error or "")
    assert third.status == "skipped"
    for node in nodes:
        assert fleet_lab.current(node) == "A"
        assert httpx.get(node.health_url, timeout=5).json()["release"] == "A"


def test_failure_percent_boundary(fleet_lab: FleetLab) -> None:
    down = fleet_lab.unreachable_node()
    nodes = [down, *(fleet_lab.add_node(instances=1) for _ in range(3))]
    # One failure of four is exactly 25 %: the rollout goes on.
    at_limit = Fleet(fleet_lab.fleet(nodes, max_failure_percent=25))
    report = at_limit.roll_out(fleet_lab.release("A"))
    assert not report.stopped
    assert report.ok
    assert report.tolerated_failures == 1
    assert [o.status for o in report.outcomes] == ["failed"] + ["deployed"] * 3
    # Just under 25 %, the same failure stops it before any node switches.
    below = Fleet(fleet_lab.fleet(nodes, max_failure_percent=24.99))
    report = below.roll_out(fleet_lab.release("B"))
    assert report.stopped
    assert not report.ok
    assert [o.status for o in report.outcomes] == ["failed"] + ["skipped"] * 3
    for node in nodes[1:]:
        assert fleet_lab.current(node) == "A"


def test_cluster_reload_drops_no_request(fleet_lab: FleetLab) -> None:
    node = fleet_lab.add_node(instances=2)
    fleet = Fleet(fleet_lab.fleet([node]))
    assert fleet.roll_out(fleet_lab.release("A")).ok
    answers: Counter[str] = Counter()
    failures: list[str] = []
    stop = threading.Event()

    def load() -> None:
        # A new connection per request, so no request rides a closing
        # keep-alive. A connection lost in PM2's cluster primary hangs for
        # good, so the timeout only has to outlast a busy daemon's stall.
        with httpx.Client(
            timeout=15, limits=httpx.Limits(max_keepalive_connections=0)
        ) as client:
            for _ in range(20_000):
                if stop.is_set():
                    return
                try:
                    response = client.get(node.health_url)
                    answers[response.json()["release"]] += 1
                except (httpx.HTTPError, ValueError) as exc:
                    failures.append(repr(exc))

    # Four clients and two reloads. Workers that exit as soon as their server
    # closes lost a connection in three of four runs.
    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.3)
        reports = [fleet.roll_out(fleet_lab.release(r)) for r in ("B", "C")]
        time.sleep(0.3)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    for report in reports:
        assert report.ok, report.rows()
    assert failures == []
    assert answers["A"] > 0
    assert answers["C"] > 0


def test_mismatched_release_error_names_it(fleet_lab: FleetLab) -> None:
    nodes = [fleet_lab.add_node(instances=1) for _ in range(2)]
    # The tarball's release.json names A, so nodes report A where B is expected.
    tarball = fleet_lab.base_dir / "B.tar.gz"
    shutil.copy(fleet_lab.release("A").tarball, tarball)
    fleet = Fleet(fleet_lab.fleet(nodes, batch_size="1"))
    report = fleet.roll_out(Release.from_tarball(tarball))
    assert report.stopped
    with pytest.raises(RolloutFailedError) as caught:
        report.raise_for_failure()
    message = str(caught.value)
    assert message.startswith(f"rollout of release 'B' from {str(tarball)!r} stopped")
    assert f"failed on nodes [{nodes[0].name!r}]" in message
    assert "release 'B' failed its health check" in message
    assert f"skipped nodes [{nodes[1].name!r}]" in message
