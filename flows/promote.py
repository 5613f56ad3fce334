"""promote: move one release bundle into an environment.

Order: load and verify the bundle, read the record, and run the pre-flight
checks in parallel. Mainnet then checks its gate (verified on devnet and
soaked) and waits for approval where the profile requires it. Last, under the
environment's global concurrency limit, program, nodes and MCP are deployed,
checked and recorded. When a
step fails, the parts already deployed in this run go back to the last known
good release, in reverse order.

Approval uses ``suspend_flow_run``: the run's process exits while it waits and
the flow starts again from the top after resume, so a worker restart does not
strand it. Everything before the suspend only reads, so running it twice is
harmless.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.concurrency.sync import concurrency
from prefect.flow_runs import suspend_flow_run
from prefect.states import Cancelled, Completed, State

from config import Settings
from flows.approval import ApprovalInput, approval_form, describe_changes
from flows.common import current_run_id, load_bundle, settings_for
from flows.parts import (
    PartResult,
    carried_parts,
    deploy_part,
    rollback_part,
    verify_part,
)
from slopops.bundles import (
    Bundle,
    Part,
    Release,
    ReleaseRecord,
    record_promotion,
    soak_remaining_seconds,
)
from slopops.errors import SlopopsError
from tasks.bundles import PublishedManifest
from tasks.bundles import publish_manifest as publish_manifest_task
from tasks.checks import (
    check_authority,
    check_balance,
    check_fly_token,
    check_genesis,
    check_nodes,
)
from tasks.records import read_record, write_record

STAGING = {"mainnet-beta": "devnet"}


class PromotionGateError(SlopopsError):
    """The bundle may not enter this environment yet.

    Attributes:
        environment: The target environment.
        bundle_id: The bundle that was refused.
    """

    def __init__(self, environment: str, bundle_id: str, reason: str) -> None:
        self.environment = environment
        self.bundle_id = bundle_id
        super().__init__(
            f"bundle {bundle_id[:12]!r} may not be promoted to {environment}: {reason}"
        )


def deploy_lock_name(environment: str) -> str:
    """Return the global concurrency limit serializing deploys to ``environment``."""
    return f"deploy-{environment}"


@flow(name="promote", persist_result=True)
def promote(
    environment: str,
    bundle: str,
    approval_timeout_seconds: int | None = None,
    publish_manifest: bool = False,
) -> State:
    """Promote a release bundle to ``environment``.

    Args:
        environment: local, devnet or mainnet (mainnet-beta).
        bundle: A bundle id in the store or a bundle directory.
        approval_timeout_seconds: How long to wait for approval; defaults to
            the profile's promotion.approval_timeout_seconds.
        publish_manifest: Upload the manifest to Arweave and record its
            transaction id in an on-chain memo before deploying.
    """
    logger = get_run_logger()
    settings = settings_for(environment)
    release_bundle = load_bundle(bundle, settings)
    bundle_id = release_bundle.bundle_id
    record = read_record(settings.environment)
    logger.info("promoting bundle %s to %s", bundle_id, settings.environment)
    if record.current is not None and record.current.bundle_id == bundle_id:
        return Completed(message=f"bundle {bundle_id[:12]} is already current")
    _run_preflight(settings, release_bundle)
    _check_gate(settings, bundle_id)
    approval: ApprovalInput | None = None
    if settings.promotion.requires_approval:
        timeout = (
            approval_timeout_seconds or settings.promotion.approval_timeout_seconds
        )
        approval = _request_approval(settings, record, release_bundle, timeout)
        if approval.decision == "reject":
            return _rejected(settings, bundle_id, approval)
    published = None
    if publish_manifest:
        published = publish_manifest_task.submit(settings, release_bundle).result()
    with concurrency(deploy_lock_name(settings.environment), occupy=1, strict=True):
        release = _deploy_all(settings, release_bundle, approval, published)
    return Completed(
        message=f"bundle {bundle_id[:12]} runs on {settings.environment} "
        f"(deploy took {_deploy_seconds(release):.1f} s)"
    )


def _run_preflight(settings: Settings, bundle: Bundle) -> None:
    futures = [
        check_genesis.submit(settings),
        check_authority.submit(settings),
        check_balance.submit(settings, bundle),
        check_nodes.submit(settings, bundle),
        check_fly_token.submit(settings, bundle),
    ]
    # result() re-raises the first failed check's error, after all have run.
    for future in futures:
        future.wait()
    for future in futures:
        future.result()


def _check_gate(settings: Settings, bundle_id: str) -> None:
    staging = STAGING.get(settings.environment)
    if staging is None:
        return
    soak_seconds = settings.promotion.soak_seconds
    remaining = soak_remaining_seconds(
        read_record(staging), bundle_id, soak_seconds, datetime.now(UTC)
    )
    if remaining is None:
        raise PromotionGateError(
            settings.environment,
            bundle_id,
            f"{staging} does not run it as a verified release; promote it to "
            f"{staging} first",
        )
    if remaining > 0:
        raise PromotionGateError(
            settings.environment,
            bundle_id,
            f"it has soaked on {staging} for less than {soak_seconds} s; "
            f"retry in {remaining:.0f} s",
        )


def _request_approval(
    settings: Settings, record: ReleaseRecord, bundle: Bundle, timeout_seconds: int
) -> ApprovalInput:
    form = approval_form(bundle.bundle_id).with_initial_data(
        description=describe_changes(settings.environment, record, bundle.manifest)
    )
    get_run_logger().info(
        "waiting up to %d s for approval of bundle %s",
        timeout_seconds,
        bundle.bundle_id,
    )
    # A fixed key lets the rerun after resume load this input instead of
    # suspending again.
    decision = suspend_flow_run(
        wait_for_input=form,
        timeout=timeout_seconds,
        key=f"approve-{bundle.bundle_id[:16]}",
    )
    get_run_logger().info(
        "%s by %s for bundle %s: %s",
        decision.decision,
        decision.approver,
        bundle.bundle_id,
        decision.reason or "no reason given",
    )
    return decision


def _rejected(settings: Settings, bundle_id: str, decision: ApprovalInput) -> State:
    create_markdown_artifact(
        key=f"approval-{settings.environment}",
        markdown=(
            f"Bundle `{bundle_id}` was **rejected** for {settings.environment} by "
            f"{decision.approver}: {decision.reason or 'no reason given'}. "
            "Nothing was deployed."
        ),
    )
    return Cancelled(
        name="Rejected",
        message=f"rejected by {decision.approver}: {decision.reason or 'no reason'}",
    )


def _deploy_all(
    settings: Settings,
    bundle: Bundle,
    approval: ApprovalInput | None,
    published: PublishedManifest | None,
) -> Release:
    logger = get_run_logger()
    # Re-read under the lock: another promotion may have finished meanwhile.
    record = read_record(settings.environment)
    release = _describe_release(bundle, approval, published)
    done: list[Part] = []
    results: list[PartResult] = []
    try:
        for part in carried_parts(bundle.manifest):
            results.append(_timed(part, "deploy", deploy_part, settings, bundle))
            done.append(part)
        for part in done:
            results.append(_timed(part, "verify", verify_part, settings, release))
    except BaseException:
        logger.error(
            "promotion of %s to %s failed after %s; rolling those back",
            bundle.bundle_id,
            settings.environment,
            done or "no part",
        )
        _undo(settings, record, done)
        raise
    release = release.model_copy(
        update={"verified": True, "deploy_finished_at": datetime.now(UTC)}
    )
    write_record(record_promotion(record, release))
    _summary_artifact(settings, bundle, results)
    return release


def _describe_release(
    bundle: Bundle,
    approval: ApprovalInput | None,
    published: PublishedManifest | None,
) -> Release:
    update: dict[str, str | None] = {}
    if published is not None:
        update["manifest_transaction_id"] = published.arweave_transaction_id
        update["manifest_memo_signature"] = published.memo_signature
    if approval is not None:
        update["approved_by"] = approval.approver
        update["approval_reason"] = approval.reason or None
    release = Release.from_manifest(
        bundle.manifest,
        flow_run_id=current_run_id(),
        deploy_started_at=datetime.now(UTC),
    )
    return release.model_copy(update=update)


def _undo(settings: Settings, record: ReleaseRecord, done: list[Part]) -> None:
    for part in reversed(done):
        try:
            rollback_part(part, settings, record.current)
        except Exception:  # noqa: BLE001 - keep undoing the other parts
            get_run_logger().exception(
                "rollback of %s on %s failed; fix it by hand",
                part,
                settings.environment,
            )


def _timed(part: Part, action: str, step, *args) -> PartResult:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    detail = step(part, *args)
    return PartResult(part, action, str(detail), time.monotonic() - start)


def _deploy_seconds(release: Release) -> float:
    if release.deploy_started_at is None or release.deploy_finished_at is None:
        return 0.0
    return (release.deploy_finished_at - release.deploy_started_at).total_seconds()


def _summary_artifact(
    settings: Settings, bundle: Bundle, results: list[PartResult]
) -> None:
    lines = [
        f"## Bundle `{bundle.bundle_id}` on {settings.environment}",
        "",
        "| part | step | seconds | detail |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r.part} | {r.action} | {r.seconds:.1f} | {r.detail} |" for r in results
    ]
    create_markdown_artifact(
        key=f"promotion-{settings.environment}", markdown="\n".join(lines)
    )
