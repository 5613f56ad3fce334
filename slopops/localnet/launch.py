"""Start the local chain as a background subprocess."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx

from slopops.stack.process import ServiceProcess, check_port_free, spawn

READY_TIMEOUT_SECONDS = 30.0


def start_localnet(
    *,
    seed: str,
    port: int,
    host: str = "127.0.0.1",
    state_dir: Path,
    timeout_seconds: float = READY_TIMEOUT_SECONDS,
) -> ServiceProcess:
    """Start ``python -m slopops.localnet`` and wait until getHealth returns "ok".

    The log goes to ``state_dir/localnet-<seed>.log`` and the PID file to
    ``state_dir/localnet-<seed>.pid``. Stop it with ``ServiceProcess.stop()``.

    Raises:
        PortInUseError: Another process is listening on ``port``.
        ServiceStartError: The server exited or was not ready in time.
    """
    check_port_free(host, port, f"localnet {seed}")
    url = f"http://{host}:{port}"
    argv = [
        sys.executable,
        "-m",
        "slopops.localnet",
        "--seed",
        seed,
        "--host",
        host,
        "--port",
        str(port),
    ]
    return spawn(
        f"localnet-{seed}",
        argv,
        url=url,
        log_path=state_dir / f"localnet-{seed}.log",
        pid_path=state_dir / f"localnet-{seed}.pid",
        ready=lambda: is_healthy(url),
        timeout_seconds=timeout_seconds,
    )


def is_healthy(url: str) -> bool:
    """Return whether the chain at ``url`` returns "ok" to getHealth."""
    request = {"jsonrpc": "2.0", "id": 1, "method": "getHealth"}
    try:
        response = httpx.post(url, json=request, timeout=1.0)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and response.json().get("result") == "ok"
