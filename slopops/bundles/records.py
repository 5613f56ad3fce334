"""Release records: what each environment runs now, ran before, and ran in the past.

A record is one JSON document per environment (the flows keep it in a Prefect
Variable). ``current`` is what the environment runs, ``previous`` is the last
known good release that rollback returns to, and ``past`` holds older
releases, newest first. Functions here are pure: each returns a new record.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from slopops.bundles.manifest import Manifest

Part = Literal["program", "nodes", "mcp"]
PARTS: tuple[Part, ...] = ("program", "nodes", "mcp")
PAST_KEPT = 20


class Release(BaseModel):
    """One release of one environment, part by part."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bundle_id: str
    programs: dict[str, str] = Field(
        default_factory=dict, description="Program name to ELF sha256."
    )
    node_release: str | None = None
    mcp_image: str | None = None
    deployed_at: datetime
    flow_run_id: str | None = None
    verified: bool = Field(False, description="The post-deploy check passed.")
    deploy_started_at: datetime | None = None
    deploy_finished_at: datetime | None = None
    rolled_back_parts: tuple[Part, ...] = ()
    approved_by: str | None = Field(None, description="Approver, when one was needed.")
    approval_reason: str | None = None
    manifest_transaction_id: str | None = Field(
        None, description="Arweave transaction of the manifest, when published."
    )
    manifest_memo_signature: str | None = None

    @classmethod
    def from_manifest(
        cls, manifest: Manifest, *, flow_run_id: str | None = None, **times: datetime
    ) -> Release:
        """Describe the release of ``manifest``, deployed at ``deployed_at`` or now."""
        return cls(
            bundle_id=manifest.bundle_id,
            programs={p.name: p.sha256 for p in manifest.programs},
            node_release=manifest.node_release_id,
            mcp_image=manifest.mcp_image,
            deployed_at=times.pop("deployed_at", datetime.now(UTC)),
            flow_run_id=flow_run_id,
            **times,
        )


class ReleaseRecord(BaseModel):
    """The release history of one environment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    environment: str
    current: Release | None = None
    previous: Release | None = None
    past: tuple[Release, ...] = ()


def record_promotion(record: ReleaseRecord, release: Release) -> ReleaseRecord:
    """Make ``release`` current and keep the old current as last known good."""
    past = record.past
    if record.previous is not None:
        past = (record.previous, *past)[:PAST_KEPT]
    return record.model_copy(
        update={"current": release, "previous": record.current, "past": past}
    )


def record_rollback(record: ReleaseRecord, parts: tuple[Part, ...]) -> ReleaseRecord:
    """Return the record after ``parts`` went back to the last known good release.

    Rolling back every part makes ``previous`` current again. Rolling back some
    parts keeps the current bundle id and marks those parts as rolled back.
    """
    current, good = record.current, record.previous
    if current is None or good is None:
        return record
    if set(parts) >= set(PARTS):
        past = record.past
        return record.model_copy(
            update={
                "current": good,
                "previous": past[0] if past else None,
                "past": (*past[1:],),
            }
        )
    update: dict[str, object] = {
        "rolled_back_parts": tuple(sorted({*current.rolled_back_parts, *parts}))
    }
    if "program" in parts:
        update["programs"] = good.programs
    if "nodes" in parts:
        update["node_release"] = good.node_release
    if "mcp" in parts:
        update["mcp_image"] = good.mcp_image
    return record.model_copy(update={"current": current.model_copy(update=update)})


def soak_remaining_seconds(
    staging: ReleaseRecord, bundle_id: str, soak_seconds: int, now: datetime
) -> float | None:
    """Return how long ``bundle_id`` must still soak on staging.

    Returns:
        None when staging does not run this bundle as a verified, whole
        release; otherwise the seconds left, 0 when the soak is over.
    """
    current = staging.current
    if (
        current is None
        or current.bundle_id != bundle_id
        or not current.verified
        or current.rolled_back_parts
    ):
        return None
    elapsed = now - current.deployed_at
    return max(0.0, (timedelta(seconds=soak_seconds) - elapsed).total_seconds())
