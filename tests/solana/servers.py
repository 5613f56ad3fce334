"""Small scripted JSON-RPC servers on 127.0.0.1 for failover tests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx


@dataclass
class Reply:
    """What the server sends back for one request."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0


# Called with the parsed JSON-RPC request (a list for a batch); returns the reply.
Script = Callable[[Any], Reply]


@dataclass
class ScriptedServer:
    """A running server, its URL and the requests it received."""

    url: str
    requests: list[dict[str, Any]]
    query_strings: list[str]

    def methods(self) -> list[str]:
        """Return each request's method; a batch shows as ``batch:<method>``."""
        names = []
        for request in self.requests:
            if isinstance(request, list):
                names.append("batch:" + ",".join({r["method"] for r in request}))
            else:
                names.append(request["method"])
        return names


def result(request: dict[str, Any], value: Any) -> Reply:
    """Reply with a JSON-RPC result."""
    return Reply(body={"jsonrpc": "2.0", "id": request["id"], "result": value})


def forward(upstream: str) -> Script:
    """Return a script that passes every request to ``upstream``."""

    def script(request: dict[str, Any]) -> Reply:
        response = httpx.post(upstream, json=request, timeout=10.0)
        return Reply(status=response.status_code, body=response.json())

    return script


@contextmanager
def scripted_server(script: Script) -> Iterator[ScriptedServer]:
    """Serve ``script`` on a free port of 127.0.0.1 until the block ends."""
    requests: list[dict[str, Any]] = []
    query_strings: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            length = int(self.headers.get("content-length", "0"))
            request = json.loads(self.rfile.read(length))
            requests.append(request)
            query_strings.append(self.path.partition("?")[2])
            reply = script(request)
            time.sleep(reply.delay_seconds)
            payload = json.dumps(reply.body).encode() if reply.body is not None else b""
            try:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield ScriptedServer(f"http://{host}:{port}", requests, query_strings)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
