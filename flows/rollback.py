"""rollback: put an environment's parts back on the last known good release.

No approval: rollback is the safe direction. It takes the environment's
deploy concurrency slot, so it never runs at the same time as a promotion's
deploy steps. It ends with an artifact that compares the measured time with
the recovery objectives: programs 30 minutes, nodes and MCP 5 minutes.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.concurrency.sync import concurrency
from prefect.states import Completed, State

from flows.common import settings_for
from flows.parts import PartResult, rollback_part
from flows.promote import deploy_lock_name
from slopops.bundles import PARTS, Part, Release, record_rollback
from slopops.errors import SlopopsError
from tasks.records import read_record, write_record

# Recovery time objectives, in seconds.
RECOVERY_OBJECTIVES_SECONDS: dict[Part, int] = {
    "program": 30 * 60,
    "nodes": 5 * 60,
    "mcp": 5 * 60,
}


class NoKnownGoodReleaseError(SlopopsError):
    """The environment has no previous release to go back to.

    Attributes:
        environment: The environment that was asked to roll back.
    """

    def __init__(self, environment: str) -> None:
        self.environment = environment
        super().__init__(
            f"{environment} has no last known good release in its record; "
            "promote a release first or roll back by hand"
        )


def parts_of(release: Release) -> list[Part]:
    """Return the parts a recorded release carries, in rollback order."""
    parts: list[Part] = []
    if release.programs:
        parts.append("program")
    if release.node_release is not None:
        parts.append("nodes")
    if release.mcp_image is not None:
        parts.append("mcp")
    return parts


@flow(name="rollback", persist_result=True)
def rollback(
    environment: str,
    parts: list[Part] | None = None,
    reason: str = "manual",
    detected_at: str | None = None,
) -> State:
    """Roll ``parts`` (default: all that changed) back to the last known good release.

    Args:
        environment: local, devnet or mainnet (mainnet-beta).
        parts: Any of program, nodes, mcp; all parts when empty.
        reason: Why, for the log and the artifact.
        detected_at: ISO time the problem was detected (a monitor event's
            time); the artifact measures recovery from it.
    """
    logger = get_run_logger()
    settings = settings_for(environment)
    started = time.monotonic()
    with concurrency(deploy_lock_name(settings.environment), occupy=1, strict=True):
        record = read_record(settings.environment)
        good = record.previous
        if record.current is None or good is None:
            raise NoKnownGoodReleaseError(settings.environment)
        chosen = [p for p in (parts or parts_of(record.current)) if p in PARTS]
        logger.info(
            "rolling back %s on %s to bundle %s: %s",
            chosen,
            settings.environment,
            good.bundle_id,
            reason,
        )
        results = []
        for part in chosen:
            part_start = time.monotonic()
            detail = rollback_part(part, settings, good)
            results.append(
                PartResult(part, "rollback", str(detail), time.monotonic() - part_start)
            )
        # Every part the release carries went back: the previous release is whole again.
        covered = set(chosen) >= set(parts_of(record.current))
        write_record(record_rollback(record, PARTS if covered else tuple(chosen)))
    total = time.monotonic() - started
    since_detection = _seconds_since(detected_at)
    _recovery_artifact(settings.environment, good, results, total, since_detection)
    return Completed(
        message=f"{', '.join(chosen)} back on bundle {good.bundle_id[:12]} "
        f"in {total:.1f} s"
    )


def _seconds_since(iso_time: str | None) -> float | None:
    if not iso_time:
        return None
    try:
        moment = datetime.fromisoformat(iso_time)
    except ValueError:
        get_run_logger().warning("ignoring invalid detected_at %r", iso_time)
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (datetime.now(UTC) - moment).total_seconds()


def _recovery_artifact(
    environment: str,
    good: Release,
    results: list[PartResult],
    total_seconds: float,
    since_detection: float | None,
) -> None:
    lines = [
        f"## Rollback of {environment} to bundle `{good.bundle_id}`",
        "",
        "| part | seconds | objective (s) | within objective | detail |",
        "|---|---|---|---|---|",
    ]
    for result in results:
        objective = RECOVERY_OBJECTIVES_SECONDS[result.part]
        within = "yes" if result.seconds <= objective else "**no**"
        lines.append(
            f"| {result.part} | {result.seconds:.1f} | {objective} | {within} | "
            f"{result.detail} |"
        )
    lines += ["", f"Rollback run: {total_seconds:.1f} s."]
    if since_detection is not None:
        lines.append(f"From detection to recovered: {since_detection:.1f} s.")
    create_markdown_artifact(key=f"rollback-{environment}", markdown="\n".join(lines))
