"""Prefect tasks for the node fleet: one task run per node, mapped per batch.

``deploy_node``, ``rollback_node`` and ``node_status`` each act on one node
and return its outcome as a plain dict (see
:meth:`slopops.fleet.report.NodeOutcome.to_dict`). A node that fails comes
back as a failed outcome, not as an exception, so the rollout can count it
against ``max_failure_percent``. Only an invalid tarball raises. They are
not retried, because a node deploy that half ran must not run again blindly,
and a failed node goes back to its last known good release inside the deploy.

``roll_out_nodes``, ``roll_back_nodes`` and ``check_nodes`` are plain
functions to call from a flow. They map the node tasks over each batch,
keep a progress artifact up to date, and end with a table artifact of
node, status, release and health. Fleet settings must have absolute paths:
pass ``slopops.fleet.resolve_fleet(settings)``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect import get_run_logger, task, unmapped
from prefect.artifacts import (
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE

from config.settings import FleetSettings, NodeSettings
from slopops.fleet import Fleet, Release, plan_batches, run_rollout
from slopops.fleet.report import NodeOutcome, RolloutReport

_OPTIONS: dict[str, Any] = {"cache_policy": NO_CACHE, "retries": 0}


@task(name="deploy-node", task_run_name="deploy-{node.name}", **_OPTIONS)
def deploy_node(
    fleet: FleetSettings,
    node: NodeSettings,
    tarball: Path,
    release_id: str,
    sha256: str,
) -> dict[str, Any]:
    """Deploy one release tarball to one node and return the node's outcome.

    Args:
        fleet: Fleet settings with absolute key and known_hosts paths.
        node: The node to deploy to.
        tarball: The release tarball on this machine.
        release_id: Release id; the app's health route must return it.
        sha256: Expected sha256 of the tarball, checked on the node.
    """
    release = Release.from_tarball(tarball, release_id, sha256)
    outcome = Fleet(fleet).deploy_node(node, release)
    _log(outcome)
    return outcome.to_dict()


@task(name="rollback-node", task_run_name="rollback-{node.name}", **_OPTIONS)
def rollback_node(fleet: FleetSettings, node: NodeSettings) -> dict[str, Any]:
    """Roll one node back to its last known good release; return its outcome."""
    outcome = Fleet(fleet).rollback_node(node)
    _log(outcome)
    return outcome.to_dict()


@task(name="node-status", task_run_name="status-{node.name}", **_OPTIONS)
def node_status(fleet: FleetSettings, node: NodeSettings) -> dict[str, Any]:
    """Return one node's current release and health."""
    outcome = Fleet(fleet).status_node(node)
    _log(outcome)
    return outcome.to_dict()


def roll_out_nodes(fleet: FleetSettings, release: Release) -> RolloutReport:
    """Roll ``release`` across the fleet in batches of mapped ``deploy_node`` runs.

    Call it from a sync flow. Past ``max_failure_percent`` the rollout stops and
    every node it switched runs ``rollback_node``. Check ``report.ok``, or
    call ``report.raise_for_failure()``.
    """
    key = _key(f"nodes-deploy-{release.release_id}")
    # Called from a sync flow, so this returns the id, not a coroutine.
    progress: UUID = create_progress_artifact(  # type: ignore[assignment]
        progress=0.0,
        key=f"{key}-progress",
        description=f"Rollout of node release {release.release_id}",
    )

    def deploy_batch(batch: list[NodeSettings]) -> list[NodeOutcome]:
        futures = deploy_node.map(
            unmapped(fleet),
            batch,
            unmapped(release.tarball),
            unmapped(release.release_id),
            unmapped(release.sha256),
        )
        return [NodeOutcome.from_dict(result) for result in futures.result()]

    def on_batch(done: int, total: int, report: RolloutReport) -> None:
        update_progress_artifact(progress, 100.0 * done / total)

    report = run_rollout(
        release.release_id,
        plan_batches(list(fleet.nodes), fleet.batch_size),
        fleet.max_failure_percent,
        fleet.batch_pause_seconds,
        deploy_batch,
        lambda batch: _map(rollback_node, fleet, batch),
        on_batch,
    )
    report.tarball = str(release.tarball)
    update_progress_artifact(progress, 100.0)
    publish_node_table(report, key)
    return report


def roll_back_nodes(fleet: FleetSettings) -> RolloutReport:
    """Roll every node back at once with mapped ``rollback_node`` runs."""
    report = RolloutReport("rollback", None, _map(rollback_node, fleet, fleet.nodes))
    publish_node_table(report, _key("nodes-rollback"))
    return report


def check_nodes(fleet: FleetSettings) -> RolloutReport:
    """Report every node's release and health with mapped ``node_status`` runs."""
    report = RolloutReport("status", None, _map(node_status, fleet, fleet.nodes))
    publish_node_table(report, _key("nodes-status"))
    return report


def publish_node_table(report: RolloutReport, key: str) -> None:
    """Create a table artifact: one row per node with status, release and health."""
    summary = "ok" if report.ok else f"failed: {report.reason or 'see rows'}"
    subject = report.release_id or "fleet"
    create_table_artifact(
        table=report.rows(),
        key=_key(key),
        description=f"Node {report.action} of {subject}: {summary}",
    )


def _map(
    work: Any, fleet: FleetSettings, nodes: list[NodeSettings]
) -> list[NodeOutcome]:
    if not nodes:
        return []
    futures = work.map(unmapped(fleet), list(nodes))
    return [NodeOutcome.from_dict(result) for result in futures.result()]


def _log(outcome: NodeOutcome) -> None:
    logger = get_run_logger()
    if outcome.ok:
        logger.info(
            "node %s: %s %s, release %s, %s",
            outcome.node,
            outcome.action,
            outcome.status,
            outcome.release,
            outcome.health,
        )
    else:
        logger.error(
            "node %s: %s failed: %s", outcome.node, outcome.action, outcome.error
        )
    for warning in outcome.warnings:
        logger.warning("node %s: %s", outcome.node, warning)


def _key(raw: str) -> str:
    """Return an artifact key: lowercase letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9-]+", "-", raw.lower()).strip("-")
