"""Run a Prefect server (SQLite) and a process worker as background services.

Both are started as ``prefect`` CLI subprocesses, so this engine module never
imports Prefect itself. ``PREFECT_HOME`` lives in the state directory, and
analytics are off because the machine may have no internet access.
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx

from slopops.stack.process import ServiceProcess, check_port_free, spawn

# On 2 cores, Prefect 3.9 took 9 to 20 s to report healthy on a first start,
# when it creates its SQLite database; the timeout leaves room for a busy machine.
SERVER_TIMEOUT_SECONDS = 90.0
WORKER_TIMEOUT_SECONDS = 60.0
# Seconds between the worker's polls for scheduled runs. Prefect's default is
# 10 s, which would add up to 10 s to every run the demo and the tests start.
WORKER_QUERY_SECONDS = 1


def prefect_executable() -> str:
    """Return the ``prefect`` script installed beside this Python."""
    return str(Path(sys.executable).with_name("prefect"))


def prefect_environment(home: Path, api_url: str | None = None) -> dict[str, str]:
    """Return the variables that set ``PREFECT_HOME`` (and ``PREFECT_API_URL``)."""
    env = {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_CLI_PROMPT": "false",
    }
    if api_url is not None:
        env["PREFECT_API_URL"] = api_url
    return env


def api_url(host: str, port: int) -> str:
    """Return the API URL of a Prefect server at ``host:port``."""
    return f"http://{host}:{port}/api"


def start_prefect_server(
    *,
    state_dir: Path,
    port: int,
    host: str = "127.0.0.1",
    timeout_seconds: float = SERVER_TIMEOUT_SECONDS,
) -> ServiceProcess:
    """Start ``prefect server start`` on ``host:port`` and wait for ``/api/health``.

    Raises:
        PortInUseError: ``port`` is taken.
        ServiceStartError: The server exited or was not healthy in time.
    """
    check_port_free(host, port, "prefect-server")
    state_dir = state_dir.resolve()
    url = api_url(host, port)
    env = prefect_environment(state_dir / "home")
    env["PREFECT_SERVER_API_HOST"] = host
    env["PREFECT_SERVER_API_PORT"] = str(port)
    # A PREFECT_API_URL inherited from the caller would make the server's own
    # services talk to another server.
    env["PREFECT_API_URL"] = url
    argv = [
        prefect_executable(),
        "server",
        "start",
        "--host",
        host,
        "--port",
        str(port),
    ]
    return spawn(
        "prefect-server",
        argv,
        url=url,
        log_path=state_dir / "prefect-server.log",
        pid_path=state_dir / "prefect-server.pid",
        env=env,
        cwd=state_dir,
        ready=lambda: is_server_healthy(url),
        timeout_seconds=timeout_seconds,
    )


def start_prefect_worker(
    *,
    state_dir: Path,
    prefect_home: Path,
    server_api_url: str,
    pool: str,
    cwd: Path,
    name: str = "slopops-local",
    env: dict[str, str] | None = None,
    timeout_seconds: float = WORKER_TIMEOUT_SECONDS,
) -> ServiceProcess:
    """Start a process worker on ``pool``, creating the pool if it is missing.

    The worker runs flows as its own child processes in ``cwd``, with ``env``
    added to their environment; stopping the worker's process tree stops them
    too.

    Raises:
        ServiceStartError: The worker exited or did not report to the server.
    """
    state_dir = state_dir.resolve()
    env = {**(env or {}), **prefect_environment(prefect_home, server_api_url)}
    env["PREFECT_WORKER_QUERY_SECONDS"] = str(WORKER_QUERY_SECONDS)
    # Flow runs inherit it: backups and restores keep a flat peak RSS with
    # two malloc arenas (see slopops/backups/allocator.py).
    env.setdefault("MALLOC_ARENA_MAX", "2")
    argv = [
        prefect_executable(),
        "worker",
        "start",
        "--pool",
        pool,
        "--type",
        "process",
        "--name",
        name,
        "--install-policy",
        "never",
    ]
    return spawn(
        "prefect-worker",
        argv,
        url=f"{server_api_url}/work_pools/{pool}",
        log_path=state_dir / "prefect-worker.log",
        pid_path=state_dir / "prefect-worker.pid",
        env=env,
        cwd=cwd,
        ready=lambda: is_worker_online(server_api_url, pool, name),
        timeout_seconds=timeout_seconds,
    )


def is_server_healthy(url: str) -> bool:
    """Return whether the Prefect API at ``url`` returns 200 from ``/health``."""
    try:
        return httpx.get(f"{url}/health", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def is_worker_online(url: str, pool: str, name: str) -> bool:
    """Return whether worker ``name`` has sent a heartbeat to ``pool``."""
    try:
        response = httpx.post(
            f"{url}/work_pools/{pool}/workers/filter",
            json={"workers": {"status": {"any_": ["ONLINE"]}}},
            timeout=2.0,
        )
    except httpx.HTTPError:
        return False
    if response.status_code != 200:
        return False
    return any(worker.get("name") == name for worker in response.json())
