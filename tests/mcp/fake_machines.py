"""A local fake of the Fly Machines API, the one fake the tests allow.

It serves the endpoints the client uses on 127.0.0.1 and models what a
release depends on:

- states: an updated machine gets a new instance id and is ``replacing``,
  then ``starting``, then ``started`` after ``start_seconds``. An image
  listed in ``crash_images`` ends ``stopped`` instead;
- health checks: ``critical`` while starting, then ``passing``, or still
  ``critical`` for images in ``failing_images``;
- the public health URL ``/health``: 200 when every machine is started and
  passing, 503 otherwise;
- faults: queued answers such as 500, or 429 with ``Retry-After``, returned
  once each before the real answer;
- ``/wait``: blocks until the state is reached, or answers 408 after
  ``timeout`` seconds.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from slopops.stack.process import free_port


@dataclass
class Fault:
    """A response sent once, in place of the real one, to a matching request."""

    method: str
    path_pattern: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeMachine:
    """A machine's stored state."""

    id: str
    name: str
    config: dict[str, Any]
    instance_id: str
    updated_at: float
    state: str = "started"


@dataclass
class RecordedRequest:
    """One request the fake received, with the time it arrived."""

    method: str
    path: str
    status: int
    at: float


class FakeMachinesApi:
    """The fake's state and HTTP server."""

    def __init__(self, app: str, token: str, start_seconds: float = 0.3) -> None:
        self.app = app
        self.token = token
        self.start_seconds = start_seconds
        self.machines: dict[str, FakeMachine] = {}
        self.failing_images: set[str] = set()
        self.crash_images: set[str] = set()
        self.faults: list[Fault] = []
        self.requests: list[RecordedRequest] = []
        self.lock = threading.Lock()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FakeMachinesApi:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def add_machine(self, image: str, name: str | None = None) -> str:
        """Add a started, passing machine running ``image``; return its id."""
        machine_id = uuid.uuid4().hex[:14]
        config = {
            "image": image,
            "metadata": {},
            "checks": {"health": {"type": "http", "port": 8080, "path": "/health"}},
        }
        self.machines[machine_id] = FakeMachine(
            machine_id, name or f"mcp-{len(self.machines)}", config, _instance(), 0.0
        )
        return machine_id

    def images(self) -> list[str]:
        """Return each machine's image, in id order."""
        return [self.machines[key].config["image"] for key in sorted(self.machines)]

    def states(self) -> list[str]:
        """Return each machine's current state, in id order."""
        return [self.state(self.machines[key]) for key in sorted(self.machines)]

    def state(self, machine: FakeMachine) -> str:
        """Return the machine's state at this moment."""
        elapsed = time.monotonic() - machine.updated_at
        if elapsed < self.start_seconds / 3:
            return "replacing"
        if elapsed < self.start_seconds:
            return "starting"
        if machine.config["image"] in self.crash_images:
            return "stopped"
        return "started"

    def checks(self, machine: FakeMachine) -> list[dict[str, Any]]:
        """Return the machine's health checks at this moment."""
        healthy = (
            self.state(machine) == "started"
            and machine.config["image"] not in self.failing_images
        )
        status = "passing" if healthy else "critical"
        return [{"name": "health", "status": status, "output": status}]

    def view(self, machine: FakeMachine) -> dict[str, Any]:
        """Return the machine as the API shows it."""
        return {
            "id": machine.id,
            "name": machine.name,
            "state": self.state(machine),
            "region": "ams",
            "instance_id": machine.instance_id,
            "config": machine.config,
            "checks": self.checks(machine),
        }

    def take_fault(self, method: str, path: str) -> Fault | None:
        """Remove and return the first queued fault that matches the request."""
        with self.lock:
            for index, fault in enumerate(self.faults):
                if fault.method == method and re.search(fault.path_pattern, path):
                    return self.faults.pop(index)
        return None


def _instance() -> str:
    return uuid.uuid4().hex[:26].upper()


def _handler(api: FakeMachinesApi) -> type[BaseHTTPRequestHandler]:
    prefix = f"/v1/apps/{api.app}/machines"

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return

        def do_GET(self) -> None:  # noqa: N802
            self._dispatch("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._dispatch("POST")

        def _dispatch(self, method: str) -> None:
            parsed = urlparse(self.path)
            path, query = parsed.path, parse_qs(parsed.query)
            if path == "/health":
                self._public_health()
                return
            if self.headers.get("Authorization") != f"Bearer {api.token}":
                self._send(401, {"error": "unauthorized"}, method, path)
                return
            fault = api.take_fault(method, path)
            if fault is not None:
                self._send(
                    fault.status, {"error": "injected"}, method, path, fault.headers
                )
                return
            self._route(method, path, query)

        def _route(self, method: str, path: str, query: dict[str, list[str]]) -> None:
            if path == prefix and method == "GET":
                body = [api.view(m) for m in api.machines.values()]
                self._send(200, body, method, path)
                return
            match = re.fullmatch(prefix + r"/([0-9a-f]+)(/wait)?", path)
            machine = api.machines.get(match.group(1)) if match else None
            if machine is None or match is None:
                self._send(404, {"error": "not found"}, method, path)
            elif match.group(2) and method == "GET":
                self._wait(machine, query, method, path)
            elif method == "GET":
                self._send(200, api.view(machine), method, path)
            else:
                self._update(machine, method, path)

        def _update(self, machine: FakeMachine, method: str, path: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            payload = json.loads(self.rfile.read(length) or b"{}")
            config = payload.get("config")
            if not isinstance(config, dict) or not config.get("image"):
                self._send(400, {"error": "config.image is required"}, method, path)
                return
            with api.lock:
                machine.config = config
                machine.instance_id = _instance()
                machine.updated_at = time.monotonic()
            self._send(200, api.view(machine), method, path)

        def _wait(
            self,
            machine: FakeMachine,
            query: dict[str, list[str]],
            method: str,
            path: str,
        ) -> None:
            state = query.get("state", ["started"])[0]
            timeout = float(query.get("timeout", ["60"])[0])
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if api.state(machine) == state:
                    self._send(200, {"ok": True}, method, path)
                    return
                time.sleep(0.02)
            self._send(408, {"error": "deadline_exceeded"}, method, path)

        def _public_health(self) -> None:
            machines = list(api.machines.values())
            healthy = all(
                api.state(m) == "started" and api.checks(m)[0]["status"] == "passing"
                for m in machines
            )
            self._send(200 if healthy else 503, {"healthy": healthy}, "GET", "/health")

        def _send(
            self,
            status: int,
            body: Any,
            method: str,
            path: str,
            headers: dict[str, str] | None = None,
        ) -> None:
            data = json.dumps(body).encode()
            api.requests.append(RecordedRequest(method, path, status, time.monotonic()))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler
