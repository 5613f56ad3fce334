"""Per-machine outcomes of an MCP release on Fly, and the release report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class MachineOutcome:
    """One machine after a deploy, rollback or status check."""

    machine_id: str
    name: str
    image_before: str
    image_after: str
    state: str
    health: str = "unknown"


@dataclass
class McpReport:
    """The result of one MCP deploy, rollback or status check on Fly.

    Attributes:
        action: ``deploy``, ``rollback`` or ``status``.
        app: Fly app name.
        image: Image the action aimed for; None for a status check.
        ok: Whether the action reached its goal.
        error: Why it failed, when it failed.
        restored: Whether a failed deploy put every recorded image back.
        detail: A note, such as why a rollback changed nothing.
    """

    action: str
    app: str
    image: str | None
    machines: list[MachineOutcome] = field(default_factory=list)
    ok: bool = False
    error: str | None = None
    restored: bool = False
    detail: str | None = None

    def rows(self) -> list[dict[str, str]]:
        """Return one table row per machine."""
        return [
            {
                "machine": machine.machine_id,
                "name": machine.name,
                "image": machine.image_after,
                "state": machine.state,
                "health": machine.health,
            }
            for machine in self.machines
        ]

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain JSON values."""
        return asdict(self)

    def raise_for_failure(self) -> None:
        """Raise :class:`McpReleaseFailedError` unless the report is ok."""
        from slopops.mcp.errors import McpReleaseFailedError

        if not self.ok:
            raise McpReleaseFailedError(self)
