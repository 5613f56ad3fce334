"""Errors of the local stack.

SlopopsError
└── StackError
    ├── PortInUseError       a service's port is taken by another process
    ├── PortConflictError    two services of the stack are given one port
    ├── DuplicateChainError  two chains of the stack are given one seed
    ├── StackConfigError     the saved stack.json is not valid
    ├── ServiceStartError    a service exited or was not ready in time
    │   └── StartCancelledError  the start was cancelled by an interrupt
    └── StackInterruptedError    ``up`` was interrupted and stopped what it started
"""

from __future__ import annotations

from pathlib import Path

from slopops.errors import SlopopsError


class StackError(SlopopsError):
    """A local stack service failed."""


class PortInUseError(StackError):
    """A service cannot bind its port because another process has bound it."""

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


class PortConflictError(StackError):
    """Two services of one stack are given the same host and port."""

    def __init__(self, first: str, second: str, host: str, port: int) -> None:
        self.services = (first, second)
        self.host = host
        self.port = port
        super().__init__(
            f"{first} and {second} are both given port {port} on {host}; "
            "give each service its own port"
        )


class DuplicateChainError(StackError):
    """Two local chains of one stack are given the same seed."""

    def __init__(self, seed: str, ports: tuple[int, int]) -> None:
        self.seed = seed
        self.ports = ports
        super().__init__(
            f"chain {seed!r} is given twice (ports {ports[0]} and {ports[1]}); "
            "give each --chain its own SEED"
        )


class StackConfigError(StackError):
    """The stack options saved in ``<state_dir>/stack.json`` cannot be read."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(
            f"stack options file {str(path)!r} is invalid: {reason}; delete it, "
            f"then run `slopops stack down --state-dir {path.parent}` to stop the "
            "services recorded there, and `slopops stack up` to start again"
        )


class StackInterruptedError(StackError):
    """``stack up`` was interrupted; the services it started are stopped again."""

    def __init__(self, stopped: list[tuple[str, int]]) -> None:
        self.stopped = stopped
        names = ", ".join(f"{name} (pid {pid})" for name, pid in stopped)
        super().__init__(
            f"stack up interrupted; stopped {names or 'nothing'}; "
            "run `slopops stack up` again to start the stack"
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


class StartCancelledError(ServiceStartError):
    """A service's start was cancelled before it was ready; its process is stopped."""

    def __init__(self, service: str, log_path: Path, pid: int | None = None) -> None:
        self.service = service
        self.log_path = log_path
        # None when the start was cancelled before the process was started.
        self.pid = pid
        StackError.__init__(self, f"{service}: start cancelled before it was ready")
