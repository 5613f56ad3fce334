"""Small real services for exercising the stack manager."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import psutil

from slopops.stack.manager import Service
from slopops.stack.process import free_port, spawn

# A server that also starts a grandchild in its own session, as a Prefect
# worker does with flow runs, so stopping by process group alone would miss it.
_SERVER_WITH_GRANDCHILD = """
import http.server, subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                 start_new_session=True)
http.server.ThreadingHTTPServer(
    ("127.0.0.1", int(sys.argv[1])), http.server.SimpleHTTPRequestHandler
).serve_forever()
"""

_LISTENER = """
import socket, sys, time
sock = socket.socket()
sock.bind(("127.0.0.1", int(sys.argv[1])))
sock.listen()
time.sleep(600)
"""


def accepts_connections(port: int) -> bool:
    """Return whether something accepts TCP connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def http_service(
    name: str,
    *,
    port: int | None = None,
    after: tuple[str, ...] = (),
    fail: bool = False,
) -> Service:
    """Return a service running a Python HTTP server with a sleeping grandchild.

    With ``fail``, the process exits at once, so its start raises.
    """
    port = port or free_port()
    code = "import sys; sys.exit(3)" if fail else _SERVER_WITH_GRANDCHILD

    def start(directory: Path) -> int:
        return spawn(
            name,
            [sys.executable, "-c", code, str(port)],
            url=f"http://127.0.0.1:{port}",
            log_path=directory / f"{name}.log",
            pid_path=directory / f"{name}.pid",
            ready=lambda: accepts_connections(port),
            timeout_seconds=20,
        ).pid

    return Service(
        name=name,
        host="127.0.0.1",
        port=port,
        url=f"http://127.0.0.1:{port}",
        start=start,
        ready=lambda: accepts_connections(port),
        after=after,
    )


def start_listener(port: int, directory: Path) -> int:
    """Start a throwaway process listening on ``port``; return its PID."""
    return spawn(
        "listener",
        [sys.executable, "-c", _LISTENER, str(port)],
        url=f"tcp://127.0.0.1:{port}",
        log_path=directory / "listener.log",
        ready=lambda: accepts_connections(port),
        timeout_seconds=20,
    ).pid


def process_tree(pid: int) -> list[int]:
    """Return ``pid`` and the PIDs of all its descendants."""
    root = psutil.Process(pid)
    return [pid, *(child.pid for child in root.children(recursive=True))]


def alive(pids: list[int]) -> list[int]:
    """Return the PIDs in ``pids`` that still run (zombies count as dead)."""
    running = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                running.append(pid)
        except psutil.NoSuchProcess:
            pass
    return running
