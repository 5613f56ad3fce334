"""A fault-injecting HTTP proxy in front of arlocal, on 127.0.0.1.

Each rule matches a method and path prefix and acts on the matching requests
it is given: return a status, stall past the client's timeout, or corrupt the
response body. Requests no rule claims are forwarded unchanged.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx


@dataclass
class Fault:
    """Act on the matching requests number ``skip + 1`` to ``skip + times``."""

    method: str
    path_prefix: str
    action: str  # "status", "stall" or "corrupt"
    status: int = 503
    stall_seconds: float = 0.0
    skip: int = 0
    times: int = 1
    seen: int = field(default=0, init=False)

    def claims(self, method: str, path: str) -> bool:
        """Count a matching request and return whether this fault acts on it."""
        if method != self.method or not path.startswith(self.path_prefix):
            return False
        self.seen += 1
        return self.skip < self.seen <= self.skip + self.times


class FaultProxy:
    """The proxy's faults and the requests it has forwarded."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.url = ""

    def claim(self, method: str, path: str) -> Fault | None:
        """Record a request and return the fault that acts on it, if any."""
        with self.lock:
            self.requests.append((method, path))
            # Every fault counts every matching request; the first claim acts.
            claimed = [fault for fault in self.faults if fault.claims(method, path)]
        return claimed[0] if claimed else None


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            fault = proxy.claim(self.command, self.path)
            if fault is not None and fault.action == "status":
                self._reply(fault.status, b"injected fault")
                return
            if fault is not None and fault.action == "stall":
                time.sleep(fault.stall_seconds)
            headers = {"Content-Type": self.headers.get("Content-Type", "")}
            upstream = httpx.request(
                self.command,
                proxy.upstream + self.path,
                content=body,
                headers=headers,
                timeout=30,
            )
            content = upstream.content
            if fault is not None and fault.action == "corrupt":
                content = _corrupt_chunk(content)
            self._reply(
                upstream.status_code,
                content,
                upstream.headers.get("content-type", "text/plain"),
            )

        def _reply(
            self, status: int, content: bytes, content_type: str = "text/plain"
        ) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)
            except (BrokenPipeError, ConnectionResetError):
                # The client gave up (a stalled request timed out).
                pass

        do_GET = _forward
        do_POST = _forward

    return Handler


def _corrupt_chunk(content: bytes) -> bytes:
    # Flip the first base64url character of the chunk's data.
    body = json.loads(content)
    data = body["chunk"]
    body["chunk"] = ("B" if data[0] != "B" else "C") + data[1:]
    return json.dumps(body).encode()


@contextmanager
def fault_proxy(upstream: str) -> Iterator[FaultProxy]:
    """Run a :class:`FaultProxy` in front of ``upstream`` on 127.0.0.1."""
    proxy = FaultProxy(upstream)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(proxy))
    server.daemon_threads = True
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
