"""Start, check and stop a list of services that share one state directory.

Each :class:`Service` defines how it starts and how it is probed, so the
manager has no code for any one service. It keeps a record per running service,
``<state_dir>/records/<name>.json`` with the PID and the process's start time, so a
later ``down`` or ``status`` in another process finds it, and a PID reused by
an unrelated process is never signalled.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from slopops.stack.errors import (
    PortConflictError,
    StackError,
    StackInterruptedError,
    StartCancelledError,
)
from slopops.stack.pm2 import kill_daemon
from slopops.stack.process import (
    boot_id,
    cancel_on,
    check_port_free,
    restore_sigint,
    start_ticks,
    stop_pid,
)

logger = logging.getLogger(__name__)

# Records written before start ticks were kept hold only the epoch start
# time, which psutil derives from the boot time in whole seconds, so two reads
# of one process can differ by a second.
_LEGACY_START_TIME_TOLERANCE_SECONDS = 1.5


@dataclass(frozen=True)
class Service:
    """One service of the stack.

    Attributes:
        name: Unique name, also the name of its state subdirectory.
        host: Address it binds.
        port: TCP port it listens on, checked free before the start; None
            for a service that listens on none.
        url: Where clients reach it.
        start: Starts the service in the given state subdirectory, waits until
            it is ready and returns the PID of its root process.
        ready: Probe that returns True while the service accepts requests.
        after: Names of services that must be ready before this one starts.
        cleanup: Called after the service's process tree is stopped, for what
            left the tree. It must be harmless when there is nothing to clean
            up.
        pm2_homes: PM2 homes whose daemons stop with the service, because
            a daemon started over a node's SSH leaves its process tree. The
            record lists them, so a ``down`` without the stack's options
            still stops them.
    """

    name: str
    host: str
    port: int | None
    url: str
    start: Callable[[Path], int]
    ready: Callable[[], bool]
    after: tuple[str, ...] = ()
    cleanup: Callable[[], None] | None = None
    pm2_homes: tuple[Path, ...] = ()


@dataclass(frozen=True)
class ServiceStatus:
    """The state of one service, as ``up``, ``status`` and ``down`` report it."""

    name: str
    pid: int | None
    url: str
    status: str


class Stack:
    """A set of services started in dependency order and stopped by PID."""

    def __init__(self, services: Sequence[Service], state_dir: Path) -> None:
        names = [service.name for service in services]
        if len(set(names)) != len(names):
            raise ValueError(f"service names {names!r} are not unique")
        self.services = list(services)
        self._by_name = {service.name: service for service in services}
        self.state_dir = state_dir.resolve()

    def up(self) -> list[ServiceStatus]:
        """Start every service that is not running; leave running ones alone.

        Ports are checked first (see :meth:`check`), so a bad port fails
        before anything starts. When a start fails or SIGINT arrives, the
        services this call started are stopped again. A returned status is
        "not ready" for a service that failed its readiness probe at the end.

        Raises:
            PortConflictError: Two services are given one port.
            PortInUseError: A port is taken; the message names the process.
            ServiceStartError: A service exited or was not ready in time.
            StackInterruptedError: SIGINT arrived; it lists what was stopped.
        """
        # Before the start threads, so every service gets default SIGINT handling.
        restore_sigint()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        running = self.check()
        to_start = [s for s in self.services if s.name not in running]
        started: list[str] = []
        # Services whose start was cancelled, so spawn() already stopped them.
        cancelled: list[tuple[str, int]] = []
        try:
            for wave in _waves(to_start, set(running)):
                running.update(self._start_wave(wave, started, cancelled))
            return [
                ServiceStatus(
                    s.name, running[s.name], s.url, _up_state(s, s.name in started)
                )
                for s in self.services
            ]
        except KeyboardInterrupt as exc:
            stopped = cancelled + self._stop_started(started)
            raise StackInterruptedError(stopped) from exc
        except BaseException:
            self._stop_started(started)
            raise

    def check(self) -> dict[str, int]:
        """Check the ports of every service and return the PIDs of running ones.

        Raises:
            PortConflictError: Two services are given one host and port.
            StackError: A running service listens on another port than given.
            PortInUseError: A port of a service to start is taken.
        """
        _check_unique_ports(self.services)
        running = {s.name: pid for s in self.services if (pid := self._pid(s.name))}
        self._check_running_ports(running)
        for service in self.services:
            if service.name not in running and service.port is not None:
                check_port_free(service.host, service.port, service.name)
        return running

    def _stop_started(self, started: list[str]) -> list[tuple[str, int]]:
        """Stop the services in ``started``, last first; return names and PIDs."""
        logger.warning("stack up did not finish; stopping %s", started or "nothing")
        stopped = []
        # A second Ctrl-C must not cut the clean-up short and leave services.
        with _sigint_ignored():
            for name in reversed(started):
                pid = self._pid(name)
                self._stop(name)
                if pid is not None:
                    stopped.append((name, pid))
        return stopped

    def _check_running_ports(self, running: dict[str, int]) -> None:
        """Raise when a running service listens on another port than requested."""
        for service in self.services:
            if service.name not in running:
                continue
            record = _read_record(self._record_path(service.name)) or {}
            recorded = record.get("port")
            if recorded != service.port:
                raise StackError(
                    f"{service.name} is running (pid {running[service.name]}) on "
                    f"port {recorded}, not {service.port}; run `slopops stack "
                    "down` first to change its port"
                )

    def status(self) -> list[ServiceStatus]:
        """Return each service's state: ready, not ready or stopped."""
        statuses = []
        for service in self.services:
            pid = self._pid(service.name)
            if pid is None:
                state = "stopped"
            else:
                state = "ready" if _probe(service.ready) else "not ready"
            statuses.append(ServiceStatus(service.name, pid, service.url, state))
        return statuses

    def down(self) -> list[ServiceStatus]:
        """Stop every service, dependents first, with all of its child processes.

        Services that do not depend on each other stop at once. Records of
        services not in this stack (left by an ``up`` with other options) are
        stopped too, first.
        """
        known = {service.name for service in self.services}
        unknown = [
            (path.stem, "-")
            for path in sorted((self.state_dir / "records").glob("*.json"))
            if path.stem not in known
        ]
        by_name: dict[str, ServiceStatus] = {}
        groups = [unknown]
        for wave in reversed(_waves(self.services, set())):
            groups.append([(service.name, service.url) for service in wave])
        for group in groups:
            if not group:
                continue
            with ThreadPoolExecutor(max_workers=len(group)) as pool:
                for status in pool.map(lambda item: self._stop_status(*item), group):
                    by_name[status.name] = status
        ordered = [name for name, _ in unknown] + [s.name for s in self.services]
        return [by_name[name] for name in ordered]

    def _stop_status(self, name: str, url: str) -> ServiceStatus:
        pid = self._pid(name)
        # Also without a live PID, so a cleanup still runs after a crash.
        self._stop(name)
        return ServiceStatus(name, pid, url, "stopped" if pid else "not running")

    def _start_wave(
        self,
        wave: list[Service],
        started: list[str],
        cancelled: list[tuple[str, int]],
    ) -> dict[str, int]:
        # Services of one wave do not depend on each other, so they start at
        # once: the stack is ready about when its slowest service is.
        cancel = threading.Event()
        pool = ThreadPoolExecutor(max_workers=len(wave))
        futures = {s.name: pool.submit(self._start, s, cancel) for s in wave}
        try:
            # Interruptible, unlike leaving a ThreadPoolExecutor's with block,
            # which joins the threads while SIGINT waits.
            wait(futures.values())
        finally:
            # Also on SIGINT: the cancel makes each start still waiting stop
            # its process, and every start that did finish lands in started,
            # so up() stops it again.
            if not all(future.done() for future in futures.values()):
                cancel.set()
            _shutdown(pool, cancel)
            pids: dict[str, int] = {}
            errors = []
            for name, future in futures.items():
                error = future.exception()
                if error is None:
                    pids[name] = future.result()
                    started.append(name)
                    continue
                errors.append(error)
                if isinstance(error, StartCancelledError) and error.pid is not None:
                    cancelled.append((name, error.pid))
        if errors:
            raise errors[0]
        return pids

    def _start(self, service: Service, cancel: threading.Event) -> int:
        service_dir = self.state_dir / service.name
        service_dir.mkdir(parents=True, exist_ok=True)
        with cancel_on(cancel):
            pid = service.start(service_dir)
        self._write_record(service, pid)
        logger.info("%s is up (pid %d) at %s", service.name, pid, service.url)
        return pid

    def _stop(self, name: str) -> None:
        # Read first: _pid() deletes the record of a process that is gone.
        pm2_homes = _recorded_pm2_homes(self._record_path(name))
        pid = self._pid(name)
        if pid is not None:
            logger.info("stopping %s (pid %d)", name, pid)
            stop_pid(pid)
        service = self._by_name.get(name)
        if service is not None:
            pm2_homes = list(dict.fromkeys([*service.pm2_homes, *pm2_homes]))
        for pm2_home in pm2_homes:
            kill_daemon(pm2_home)
        if service is not None and service.cleanup is not None:
            service.cleanup()
        self._record_path(name).unlink(missing_ok=True)

    def _record_path(self, name: str) -> Path:
        return self.state_dir / "records" / f"{name}.json"

    def _write_record(self, service: Service, pid: int) -> None:
        record = {
            "pid": pid,
            "boot_id": boot_id(),
            "start_ticks": start_ticks(pid),
            # For people reading the record; the ticks identify the process.
            "create_time": psutil.Process(pid).create_time(),
            "port": service.port,
            "url": service.url,
            "pm2_homes": [str(home) for home in service.pm2_homes],
        }
        path = self._record_path(service.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record) + "\n")

    def _pid(self, name: str) -> int | None:
        """Return the PID of ``name`` if its recorded process still runs."""
        record = _read_record(self._record_path(name))
        if record is None:
            return None
        pid = record["pid"]
        try:
            alive = psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            alive = False
        if alive and _same_process(pid, record):
            return pid
        logger.info("%s: recorded pid %d is gone; removing its record", name, pid)
        self._record_path(name).unlink(missing_ok=True)
        return None


