"""Errors of MCP server releases on Fly Machines.

SlopopsError
└── McpError
    ├── MissingTokenError        no Fly API token is configured
    ├── FlyApiError              the Machines API rejected a request (4xx)
    ├── NoMachinesError          the app has no machines to update
    ├── MachineNotHealthyError   a machine did not start or failed its checks
    ├── PublicHealthError        the public health URL did not return 200
    ├── McpInvariantError        machines run different images or too few run
    ├── NoKnownGoodImageError    a rollback has no image to go back to
    └── McpReleaseFailedError    a deploy failed; carries the report
TransientError
└── FlyUnavailableError          5xx, 429 or transport errors outlasted retries
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from slopops.errors import SlopopsError, TransientError

if TYPE_CHECKING:
    from slopops.mcp.report import McpReport


class McpError(SlopopsError):
    """An MCP server release failed."""


class MissingTokenError(McpError):
    """No Fly API token is configured."""

    def __init__(self, app: str) -> None:
        self.app = app
        super().__init__(
            f"no Fly API token for app {app!r}; set mcp.fly_api_token_file or "
            "SLOPOPS_MCP__FLY_API_TOKEN"
        )


class FlyApiError(McpError):
    """The Machines API responded with a status that a retry cannot fix."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.body = body
        super().__init__(
            f"Machines API {method} {path!r} failed with HTTP {status}: "
            f"{body[:200]!r}; check the app name, the token and the request"
        )


class FlyUnavailableError(TransientError):
    """The Machines API kept failing with 5xx, 429 or transport errors."""

    def __init__(self, method: str, path: str, attempts: int, reason: str) -> None:
        self.method = method
        self.path = path
        self.attempts = attempts
        super().__init__(
            f"Machines API {method} {path!r} still failing after {attempts} "
            f"attempts ({reason}); retry later"
        )


class NoMachinesError(McpError):
    """The Fly app has no machines."""

    def __init__(self, app: str) -> None:
        self.app = app
        super().__init__(
            f"Fly app {app!r} has no machines; create them with `fly deploy` first"
        )


class MachineNotHealthyError(McpError):
    """A machine did not reach ``started`` or its checks did not pass in time."""

    def __init__(self, machine_id: str, image: str, reason: str) -> None:
        self.machine_id = machine_id
        self.image = image
        super().__init__(
            f"machine {machine_id!r} on image {image!r} is not healthy: {reason}; "
            "check the image and the machine's logs (`fly logs`)"
        )


class PublicHealthError(McpError):
    """The public health URL did not return 200."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        super().__init__(
            f"public health check {url!r} failed: {reason}; check the app's "
            "services and the health route"
        )


class McpInvariantError(McpError):
    """Machines run more than one image, or fewer than the minimum are started."""

    def __init__(self, app: str, reason: str) -> None:
        self.app = app
        super().__init__(
            f"Fly app {app!r} is not in a safe state: {reason}; inspect it with "
            "`slopops mcp status` and roll back"
        )


class NoKnownGoodImageError(McpError):
    """No known good image other than the current one is recorded."""

    def __init__(self, app: str, current: str | None) -> None:
        self.app = app
        self.current = current
        super().__init__(
            f"Fly app {app!r}: no known good image to roll back to (current is "
            f"{current!r}); deploy a working image instead"
        )


class McpReleaseFailedError(McpError):
    """A deploy failed; the recorded images were put back (see ``report``)."""

    def __init__(self, report: McpReport) -> None:
        self.report = report
        super().__init__(
            f"{report.action} of image {report.image!r} on app {report.app!r} "
            f"failed: {report.error}; "
            + (
                "the previous images were restored"
                if report.restored
                else "the app may need a manual rollback"
            )
        )
