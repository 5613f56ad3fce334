"""Run arlocal, a local Arweave gateway, bound to 127.0.0.1.

arlocal (npm, 1.1.66) listens on every interface and has no host option, so
it starts under ``node -r arlocal_bind.js``, a preload that makes every TCP
server bind the requested host. Each run gets a fresh database directory
because arlocal's ``--dbpath :memory:`` is broken.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import httpx

from slopops.stack.process import ServiceProcess, check_port_free, spawn

logger = logging.getLogger(__name__)

TOOLS_DIR = Path(__file__).resolve().parents[2] / "tools"
ARLOCAL_BIN = TOOLS_DIR / "node_modules" / ".bin" / "arlocal"
BIND_PRELOAD = Path(__file__).with_name("arlocal_bind.js")


def start_arlocal(
    *,
    state_dir: Path,
    port: int,
    host: str = "127.0.0.1",
    timeout_seconds: float = 60.0,
) -> ServiceProcess:
    """Start arlocal on ``host:port`` with an empty database under ``state_dir``.

    Args:
        state_dir: Directory for the database, the log and the PID file; its
            ``db`` folder is deleted first.
        port: TCP port to listen on.
        host: Address to bind; only loopback addresses are accepted.
        timeout_seconds: How long to wait for ``GET /info`` to return 200.

    Raises:
        ValueError: ``host`` is not a loopback address.
        FileNotFoundError: arlocal or node is not installed.
        PortInUseError: ``port`` is taken.
        ServiceStartError: arlocal exited or did not answer in time.
    """
    if not host.startswith("127."):
        raise ValueError(f"arlocal host {host!r} is not a loopback address; use 127.x")
    node = shutil.which("node")
    if node is None or not ARLOCAL_BIN.exists():
        raise FileNotFoundError(
            f"arlocal is not installed at {str(ARLOCAL_BIN)!r} or node is missing; "
            "run `npm ci` in tools/"
        )
    check_port_free(host, port, "arlocal")
    state_dir = state_dir.resolve()
    db_dir = state_dir / "db"
    shutil.rmtree(db_dir, ignore_errors=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    url = f"http://{host}:{port}"
    # arlocal joins --dbpath to its working directory, so pass it relative.
    argv = [
        node,
        "-r",
        str(BIND_PRELOAD),
        str(ARLOCAL_BIN.resolve()),
        str(port),
        "--dbpath",
        "db",
        "--hidelogs",
    ]
    return spawn(
        "arlocal",
        argv,
        url=url,
        log_path=state_dir / "arlocal.log",
        pid_path=state_dir / "arlocal.pid",
        env={"ARLOCAL_HOST": host},
        cwd=state_dir,
        ready=lambda: _answers_info(url),
        timeout_seconds=timeout_seconds,
    )


def _answers_info(url: str) -> bool:
    try:
        return httpx.get(f"{url}/info", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def mine(url: str, blocks: int = 1, timeout_seconds: float = 10.0) -> None:
    """Mine ``blocks`` blocks on the arlocal at ``url``, confirming pending data."""
    response = httpx.get(f"{url}/mine/{blocks}", timeout=timeout_seconds)
    response.raise_for_status()
    logger.debug("mined %d block(s) on %s", blocks, url)


def mint(url: str, address: str, winston: int, timeout_seconds: float = 10.0) -> None:
    """Credit ``winston`` test tokens to ``address`` on the arlocal at ``url``."""
    response = httpx.get(f"{url}/mint/{address}/{winston}", timeout=timeout_seconds)
    response.raise_for_status()
    logger.info("minted %d winston to %s on %s", winston, address, url)