def _read_record(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text())
        port = record.get("port")
        ticks = record.get("start_ticks")
        return {
            "pid": int(record["pid"]),
            "boot_id": record.get("boot_id"),
            "start_ticks": None if ticks is None else int(ticks),
            "create_time": float(record["create_time"]),
            "port": None if port is None else int(port),
        }
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, KeyError) as exc:
        logger.warning("ignoring unreadable service record %s: %s", path, exc)
        return None


def _recorded_pm2_homes(path: Path) -> list[Path]:
    """Return the PM2 homes listed in a service record; none if unreadable."""
    try:
        homes = json.loads(path.read_text()).get("pm2_homes") or []
        return [Path(home) for home in homes if isinstance(home, str) and home]
    except FileNotFoundError:
        return []
    except (ValueError, AttributeError, TypeError) as exc:
        logger.warning("ignoring PM2 homes of unreadable record %s: %s", path, exc)
        return []


def _same_process(pid: int, record: dict[str, Any]) -> bool:
    """Return whether ``pid`` is still the process ``record`` was written for."""
    if record["start_ticks"] is not None:
        return record["boot_id"] == boot_id() and record["start_ticks"] == start_ticks(
            pid
        )
    try:
        started = psutil.Process(pid).create_time()
    except psutil.Error:
        return False
    return abs(started - record["create_time"]) < _LEGACY_START_TIME_TOLERANCE_SECONDS


