"""Errors of the local stack.

SlopopsError
└── StackError
    ├── PortInUseError       a service's port is taken by another process
    └── ServiceStartError    a service exited or was not ready in time
"""

from __future__ import annotations

from pathlib import Path

from slopops.errors import SlopopsError


class StackError(SlopopsError):
    """A local stack service failed."""


class PortInUseError(StackError):
    """A service cannot bind its port because another process holds it."""

    def __init__(self, service: str, host: str, port: int, owner: str | None) -> None:
        self.service = service
        self.host = host
        self.port = port
        self.owner = owner
        held = f" by {owner}" if owner else ""
        super().__init__(
            f"{service}: port {port} on {host} is already in use{held}; stop that "
            f"process or choose another port"
        )


class ServiceStartError(StackError):
    """A service exited during start-up or did not become ready in time."""

    def __init__(self, service: str, reason: str, log_path: Path) -> None:
        from slopops.stack.process import tail

        self.service = service
        self.log_path = log_path
        last_lines = tail(log_path, 15)
        super().__init__(
            f"{service} failed to start: {reason}; see {str(log_path)!r}"
            + (f"\n{last_lines}" if last_lines else "")
        )
