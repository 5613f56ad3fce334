"""PM2 on this machine, always with its own ``PM2_HOME``.

Any pm2 command, even ``pm2 --version``, starts a daemon in ``PM2_HOME``
(``~/.pm2`` when unset), so every call here sets it. A daemon is stopped with
``pm2 kill`` under the same ``PM2_HOME`` and then checked by the PID in
``PM2_HOME/pm2.pid``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from slopops.stack.process import is_alive, stop_pid

logger = logging.getLogger(__name__)

PM2_BIN_VARIABLE = "SLOPOPS_PM2_BIN"
_TOOLS_PM2 = Path(__file__).resolve().parents[2] / "tools/node_modules/.bin/pm2"


def pm2_bin() -> Path:
    """Return the pm2 executable: ``$SLOPOPS_PM2_BIN`` or the one in tools/."""
    configured = os.environ.get(PM2_BIN_VARIABLE)
    return Path(configured) if configured else _TOOLS_PM2


def run_pm2(
    pm2_home: Path, *args: str, timeout_seconds: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run one pm2 command with ``PM2_HOME`` set and return the finished process."""
    env = {**os.environ, "PM2_HOME": str(pm2_home)}
    return subprocess.run(
        [str(pm2_bin()), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_seconds,
        check=False,
    )


def jlist(pm2_home: Path) -> list[dict[str, Any]]:
    """Return ``pm2 jlist`` parsed: one dict per process."""
    result = run_pm2(pm2_home, "jlist")
    result.check_returncode()
    return list(json.loads(result.stdout or "[]"))


def daemon_pid(pm2_home: Path) -> int | None:
    """Return the PID of the daemon of ``pm2_home`` if it runs."""
    try:
        pid = int((pm2_home / "pm2.pid").read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if is_alive(pid) else None


def kill_daemon(pm2_home: Path, timeout_seconds: float = 30.0) -> None:
    """Stop the daemon of ``pm2_home`` and its apps, and check that it is gone.

    ``pm2 kill`` runs only when a daemon is running, because it would start one.
    A daemon still alive afterwards is stopped by PID.
    """
    pid = daemon_pid(pm2_home)
    if pid is None:
        return
    logger.info("stopping PM2 daemon pid %d (PM2_HOME %s)", pid, pm2_home)
    result = run_pm2(pm2_home, "kill", timeout_seconds=timeout_seconds)
    if result.returncode != 0:
        logger.warning(
            "pm2 kill exited %d: %s", result.returncode, result.stderr[-500:]
        )
    deadline = time.monotonic() + timeout_seconds
    while is_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if is_alive(pid):
        logger.warning("PM2 daemon pid %d survived pm2 kill; stopping it", pid)
        stop_pid(pid)