def _waves(services: list[Service], ready: set[str]) -> list[list[Service]]:
    """Group ``services`` so each group depends only on earlier ones."""
    waves = []
    pending = list(services)
    done = set(ready)
    while pending:
        wave = [s for s in pending if set(s.after) <= done]
        if not wave:
            names = [s.name for s in pending]
            raise StackError(
                f"services {names!r} depend on services that are not in the stack "
                "or depend on each other; fix their 'after' lists"
            )
        waves.append(wave)
        done.update(s.name for s in wave)
        pending = [s for s in pending if s not in wave]
    return waves


def _up_state(service: Service, started: bool) -> str:
    if not _probe(service.ready):
        return "not ready"
    return "started" if started else "already running"


def _check_unique_ports(services: Sequence[Service]) -> None:
    owners: dict[tuple[str, int], str] = {}
    for service in services:
        if service.port is None:
            continue
        key = (service.host, service.port)
        if key in owners:
            raise PortConflictError(owners[key], service.name, *key)
        owners[key] = service.name


def _shutdown(pool: ThreadPoolExecutor, cancel: threading.Event) -> None:
    """Wait for the pool's threads; another SIGINT meanwhile only cancels."""
    while True:
        try:
            pool.shutdown(wait=True)
            return
        except KeyboardInterrupt:
            cancel.set()


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    # Signal handlers can be set in the main thread only.
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        # None means the handler was not set from Python, so Python's own
        # default is the closest one to restore.
        if previous is None:
            previous = signal.default_int_handler
        signal.signal(signal.SIGINT, previous)


def _probe(ready: Callable[[], bool]) -> bool:
    try:
        return bool(ready())
    except OSError:
        return False
