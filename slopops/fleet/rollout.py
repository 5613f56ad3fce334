"""Rolling releases across the fleet: batches, a failure limit, and going back.

Nodes deploy in batches; the nodes of one batch run in parallel, bounded by
``max_parallel_connections``. After each batch the share of failed nodes is
compared with ``max_failure_percent``: a share above it (strictly, computed
with exact fractions) stops the rollout, and every node this rollout switched
goes back to its last known good release. A node whose health check fails
goes back by itself, before the comparison. Nodes of later batches are
reported as skipped.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from typing import TypeVar

from config.settings import FleetSettings, NodeSettings
from slopops.errors import SlopopsError
from slopops.fleet.node import NodeOptions, NodeRelease
from slopops.fleet.release import Release
from slopops.fleet.report import NodeOutcome, RolloutReport
from slopops.fleet.ssh import SshConnector

logger = logging.getLogger(__name__)

T = TypeVar("T")
BatchRunner = Callable[[list[NodeSettings]], list[NodeOutcome]]
ProgressCallback = Callable[[int, int, RolloutReport], None]


def batch_count(total: int, batch_size: str) -> int:
    """Return the nodes per batch for ``batch_size`` ('5' or '25%'), at least 1."""
    if batch_size.endswith("%"):
        percent = Fraction(batch_size[:-1])
        return max(1, math.ceil(total * percent / 100))
    return max(1, int(batch_size))


def plan_batches(nodes: Sequence[T], batch_size: str) -> list[list[T]]:
    """Split ``nodes`` into batches in inventory order."""
    size = batch_count(len(nodes), batch_size)
    return [list(nodes[start : start + size]) for start in range(0, len(nodes), size)]


def failure_limit_exceeded(failed: int, total: int, max_failure_percent: float) -> bool:
    """Return whether ``failed`` of ``total`` nodes is above the allowed percent.

    Exactly at the limit is allowed: 1 failure of 10 nodes passes 10 %.
    ``Fraction(str(x))`` keeps a percent such as 12.5 exact.
    """
    if total <= 0:
        return False
    return Fraction(failed * 100, total) > Fraction(str(max_failure_percent))


def run_rollout(
    release_id: str,
    batches: Sequence[list[NodeSettings]],
    max_failure_percent: float,
    pause_seconds: float,
    deploy_batch: BatchRunner,
    rollback_batch: BatchRunner,
    on_batch: ProgressCallback | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> RolloutReport:
    """Deploy batch after batch, and stop and go back past the failure limit.

    The batch runners do the work, so the same logic drives threads (the CLI)
    and mapped Prefect tasks (the flows).

    Args:
        release_id: Release being rolled out, for the report.
        batches: Nodes to deploy, batch by batch.
        max_failure_percent: Failed share of all nodes allowed, in percent.
        pause_seconds: Wait between two batches.
        deploy_batch: Deploys one batch and returns one outcome per node.
        rollback_batch: Rolls back the given nodes and returns their outcomes.
        on_batch: Called after each batch with (batches done, batch count,
            report so far).
        sleep: Waits ``pause_seconds``; replaced in tests.
    """
    total = sum(len(batch) for batch in batches)
    report = RolloutReport("deploy", release_id)
    for index, batch in enumerate(batches):
        logger.info(
            "release %s: batch %d/%d: %s",
            release_id,
            index + 1,
            len(batches),
            [node.name for node in batch],
        )
        report.outcomes.extend(deploy_batch(batch))
        failed = sum(not outcome.ok for outcome in report.outcomes)
        if failure_limit_exceeded(failed, total, max_failure_percent):
            done, remaining = batches[: index + 1], batches[index + 1 :]
            _stop(report, done, remaining, rollback_batch, failed)
            if on_batch:
                on_batch(index + 1, len(batches), report)
            return report
        if on_batch:
            on_batch(index + 1, len(batches), report)
        if index + 1 < len(batches) and pause_seconds > 0:
            sleep(pause_seconds)
    failed = sum(not outcome.ok for outcome in report.outcomes)
    if failed:
        report.tolerated_failures = failed
        report.reason = (
            f"{failed} of {total} nodes failed, within max_failure_percent "
            f"{max_failure_percent:g}"
        )
        logger.warning("release %s: %s", release_id, report.reason)
    return report


def _stop(
    report: RolloutReport,
    done: Sequence[list[NodeSettings]],
    remaining: Sequence[list[NodeSettings]],
    rollback_batch: BatchRunner,
    failed: int,
) -> None:
    total = sum(len(batch) for batch in (*done, *remaining))
    report.stopped = True
    report.reason = f"{failed} of {total} nodes failed, above the failure limit"
    logger.warning("release %s: rollout stopped: %s", report.release_id, report.reason)
    switched = {o.node for o in report.outcomes if o.ok and o.status == "deployed"}
    nodes = [node for batch in done for node in batch if node.name in switched]
    positions = {outcome.node: i for i, outcome in enumerate(report.outcomes)}
    for outcome in rollback_batch(nodes):
        outcome.detail = f"rollout stopped; {outcome.detail or 'went back'}"
        report.outcomes[positions[outcome.node]] = outcome
    for batch in remaining:
        for node in batch:
            report.outcomes.append(
                NodeOutcome(node.name, "deploy", "skipped", detail="rollout stopped")
            )


class Fleet:
    """Deploy, roll back and inspect a set of nodes with threads.

    Args:
        fleet: Fleet settings with absolute paths (see :func:`resolve_fleet`).
        connector: SSH connector; built from ``fleet`` when omitted.
    """

    def __init__(
        self, fleet: FleetSettings, connector: SshConnector | None = None
    ) -> None:
        self.fleet = fleet
        self.connector = connector or SshConnector(fleet)
        self.options = NodeOptions.from_fleet(fleet)

    def deploy_node(self, node: NodeSettings, release: Release) -> NodeOutcome:
        """Deploy ``release`` to one node; errors become a failed outcome."""
        return self._guard(node, "deploy", lambda n: n.deploy(release))

    def rollback_node(self, node: NodeSettings) -> NodeOutcome:
        """Roll one node back to its last known good release."""
        return self._guard(node, "rollback", lambda n: n.rollback())

    def status_node(self, node: NodeSettings) -> NodeOutcome:
        """Report one node's current release and health."""
        return self._guard(node, "status", lambda n: n.status())

    def run_parallel(
        self, nodes: Sequence[NodeSettings], work: Callable[[NodeSettings], NodeOutcome]
    ) -> list[NodeOutcome]:
        """Run ``work`` on every node at once, bounded by the connection cap."""
        if not nodes:
            return []
        workers = min(len(nodes), self.fleet.max_parallel_connections)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(work, nodes))

    def roll_out(
        self,
        release: Release,
        nodes: Sequence[NodeSettings] | None = None,
        on_batch: ProgressCallback | None = None,
    ) -> RolloutReport:
        """Deploy ``release`` across the fleet in batches; see :func:`run_rollout`."""
        nodes = list(self.fleet.nodes if nodes is None else nodes)
        report = run_rollout(
            release.release_id,
            plan_batches(nodes, self.fleet.batch_size),
            self.fleet.max_failure_percent,
            self.fleet.batch_pause_seconds,
            lambda batch: self.run_parallel(
                batch, lambda node: self.deploy_node(node, release)
            ),
            lambda batch: self.run_parallel(batch, self.rollback_node),
            on_batch,
        )
        report.tarball = str(release.tarball)
        return report

    def roll_back(self, nodes: Sequence[NodeSettings] | None = None) -> RolloutReport:
        """Roll every node back to its last known good release, all at once."""
        nodes = list(self.fleet.nodes if nodes is None else nodes)
        report = RolloutReport("rollback", None)
        report.outcomes = self.run_parallel(nodes, self.rollback_node)
        return report

    def status(self, nodes: Sequence[NodeSettings] | None = None) -> RolloutReport:
        """Report every node's release and health."""
        nodes = list(self.fleet.nodes if nodes is None else nodes)
        report = RolloutReport("status", None)
        report.outcomes = self.run_parallel(nodes, self.status_node)
        return report

    def _guard(
        self,
        node: NodeSettings,
        action: str,
        work: Callable[[NodeRelease], NodeOutcome],
    ) -> NodeOutcome:
        try:
            with self.connector.connect(node) as connection:
                return work(NodeRelease(connection, self.options))
        except SlopopsError as exc:
            logger.error("node %s: %s failed: %s", node.name, action, exc)
            return NodeOutcome(node.name, action, "failed", error=str(exc))
        except Exception as exc:
            # One node's unexpected error must not end the rollout before it
            # has put the other nodes back.
            logger.exception("node %s: %s failed unexpectedly", node.name, action)
            error = f"unexpected {type(exc).__name__}: {exc}"
            return NodeOutcome(node.name, action, "failed", error=error)
