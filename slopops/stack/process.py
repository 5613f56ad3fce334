"""Start, check and stop one background service with a PID file and a log.

Every service of the local stack and of the tests (local chains, arlocal,
PostgreSQL, sshd, Prefect) starts through :func:`spawn`, so each has a PID
file, a log file and a readiness check, and is stopped by PID only.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from slopops.stack.errors import (
    PortInUseError,
    ServiceStartError,
    StartCancelledError,
)

logger = logging.getLogger(__name__)

# The cancel event of the thread's current start, set by cancel_on().
_thread_state = threading.local()


@dataclass(frozen=True)
class ServiceProcess:
    """A running background service."""

    name: str
    pid: int
    url: str
    log_path: Path
    pid_path: Path | None = None

    def is_running(self) -> bool:
        """Return whether the process still runs (and is not a zombie)."""
        return is_alive(self.pid)

    def stop(self, timeout_seconds: float = 10.0) -> None:
        """Stop the service and its children, then remove the PID file."""
        stop_pid(self.pid, timeout_seconds=timeout_seconds)
        if self.pid_path is not None:
            self.pid_path.unlink(missing_ok=True)


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def check_port_free(host: str, port: int, service: str) -> None:
    """Raise :class:`PortInUseError` naming the owner when ``port`` is taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            return
        except OSError:
            pass
    raise PortInUseError(service, host, port, _port_owner(port))


def _port_owner(port: int) -> str | None:
    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.Error:
        return None
    for connection in connections:
        if connection.laddr and connection.laddr.port == port and connection.pid:
            try:
                process = psutil.Process(connection.pid)
                return f"pid {connection.pid} ({' '.join(process.cmdline()[:3])})"
            except psutil.Error:
                return f"pid {connection.pid}"
    return None


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    url: str,
    log_path: Path,
    ready: Callable[[], bool],
    pid_path: Path | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout_seconds: float = 60.0,
    poll_seconds: float = 0.1,
) -> ServiceProcess:
    """Start ``argv`` in its own session and wait until ``ready()`` is true.

    The process gets default signal handling and its own process group, so
    :func:`stop_pid` ends it with all of its children.

    Raises:
        ServiceStartError: The process exited or was not ready within
            ``timeout_seconds``; the message ends with the log's last lines.
        StartCancelledError: The event of :func:`cancel_on` was set before
            the process was ready; the process is stopped.
    """
    restore_sigint()
    if _cancelled():
        raise StartCancelledError(name, log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
            restore_signals=True,
        )
    service = ServiceProcess(name, process.pid, url, log_path, pid_path)
    if pid_path is not None:
        pid_path.parent.mkdir(parents=True, exist_ok=True)
        pid_path.write_text(f"{process.pid}\n")
    logger.info("starting %s (pid %d) at %s", name, process.pid, url)
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if _cancelled():
            logger.info("%s: start cancelled; stopping pid %d", name, process.pid)
            service.stop()
            raise StartCancelledError(name, log_path, process.pid)
        if process.poll() is not None:
            service.stop()
            raise ServiceStartError(
                name, f"exited with code {process.returncode}", log_path
            )
        if _safe_ready(ready):
            logger.info("%s is ready (pid %d)", name, process.pid)
            return service
        time.sleep(poll_seconds)
    service.stop()
    raise ServiceStartError(name, f"not ready after {timeout_seconds:.0f} s", log_path)


@contextmanager
def cancel_on(event: threading.Event) -> Iterator[None]:
    """Make :func:`spawn` calls in this thread give up once ``event`` is set.

    A cancelled :func:`spawn` stops its process within one readiness poll and
    raises :class:`StartCancelledError`, so an interrupted ``stack up`` leaves
    no half-started service behind.
    """
    previous = getattr(_thread_state, "cancel", None)
    _thread_state.cancel = event
    try:
        yield
    finally:
        _thread_state.cancel = previous


def _cancelled() -> bool:
    event: threading.Event | None = getattr(_thread_state, "cancel", None)
    return event is not None and event.is_set()


def restore_sigint() -> None:
    """Give SIGINT a handler again if this process inherited it as ignored.

    A shell ignores SIGINT in the commands it starts with ``&``, and children
    inherit an ignored signal. A Prefect worker handles SIGTERM by sending
    itself SIGINT, so with SIGINT ignored it never stops. A handler, unlike
    SIG_IGN, is reset to the default in children at exec. Signal handlers can
    be set in the main thread only, so elsewhere this does nothing; the stack
    manager calls it from the main thread before it starts services in threads.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        logger.debug("SIGINT was ignored; restored its default handler")


def _safe_ready(ready: Callable[[], bool]) -> bool:
    try:
        return bool(ready())
    except OSError:
        return False


def is_alive(pid: int) -> bool:
    """Return whether ``pid`` is a live process (zombies count as dead)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def start_ticks(pid: int) -> int | None:
    """Return when ``pid`` started, in clock ticks since boot, or None if gone.

    This is field 22 of ``/proc/<pid>/stat``. It never changes for a process,
    unlike psutil's ``create_time()``, which adds the boot time from
    ``/proc/stat`` and so can move by a whole second between two reads.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name in parentheses may hold spaces; fields follow its end.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])


def boot_id() -> str:
    """Return the kernel's id of this boot, so records from before a reboot differ."""
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip()


def stop_pid(pid: int, timeout_seconds: float = 10.0) -> None:
    """Send SIGTERM to ``pid``'s process group, then SIGKILL what is left.

    Children that left the group (daemons) are found through the process tree
    before the signal and stopped the same way.
    """
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return
    for process in processes:
        _signal(process, signal.SIGTERM)
    alive = _wait_gone(processes, timeout_seconds)
    for process in alive:
        logger.warning("pid %d ignored SIGTERM; sending SIGKILL", process.pid)
        _signal(process, signal.SIGKILL)
    _wait_gone(alive, timeout_seconds)
    _reap(pid)


def _wait_gone(
    processes: list[psutil.Process], timeout_seconds: float
) -> list[psutil.Process]:
    """Wait until every process has exited; return those still running.

    A zombie counts as gone: a grandchild re-parented to PID 1 stays a zombie
    until PID 1 reaps it, which psutil.wait_procs would wait for.
    """
    deadline = time.monotonic() + timeout_seconds
    alive = list(processes)
    while alive:
        for process in alive:
            _reap(process.pid)
        alive = [process for process in alive if _is_running(process)]
        if not alive or time.monotonic() >= deadline:
            break
        time.sleep(0.02)
    return alive


def _is_running(process: psutil.Process) -> bool:
    # is_running() also checks the start time, so a reused PID is not it.
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _signal(process: psutil.Process, signum: int) -> None:
    try:
        process.send_signal(signum)
    except psutil.Error:
        pass


def _reap(pid: int) -> None:
    # A child of this process stays a zombie until waited for.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def read_pid(pid_path: Path) -> int | None:
    """Return the PID stored in ``pid_path`` if that process is alive."""
    try:
        pid = int(pid_path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if is_alive(pid) else None


def tail(path: Path, lines: int = 20) -> str:
    """Return the last ``lines`` lines of a log file, or '' if it is missing."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""
