"""A small Fly Machines API client over httpx.

Endpoints used (https://fly.io/docs/machines/api/machines-resource/):
``GET /v1/apps/{app}/machines``, ``GET /v1/apps/{app}/machines/{id}``,
``POST /v1/apps/{app}/machines/{id}`` with ``{"config": ...}`` (update), and
``GET /v1/apps/{app}/machines/{id}/wait?state=started&timeout=N`` (200 when
reached, 408 on timeout). The token goes in ``Authorization: Bearer``.

429 responses are retried after their ``Retry-After`` time, and 5xx
responses and transport errors after an exponential backoff. Any other 4xx
fails at once.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from slopops.mcp.errors import FlyApiError, FlyUnavailableError

logger = logging.getLogger(__name__)

# Fly caps one wait call at 60 s; longer waits loop.
_MAX_WAIT_SECONDS = 60


@dataclass(frozen=True)
class Machine:
    """One Fly machine as the API returns it."""

    id: str
    name: str
    state: str
    instance_id: str
    config: dict[str, Any]
    checks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def image(self) -> str:
        """Return the image reference in the machine's config."""
        return str(self.config.get("image", ""))

    @property
    def checks_passing(self) -> bool:
        """Return whether every health check reports ``passing``."""
        return all(check.get("status") == "passing" for check in self.checks)

    @property
    def failing_checks(self) -> list[str]:
        """Return 'name: status' for each check that does not pass."""
        return [
            f"{check.get('name')}: {check.get('status')}"
            for check in self.checks
            if check.get("status") != "passing"
        ]

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Machine:
        """Build a machine from the API's JSON object."""
        return cls(
            id=str(data["id"]),
            name=str(data.get("name", "")),
            state=str(data.get("state", "")),
            instance_id=str(data.get("instance_id", "")),
            config=dict(data.get("config") or {}),
            checks=list(data.get("checks") or []),
        )


class MachinesClient:
    """Call the Machines API for one app.

    Args:
        base_url: API base, such as ``https://api.machines.dev``.
        app: Fly app name.
        token: API token; never logged.
        timeout_seconds: Timeout of one HTTP request.
        max_attempts: Attempts per request before :class:`FlyUnavailableError`.
        backoff_seconds: First wait after a 5xx or transport error; doubles.
        max_retry_after_seconds: Upper bound on a honoured ``Retry-After``.
        transport: httpx transport, for tests.
        sleep: Waits between attempts; replaced in tests.
    """

    def __init__(
        self,
        base_url: str,
        app: str,
        token: str,
        *,
        timeout_seconds: float = 30.0,
        max_attempts: int = 5,
        backoff_seconds: float = 0.5,
        max_retry_after_seconds: float = 60.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.app = app
        self._max_attempts = max_attempts
        self._backoff_seconds = backoff_seconds
        self._max_retry_after_seconds = max_retry_after_seconds
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_seconds,
            transport=transport,
        )

    def __enter__(self) -> MachinesClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def list_machines(self) -> list[Machine]:
        """Return every machine of the app."""
        data = self._request("GET", f"/v1/apps/{self.app}/machines").json()
        return [Machine.from_api(item) for item in data]

    def get_machine(self, machine_id: str) -> Machine:
        """Return one machine."""
        path = f"/v1/apps/{self.app}/machines/{machine_id}"
        return Machine.from_api(self._request("GET", path).json())

    def update_machine(self, machine_id: str, config: dict[str, Any]) -> Machine:
        """Replace a machine's config (which restarts it) and return the machine."""
        path = f"/v1/apps/{self.app}/machines/{machine_id}"
        logger.info(
            "fly app %s: update machine %s to image %s",
            self.app,
            machine_id,
            config.get("image"),
        )
        return Machine.from_api(
            self._request("POST", path, json={"config": config}).json()
        )

    def wait_for_state(
        self, machine_id: str, state: str, instance_id: str, timeout_seconds: float
    ) -> bool:
        """Wait until the machine reaches ``state``; return False on timeout."""
        path = f"/v1/apps/{self.app}/machines/{machine_id}/wait"
        deadline = time.monotonic() + timeout_seconds
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            seconds = max(1, min(_MAX_WAIT_SECONDS, int(remaining)))
            params = {"state": state, "timeout": seconds}
            if instance_id:
                params["instance_id"] = instance_id
            response = self._request(
                "GET", path, params=params, timeout=seconds + 10, allow={408}
            )
            if response.status_code == 200:
                return True

    def _request(
        self,
        method: str,
        path: str,
        *,
        allow: set[int] = frozenset(),  # type: ignore[assignment]
        **kwargs: Any,
    ) -> httpx.Response:
        reason = "no attempt made"
        for attempt in range(1, self._max_attempts + 1):
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                reason = f"{type(exc).__name__}: {exc}"
                delay = self._backoff_seconds * 2 ** (attempt - 1)
            else:
                if response.is_success or response.status_code in allow:
                    return response
                if response.status_code == 429:
                    reason = "HTTP 429"
                    delay = self._retry_after(response, attempt)
                elif response.status_code >= 500:
                    reason = f"HTTP {response.status_code}"
                    delay = self._backoff_seconds * 2 ** (attempt - 1)
                else:
                    raise FlyApiError(method, path, response.status_code, response.text)
            if attempt < self._max_attempts:
                logger.debug(
                    "fly %s %s: %s; retry %d in %.2f s",
                    method,
                    path,
                    reason,
                    attempt,
                    delay,
                )
                self._sleep(delay)
        raise FlyUnavailableError(method, path, self._max_attempts, reason)

    def _retry_after(self, response: httpx.Response, attempt: int) -> float:
        seconds = _parse_retry_after(response.headers.get("Retry-After", ""))
        if seconds is None:
            seconds = self._backoff_seconds * 2 ** (attempt - 1)
        return min(max(seconds, 0.0), self._max_retry_after_seconds)


def _parse_retry_after(header: str) -> float | None:
    """Return Retry-After in seconds, from either form of RFC 9110 section 10.2.3."""
    header = header.strip()
    if not header:
        return None
    try:
        return float(header)
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return (moment - datetime.now(UTC)).total_seconds()
