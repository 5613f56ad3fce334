"""Tasks that deploy, verify and roll back each part of a release bundle.

Program releases go through ``slopops.programs`` (buffer, upgrade, sha256
check, one-transaction rollback from the staged rollback buffer). Node and
MCP releases go through the fleet and MCP engines.
"""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from config import Settings
from slopops.bundles import Bundle, Release
from slopops.programs import ProgramTarget, release_program, rollback_program
from slopops.programs.errors import VerificationError
from slopops.programs.release import verify_release

_OPTIONS = {"cache_policy": NO_CACHE}


@task(name="deploy-programs", **_OPTIONS)
async def deploy_programs(settings: Settings, bundle: Bundle) -> str:
    """Deploy or upgrade every program ELF of the bundle, verified by sha256."""
    logger = get_run_logger()
    done = []
    for entry in bundle.manifest.programs:
        target = ProgramTarget.from_settings(settings, entry.name)
        outcome = await release_program(target, bundle.file(entry))
        logger.info(
            "program %s (%s) now runs sha256 %s at slot %d",
            entry.name,
            outcome.record.program_id,
            outcome.record.sha256,
            outcome.record.slot,
        )
        done.append(f"{entry.name} {outcome.record.kind} {entry.sha256[:12]}")
    return ", ".join(done)


@task(name="verify-programs", **_OPTIONS)
async def verify_programs(settings: Settings, release: Release) -> str:
    """Check that each program's on-chain bytes have the release's sha256."""
    checked = []
    for name, sha256 in release.programs.items():
        target = ProgramTarget.from_settings(settings, name)
        verified = await verify_release(target, sha256)
        checked.append(f"{name} {verified.sha256[:12]} at slot {verified.slot}")
    return ", ".join(checked)


@task(name="rollback-programs", **_OPTIONS)
async def rollback_programs(settings: Settings, good: Release | None) -> str:
    """Put each program back to the previous release and check it is ``good``'s.

    Raises:
        VerificationError: The program now runs bytes other than the last
            known good release's.
    """
    logger = get_run_logger()
    done = []
    names = [p.name for p in settings.programs]
    if good is not None:
        names = [name for name in names if name in good.programs]
    for name in names:
        target = ProgramTarget.from_settings(settings, name)
        outcome = await rollback_program(target)
        expected = good.programs.get(name) if good is not None else None
        if expected is not None and outcome.record.sha256 != expected:
            raise VerificationError(
                name, outcome.record.program_id, expected, outcome.record.sha256
            )
        logger.info("program %s rolled back to sha256 %s", name, outcome.record.sha256)
        done.append(f"{name} back to {outcome.record.sha256[:12]}")
    return ", ".join(done) or "no program to roll back"


def _fleet(settings: Settings):  # type: ignore[no-untyped-def]
    from slopops.fleet import Fleet, resolve_fleet

    return Fleet(resolve_fleet(settings))


@task(name="deploy-nodes", **_OPTIONS)
def deploy_nodes(settings: Settings, bundle: Bundle) -> str:
    """Roll the bundle's node release across the fleet in batches.

    Raises:
        RolloutFailedError: The rollout stopped; the fleet engine has already
            put the touched nodes back on their last known good release.
    """
    from slopops.fleet import Release as NodeRelease
    from slopops.fleet.errors import RolloutFailedError

    entry = bundle.manifest.node_release
    assert entry is not None and bundle.manifest.node_release_id is not None
    release = NodeRelease.from_tarball(
        bundle.file(entry), bundle.manifest.node_release_id, entry.sha256
    )
    report = _fleet(settings).roll_out(release)
    if not report.ok:
        raise RolloutFailedError(report)
    get_run_logger().info(
        "node release %s runs on %d nodes", release.release_id, len(report.outcomes)
    )
    return f"{release.release_id} on {len(report.outcomes)} nodes"


@task(name="verify-nodes", **_OPTIONS)
def verify_nodes(settings: Settings, release: Release) -> str:
    """Check that every node runs the release's node release and is healthy.

    The rollout's failure limit applies here too. Nodes off the release or
    unhealthy within ``fleet.max_failure_percent``, such as a node whose
    failed deploy the rollout tolerated, fail nothing. They are named in the
    returned detail, which goes into the promotion's summary artifact.

    Raises:
        RolloutFailedError: More nodes are off the release or unhealthy than
            the failure limit allows.
    """
    from slopops.fleet.errors import RolloutFailedError
    from slopops.fleet.rollout import failure_limit_exceeded

    report = _fleet(settings).status()
    wrong = [
        outcome
        for outcome in report.outcomes
        if not outcome.ok
        or outcome.release != release.node_release
        or outcome.health != "healthy"
    ]
    total = len(report.outcomes)
    limit = settings.fleet.max_failure_percent
    summary = ", ".join(f"{o.node} on {o.release} ({o.health})" for o in wrong)
    if failure_limit_exceeded(len(wrong), total, limit):
        report.reason = (
            f"nodes {[o.node for o in wrong]!r} do not run healthy release "
            f"{release.node_release!r} ({summary}); deploy that release to them, "
            "or roll them back"
        )
        raise RolloutFailedError(report)
    healthy = f"{total - len(wrong)} of {total} nodes healthy on {release.node_release}"
    if not wrong:
        return healthy
    get_run_logger().warning(
        "nodes off release %s within max_failure_percent %g: %s",
        release.node_release,
        limit,
        summary,
    )
    return f"{healthy}; tolerated within max_failure_percent {limit:g}: {summary}"


@task(name="rollback-nodes", **_OPTIONS)
def rollback_nodes(settings: Settings, good: Release | None) -> str:
    """Put every node back on its last known good release, all at once."""
    from slopops.fleet.errors import RolloutFailedError

    report = _fleet(settings).roll_back()
    if not report.ok:
        raise RolloutFailedError(report)
    releases = sorted({o.release or "unknown" for o in report.outcomes})
    get_run_logger().info("nodes rolled back to %s", releases)
    return f"{len(report.outcomes)} nodes on {', '.join(releases) or 'nothing'}"
