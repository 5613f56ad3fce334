"""Process helpers: signal handling and stopping process trees."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from slopops.stack.errors import StartCancelledError
from slopops.stack.process import cancel_on, spawn, start_ticks, stop_pid
from tests.stack.helpers import alive, http_service, process_tree

# Runs spawn() in a process that ignores SIGINT, as a shell's `cmd &` does, and
# prints whether the spawned child still ignores it (1) or not (0).
_SPAWN_WITH_SIGINT_IGNORED = """
import signal, sys
from pathlib import Path
signal.signal(signal.SIGINT, signal.SIG_IGN)
from slopops.stack.process import spawn, stop_pid
child = spawn("sleeper", ["sleep", "600"], url="-", log_path=Path(sys.argv[1]),
              ready=lambda: True)
with open(f"/proc/{child.pid}/status") as status:
    line = next(line for line in status if line.startswith("SigIgn:"))
stop_pid(child.pid)
print(int(line.split()[1], 16) >> (signal.SIGINT - 1) & 1)
"""


def test_spawned_child_gets_default_sigint(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _SPAWN_WITH_SIGINT_IGNORED, str(tmp_path / "log")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )

    assert result.stdout.strip() == "0"


def test_stop_pid_stops_tree_quickly(tmp_path: Path) -> None:
    pid = http_service("tree").start(tmp_path)
    pids = process_tree(pid)

    started = time.monotonic()
    stop_pid(pid)
    elapsed = time.monotonic() - started

    assert len(pids) == 2
    assert alive(pids) == []
    # The grandchild left the group and its zombie waits for PID 1; it counts
    # as stopped at once instead of after the SIGKILL timeout.
    assert elapsed < 5


def test_stop_pid_of_missing_process() -> None:
    stop_pid(2**22 + 12345)


def test_spawn_cancelled_stops_process(tmp_path: Path) -> None:
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    started = time.monotonic()

    with cancel_on(cancel), pytest.raises(StartCancelledError) as caught:
        spawn(
            "sleeper",
            ["sleep", "600"],
            url="-",
            log_path=tmp_path / "sleeper.log",
            ready=lambda: False,
            timeout_seconds=60,
        )

    assert caught.value.pid is not None
    assert alive([caught.value.pid]) == []
    assert time.monotonic() - started < 5


def test_spawn_cancelled_before_start(tmp_path: Path) -> None:
    cancel = threading.Event()
    cancel.set()

    with cancel_on(cancel), pytest.raises(StartCancelledError) as caught:
        spawn(
            "sleeper", ["sleep", "600"], url="-", log_path=tmp_path / "log", ready=bool
        )

    assert caught.value.pid is None


def test_start_ticks_match_psutil() -> None:
    # The child names itself with spaces and a ")", which /proc/<pid>/stat
    # shows unescaped inside the parentheses around the name.
    code = (
        "import sys, time; open('/proc/self/comm', 'w').write('odd) (x y'); "
        "print(flush=True); time.sleep(30)"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        process.stdout.readline()
        assert "odd) (x y" in Path(f"/proc/{process.pid}/stat").read_text()
        ticks = start_ticks(process.pid)
        started = psutil.Process(process.pid).create_time() - psutil.boot_time()
        hertz = os.sysconf("SC_CLK_TCK")

        assert ticks is not None
        assert abs(ticks / hertz - started) < 1.5
        assert start_ticks(process.pid) == ticks
    finally:
        process.kill()
        process.wait()
    assert start_ticks(process.pid) is None
