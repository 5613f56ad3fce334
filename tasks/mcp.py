"""Prefect tasks for the MCP server: deploy, verify and roll back.

Each task takes the environment's ``Settings`` and one plain value. With
``mcp.mode = "fly"`` they drive Fly Machines through ``slopops.mcp``. With
``mode = "local"`` the MCP server is a PM2 app released through the node
path: the "image" is a release tarball path, or an image reference that
the sample app stands in for (see :mod:`slopops.mcp.local`). Each task
publishes a table artifact of the machines or the node. Only
:class:`slopops.errors.TransientError` (Machines API 5xx, 429, timeouts, an
unreachable node) is retried.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from config import Settings
from slopops.bundles import Bundle, Release
from slopops.fleet.report import RolloutReport
from slopops.mcp import FlyRelease, McpReport, open_fly_release
from slopops.mcp.errors import McpInvariantError
from slopops.mcp.local import (
    deploy_local,
    local_release,
    local_release_id,
    rollback_local,
    status_local,
)
from tasks.retries import retry_transient

_OPTIONS: dict[str, Any] = {
    "cache_policy": NO_CACHE,
    "retries": 2,
    "retry_delay_seconds": [5, 30],
    "retry_condition_fn": retry_transient,
}


@task(name="deploy-mcp", **_OPTIONS)
def deploy_mcp(settings: Settings, bundle: Bundle) -> str:
    """Deploy the bundle's MCP image (or, in local mode, its tarball).

    Raises:
        McpReleaseFailedError: The Fly deploy failed. The recorded images are
            back unless ``report.restored`` is false.
        RolloutFailedError: The local deploy failed; the node went back.
    """
    image = bundle.manifest.mcp_image
    if image is None:
        raise ValueError("the bundle carries no MCP image; nothing to deploy")
    return deploy_mcp_image.fn(settings, image)


@task(name="deploy-mcp-image", **_OPTIONS)
def deploy_mcp_image(settings: Settings, image: str) -> str:
    """Deploy one MCP image reference (or local tarball path) and check it."""
    if settings.mcp.mode == "local":
        release = local_release(settings, image)
        report = deploy_local(settings, release)
        _publish_nodes(report, "mcp-local-deploy")
        report.raise_for_failure()
        return f"local MCP runs {release.release_id}"
    with _fly(settings) as fly:
        mcp_report = fly.deploy(image)
    _publish_machines(mcp_report)
    mcp_report.raise_for_failure()
    get_run_logger().info("MCP app %s runs %s", mcp_report.app, image)
    return f"{len(mcp_report.machines)} machines on {image}"


@task(name="verify-mcp", **_OPTIONS)
def verify_mcp(settings: Settings, release: Release) -> str:
    """Check that the MCP server runs ``release.mcp_image`` and is healthy.

    Raises:
        McpInvariantError: A machine runs another image, or too few run.
        RolloutFailedError: The local app runs another release or is unhealthy.
    """
    expected = release.mcp_image
    if settings.mcp.mode == "local":
        report = status_local(settings)
        _publish_nodes(report, "mcp-local-status")
        release_id = local_release_id(expected) if expected else None
        outcome = report.outcomes[0]
        if outcome.health != "healthy" or (
            release_id and outcome.release != release_id
        ):
            expected_text = f", expected {release_id!r}" if release_id else ""
            report.reason = (
                f"local MCP node {outcome.node} runs release {outcome.release!r} "
                f"({outcome.health}){expected_text}; deploy the expected release with "
                "`slopops mcp deploy`, or roll back with `slopops mcp rollback`"
            )
            report.stopped = True
            report.raise_for_failure()
        return f"local MCP healthy on {outcome.release}"
    with _fly(settings) as fly:
        mcp_report = fly.status()
    _publish_machines(mcp_report)
    if not mcp_report.ok or (expected and mcp_report.image != expected):
        raise McpInvariantError(
            mcp_report.app,
            mcp_report.error or f"machines run {mcp_report.image!r}, not {expected!r}",
        )
    return f"{len(mcp_report.machines)} machines healthy on {mcp_report.image}"


@task(name="rollback-mcp", **_OPTIONS)
def rollback_mcp(settings: Settings, good: Release | None) -> str:
    """Put the last known good MCP image (or local release) back.

    ``good`` is the environment's last known good release, when known; the
    engine's own record decides the target, and a differing result is logged.
    """
    logger = get_run_logger()
    if settings.mcp.mode == "local":
        report = rollback_local(settings)
        _publish_nodes(report, "mcp-local-rollback")
        report.raise_for_failure()
        return f"local MCP on {report.outcomes[0].release}"
    with _fly(settings) as fly:
        mcp_report = fly.rollback()
    _publish_machines(mcp_report)
    mcp_report.raise_for_failure()
    if good is not None and good.mcp_image and mcp_report.image != good.mcp_image:
        logger.warning(
            "MCP rolled back to %s, but the last known good release has %s",
            mcp_report.image,
            good.mcp_image,
        )
    return f"MCP on {mcp_report.image} ({mcp_report.detail})"


@contextmanager
def _fly(settings: Settings) -> Iterator[FlyRelease]:
    release = open_fly_release(settings)
    try:
        yield release
    finally:
        release.client.close()


def _publish_machines(report: McpReport) -> None:
    state = "ok" if report.ok else f"failed: {report.error}"
    create_table_artifact(
        table=report.rows(),
        key=f"mcp-{report.action}",
        description=f"MCP {report.action} of {report.image} on {report.app}: {state}",
    )


def _publish_nodes(report: RolloutReport, key: str) -> None:
    state = "ok" if report.ok else "failed"
    create_table_artifact(
        table=report.rows(), key=key, description=f"Local MCP {report.action}: {state}"
    )
