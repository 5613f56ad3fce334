"""Errors of the node fleet: SSH, PM2 and node releases.

SlopopsError
└── FleetError
    ├── HostKeyError               a node's host key is unknown or has changed
    ├── SshAuthError               the node rejected the SSH key
    ├── CommandFailedError         a command on a node exited non-zero
    ├── TransferError              an SFTP upload or download failed
    ├── TarballHashMismatchError   the uploaded tarball's sha256 differs
    ├── NoKnownGoodReleaseError    a rollback has no release to go back to
    ├── NodeBusyError              another deploy or rollback has the node's lock
    ├── ReleaseRecordError         a node's release record is unreadable
    ├── InvalidReleaseError        a release id or tarball is invalid
    └── RolloutFailedError         a rollout failed; carries the per-node report
TransientError
└── NodeUnreachableError           connecting, or a command, timed out or was refused
    └── CommandTimeoutError        a command on a node ran past its timeout
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from slopops.errors import SlopopsError, TransientError

if TYPE_CHECKING:
    from slopops.fleet.report import RolloutReport


class FleetError(SlopopsError):
    """A node operation failed."""

    def __init__(self, node: str, message: str) -> None:
        self.node = node
        super().__init__(message)


class HostKeyError(FleetError):
    """The node's host key is not in known_hosts, or differs from the one there."""

    def __init__(self, node: str, host: str, reason: str) -> None:
        self.host = host
        super().__init__(
            node,
            f"node {node!r}: host key of {host!r} {reason}; verify the key out of "
            "band, then update known_hosts or the node's host_key",
        )


class SshAuthError(FleetError):
    """The node rejected the SSH key."""

    def __init__(self, node: str, user: str, host: str) -> None:
        self.user = user
        self.host = host
        super().__init__(
            node,
            f"node {node!r}: SSH key authentication failed for {user!r} at {host!r}; "
            "check fleet.ssh_key_path and the node's authorized_keys",
        )


class NodeUnreachableError(TransientError):
    """Connecting to the node, or a command on it, timed out or was refused."""

    def __init__(self, node: str, host: str, reason: str) -> None:
        self.node = node
        self.host = host
        super().__init__(
            f"node {node!r} at {host!r} is unreachable: {reason}; check that sshd "
            "runs there and the address and port are right"
        )


class CommandTimeoutError(NodeUnreachableError):
    """A command on a node ran past its timeout and was abandoned."""

    def __init__(self, node: str, host: str, command: str, seconds: float) -> None:
        self.command = command
        self.timeout_seconds = seconds
        super().__init__(
            node, host, f"command {command!r} did not finish in {seconds:g} s"
        )


class CommandFailedError(FleetError):
    """A command on a node exited with a non-zero status."""

    def __init__(self, node: str, command: str, exit_status: int, stderr: str) -> None:
        self.command = command
        self.exit_status = exit_status
        self.stderr = stderr
        last_line = _key_line(stderr)
        super().__init__(
            node,
            f"node {node!r}: command {command!r} exited with {exit_status}: "
            f"{last_line}; fix the node or the release and retry",
        )


class NodeBusyError(FleetError):
    """Another deploy or rollback has the node's lock file."""

    def __init__(self, node: str, path: str, holder: str) -> None:
        self.path = path
        self.holder = holder
        super().__init__(
            node,
            f"node {node!r} is busy: {holder} has the lock {path!r}; wait for it to "
            f"finish, or delete {path!r} on the node if that run is gone",
        )


class TransferError(FleetError):
    """An SFTP upload to, or download from, a node failed."""

    def __init__(
        self,
        node: str,
        path: str,
        reason: str,
        fix: str = "check the directory exists and the SSH user may write to it",
    ) -> None:
        self.path = path
        super().__init__(
            node, f"node {node!r}: SFTP transfer of {path!r} failed: {reason}; {fix}"
        )


def _key_line(stderr: str) -> str:
    # npm ends its stderr with the path of a log, so the first error line is used.
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return "no stderr"
    for line in lines:
        if "error" in line.lower() or "denied" in line.lower():
            return line
    return lines[-1]


class TarballHashMismatchError(FleetError):
    """The tarball on the node does not have the expected sha256."""

    def __init__(self, node: str, release_id: str, expected: str, actual: str) -> None:
        self.release_id = release_id
        self.expected = expected
        self.actual = actual
        super().__init__(
            node,
            f"node {node!r}: uploaded tarball of release {release_id!r} has sha256 "
            f"{actual!r}, expected {expected!r}; rebuild or re-download the release",
        )


class NoKnownGoodReleaseError(FleetError):
    """A rollback found no healthy release, other than the current one, to use."""

    def __init__(self, node: str, current: str | None) -> None:
        self.current = current
        super().__init__(
            node,
            f"node {node!r}: no known good release to roll back to (current is "
            f"{current!r}); deploy a working release instead",
        )


class ReleaseRecordError(FleetError):
    """The release record on a node cannot be parsed."""

    def __init__(self, node: str, path: str, reason: str) -> None:
        self.path = path
        super().__init__(
            node,
            f"node {node!r}: release record {path!r} is invalid ({reason}); "
            "inspect it and repair or remove it",
        )


class InvalidReleaseError(SlopopsError):
    """A release id or tarball cannot be used."""

    def __init__(self, value: str, reason: str) -> None:
        self.value = value
        super().__init__(f"invalid release {value!r}: {reason}")


class RolloutFailedError(SlopopsError):
    """A rollout, rollback or check left nodes failed; ``report`` has each result."""

    def __init__(self, report: RolloutReport) -> None:
        self.report = report
        super().__init__(_rollout_message(report))


def _rollout_message(report: RolloutReport) -> str:
    """Name the release, the reason, the failed and skipped nodes, and the fix.

    A check such as verify-nodes can fail while no node failed (the nodes run
    another release), so the reason alone must then describe the problem.
    """
    if report.release_id is None:
        subject = f"node {report.action}"
    else:
        noun = "rollout" if report.action == "deploy" else report.action
        subject = f"{noun} of release {report.release_id!r}"
        if report.tarball is not None:
            subject += f" from {report.tarball!r}"
    # Only a rollout stops. A check marks its report stopped only to fail it.
    stopped = report.stopped and report.action == "deploy"
    parts = [f"{subject} {'stopped' if stopped else 'failed'}"]
    if report.reason:
        parts[0] += f": {report.reason}"
    failed = [o for o in report.outcomes if not o.ok and o.status != "skipped"]
    skipped = [o.node for o in report.outcomes if o.status == "skipped"]
    if failed:
        first = failed[0]
        label = "error" if len(failed) == 1 else "first error"
        parts.append(f"failed on nodes {[o.node for o in failed]!r}")
        parts.append(
            f"{label} (node {first.node}): {first.error or first.detail or 'none'}"
        )
    if skipped:
        parts.append(f"skipped nodes {skipped!r}")
    if failed:
        again = "deploy it again" if report.action == "deploy" else "retry"
        parts.append(f"fix what the node errors name, then {again}")
    return "; ".join(parts)
