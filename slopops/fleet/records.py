"""The release record each node keeps in ``<app_dir>/.slopops/record.json``.

The record lives on the node so that a rollback needs only the SSH connection.
It lists the releases that passed their health check (``known_good``, oldest
first), the releases found bad, the unpack order (for pruning) and the last
deploy. A rollback goes to the last known good release, never to the
directory before ``current``: after A, a bad B rolled back and a bad C rolled
back, the node runs A again.

Write order on a deploy: ``last_deploy`` (switched false) before the switch,
``current`` and switched true right after it, ``known_good`` after the health
check passes.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

DeployOutcome = Literal["started", "healthy", "rolled_back", "failed"]


@dataclass
class LastDeploy:
    """The most recent deploy on the node."""

    release: str
    previous: str | None
    switched: bool = False
    outcome: DeployOutcome = "started"


@dataclass
class ReleaseRecord:
    """Release history of one node."""

    current: str | None = None
    known_good: list[str] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)
    unpacked: list[str] = field(default_factory=list)
    last_deploy: LastDeploy | None = None

    @property
    def last_known_good(self) -> str | None:
        """Return the newest release that passed its health check, if any."""
        return self.known_good[-1] if self.known_good else None

    def mark_unpacked(self, release: str) -> None:
        """Move ``release`` to the end of the unpack order."""
        _move_to_end(self.unpacked, release)

    def mark_healthy(self, release: str) -> None:
        """Record that ``release`` passed its health check."""
        _move_to_end(self.known_good, release)
        if release in self.bad:
            self.bad.remove(release)

    def mark_bad(self, release: str) -> None:
        """Record that ``release`` failed: no rollback target until it passes again."""
        if release in self.known_good:
            self.known_good.remove(release)
        if release not in self.bad:
            self.bad.append(release)

    def protected(self) -> set[str]:
        """Return the releases that pruning must keep: current and last known good."""
        return {name for name in (self.current, self.last_known_good) if name}

    def to_json(self) -> str:
        """Serialize the record as indented JSON."""
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> ReleaseRecord:
        """Parse a record; raise ``ValueError`` or ``TypeError`` when malformed."""
        data: dict[str, Any] = json.loads(text)
        last = data.pop("last_deploy", None)
        record = cls(**data)
        record.last_deploy = LastDeploy(**last) if last else None
        return record


@dataclass(frozen=True)
class RollbackPlan:
    """A rollback decision: switch to ``target``, or change nothing when it is None."""

    target: str | None
    mark_bad: str | None
    reason: str


def plan_rollback(record: ReleaseRecord) -> RollbackPlan | None:
    """Decide a node's rollback from its record; None means no target exists.

    - ``current`` is not the last known good release (a deploy switched and
      was not confirmed healthy): go back to the last known good release.
    - ``current`` is the last known good and the last deploy installed it: it is
      now found bad, so go to the known good release before it.
    - Otherwise the last deploy never switched or was already rolled back, and
      the rollback is a no-op.
    """
    current = record.current
    last_good = record.last_known_good
    if current is None:
        return None
    if current != last_good:
        if last_good is None:
            return None
        return RollbackPlan(last_good, current, f"{current!r} was never confirmed")
    last = record.last_deploy
    if last is not None and last.release == current and last.outcome == "healthy":
        earlier = [name for name in record.known_good[:-1] if name not in record.bad]
        if not earlier:
            return None
        return RollbackPlan(earlier[-1], current, f"{current!r} is rolled back")
    if last is not None and not last.switched:
        reason = f"the deploy of {last.release!r} never switched; {current!r} stays"
    else:
        reason = f"{current!r} is already the last known good release"
    return RollbackPlan(None, None, reason)


def _move_to_end(items: list[str], item: str) -> None:
    if item in items:
        items.remove(item)
    items.append(item)
