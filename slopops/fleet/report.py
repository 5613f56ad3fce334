"""Per-node outcomes of a deploy, rollback or status, and the rollout report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

NodeStatus = Literal[
    "deployed", "rolled_back", "unchanged", "failed", "skipped", "reported"
]
Health = Literal["healthy", "unhealthy", "unknown"]

FORK_MODE_WARNING = (
    "app runs in fork mode, so pm2 reload drops requests; use exec_mode "
    "'cluster' with wait_ready"
)
PM2_NOT_RUNNING = (
    "PM2 is not running: no live daemon for PM2_HOME, so no app is managed; "
    "deploy a release to start it"
)


@dataclass
class NodeOutcome:
    """The result of one operation on one node.

    Attributes:
        node: Node name.
        action: ``deploy``, ``rollback`` or ``status``.
        status: What happened: ``deployed``, ``rolled_back`` (a failed deploy
            went back, or a rollback switched), ``unchanged`` (a no-op
            rollback), ``failed``, ``skipped`` (the rollout stopped first) or
            ``reported`` (status).
        release: Release that ``current`` points to afterwards, if known.
        health: Health check result of ``release``.
        switched: Whether this operation switched ``current``.
        error: The error message when the operation failed.
        warnings: Notes for the operator, such as fork mode.
    """

    node: str
    action: str
    status: NodeStatus
    release: str | None = None
    health: Health = "unknown"
    switched: bool = False
    error: str | None = None
    detail: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return whether the operation reached its goal on this node."""
        return self.status in ("deployed", "rolled_back", "unchanged", "reported") and (
            self.error is None
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the outcome as plain JSON values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NodeOutcome:
        """Rebuild an outcome from :meth:`to_dict` output."""
        return cls(**data)


@dataclass
class RolloutReport:
    """Outcomes of every node of one rollout, rollback or status run.

    ``tarball`` is the path of the release's tarball, for messages.
    """

    action: str
    release_id: str | None
    outcomes: list[NodeOutcome] = field(default_factory=list)
    stopped: bool = False
    reason: str | None = None
    tolerated_failures: int = 0
    tarball: str | None = None

    @property
    def ok(self) -> bool:
        """Return whether the run did not stop and no node failed beyond the limit.

        A rollout that ends with failed nodes within ``max_failure_percent``
        sets ``tolerated_failures`` and is ok; its rows still show them.
        """
        failed = sum(not outcome.ok for outcome in self.outcomes)
        return not self.stopped and failed <= self.tolerated_failures

    def rows(self) -> list[dict[str, str]]:
        """Return one table row per node: node, status, release, health, note."""
        rows = []
        for outcome in self.outcomes:
            notes = [note for note in (outcome.detail, *outcome.warnings) if note]
            note = outcome.error or "; ".join(notes)
            rows.append(
                {
                    "node": outcome.node,
                    "status": outcome.status,
                    "release": outcome.release or "-",
                    "health": outcome.health,
                    "note": note or "",
                }
            )
        return rows

    def raise_for_failure(self) -> None:
        """Raise :class:`RolloutFailedError` unless the report is ok."""
        from slopops.fleet.errors import RolloutFailedError

        if not self.ok:
            raise RolloutFailedError(self)
