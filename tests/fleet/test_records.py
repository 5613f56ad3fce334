"""Release records, rollback planning, batches and the failure limit."""

from __future__ import annotations

import pytest

from slopops.fleet.errors import RolloutFailedError
from slopops.fleet.records import LastDeploy, ReleaseRecord, plan_rollback
from slopops.fleet.report import NodeOutcome, RolloutReport
from slopops.fleet.rollout import batch_count, failure_limit_exceeded, plan_batches


def _deployed(record: ReleaseRecord, release: str, healthy: bool) -> None:
    record.last_deploy = LastDeploy(release, record.current, switched=True)
    record.current = release
    if healthy:
        record.mark_healthy(release)
        record.last_deploy.outcome = "healthy"


def _rolled_back(record: ReleaseRecord) -> None:
    plan = plan_rollback(record)
    assert plan is not None and plan.target is not None
    if plan.mark_bad:
        record.mark_bad(plan.mark_bad)
    assert record.last_deploy is not None
    record.last_deploy.outcome = "rolled_back"
    record.current = plan.target


def test_rollback_a_b_c_ends_on_a() -> None:
    record = ReleaseRecord()
    _deployed(record, "A", healthy=True)
    _deployed(record, "B", healthy=True)
    _rolled_back(record)
    assert record.current == "A"
    _deployed(record, "C", healthy=True)
    _rolled_back(record)
    assert record.current == "A"
    assert record.bad == ["B", "C"]


def test_rollback_of_unconfirmed_release_goes_to_last_good() -> None:
    record = ReleaseRecord()
    _deployed(record, "A", healthy=True)
    _deployed(record, "B", healthy=False)
    plan = plan_rollback(record)
    assert plan is not None
    assert plan.target == "A"
    assert plan.mark_bad == "B"


def test_rollback_after_unswitched_deploy_is_noop() -> None:
    record = ReleaseRecord()
    _deployed(record, "A", healthy=True)
    record.last_deploy = LastDeploy("B", "A", switched=False, outcome="failed")
    plan = plan_rollback(record)
    assert plan is not None
    assert plan.target is None
    assert "never switched" in plan.reason


def test_rollback_twice_is_noop_the_second_time() -> None:
    record = ReleaseRecord()
    _deployed(record, "A", healthy=True)
    _deployed(record, "B", healthy=True)
    _rolled_back(record)
    plan = plan_rollback(record)
    assert plan is not None
    assert plan.target is None


@pytest.mark.parametrize(
    "setup",
    [
        [],
        [("A", True)],
        [("A", False)],
    ],
)
def test_rollback_without_known_good_has_no_plan(setup: list) -> None:
    record = ReleaseRecord()
    for release, healthy in setup:
        _deployed(record, release, healthy)
    assert plan_rollback(record) is None


def test_record_json_round_trip() -> None:
    record = ReleaseRecord()
    _deployed(record, "A", healthy=True)
    record.mark_unpacked("A")
    again = ReleaseRecord.from_json(record.to_json())
    assert again == record


@pytest.mark.parametrize(
    ("failed", "total", "percent", "exceeded"),
    [
        (0, 4, 0, False),
        (1, 4, 0, True),
        (1, 4, 25, False),
        (2, 4, 25, True),
        (1, 10, 10, False),
        (2, 10, 10, True),
        (1, 8, 12.5, False),
        (1, 3, 33.3, True),
        (1, 3, 33.34, False),
        (3, 3, 100, False),
    ],
)
def test_failure_limit_boundary_is_exact(
    failed: int, total: int, percent: float, exceeded: bool
) -> None:
    assert failure_limit_exceeded(failed, total, percent) is exceeded


@pytest.mark.parametrize(
    ("total", "batch_size", "expected"),
    [(20, "5", 5), (20, "25%", 5), (3, "50%", 2), (3, "1%", 1), (2, "10", 10)],
)
def test_batch_count(total: int, batch_size: str, expected: int) -> None:
    assert batch_count(total, batch_size) == expected


def test_plan_batches_keeps_inventory_order() -> None:
    assert plan_batches(list("abcde"), "2") == [["a", "b"], ["c", "d"], ["e"]]


def test_failed_check_without_failed_nodes() -> None:
    # A verification that finds nodes on another release fails no node itself.
    outcome = NodeOutcome("n1", "status", "reported", release="A", health="healthy")
    report = RolloutReport("status", None, [outcome], stopped=True)
    report.reason = "nodes ['n1'] do not run healthy release 'B'"
    message = str(RolloutFailedError(report))
    assert message.startswith("node status failed: nodes ['n1'] do not run")
    assert "[]" not in message
    assert "failed on nodes" not in message


def test_failed_rollback_names_nodes_and_error() -> None:
    outcomes = [
        NodeOutcome("n1", "rollback", "rolled_back", release="A"),
        NodeOutcome("n2", "rollback", "failed", error="node 'n2' is unreachable"),
    ]
    message = str(RolloutFailedError(RolloutReport("rollback", None, outcomes)))
    assert message.startswith("node rollback failed")
    assert "failed on nodes ['n2']" in message
    assert "error (node n2): node 'n2' is unreachable" in message
    assert "n1" not in message
