"""CPU quotas per process tree with the cgroup v1 cpu controller.

The fleet benchmark puts each node's sshd into its own cgroup with a CFS
quota. Children inherit the cgroup of the process that forks them, so
sshd's session children, the PM2 daemon they start and the app it forks all
share that one budget, as on a small host of its own.

Quotas follow the kernel's CFS bandwidth control (Documentation/scheduler/
sched-bwc.rst): a group may run ``cpu.cfs_quota_us`` microseconds of CPU time
per ``cpu.cfs_period_us``, across all CPUs, so 50000 per 100000 is half a
core. Writing needs root and a writable cpu hierarchy, which containers
often mount read-only.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

logger = logging.getLogger(__name__)

CPU_CONTROLLER = Path("/sys/fs/cgroup/cpu")
PERIOD_US = 100_000
# The kernel rejects quotas below 1 ms per period.
MIN_QUOTA_US = 1_000
# cpu.shares of a cgroup, or of a task, at the default weight.
DEFAULT_SHARES = 1024
MAX_SHARES = 262_144


def unavailable_reason(root: Path = CPU_CONTROLLER) -> str | None:
    """Return why CPU quotas cannot be set under ``root``, or None if they can."""
    if not (root / "cpu.cfs_quota_us").is_file():
        return f"{root} is not a cgroup v1 cpu controller (no cpu.cfs_quota_us)"
    if os.geteuid() != 0:
        return "setting cgroup CPU quotas needs root"
    if not os.access(root, os.W_OK):
        return f"{root} is not writable (mounted read-only?)"
    return None


class CpuQuotaGroups:
    """Child cgroups of one parent, one per confined process tree.

    Use as a context manager, or call :meth:`close` after every process in
    the groups has stopped: a cgroup with live processes cannot be removed.
    """

    def __init__(self, name: str, cores: float, root: Path = CPU_CONTROLLER) -> None:
        quota_us = round(cores * PERIOD_US)
        if quota_us < MIN_QUOTA_US:
            raise ValueError(
                f"CPU quota of {cores} cores is below the kernel minimum of "
                f"{MIN_QUOTA_US / PERIOD_US} cores; use more"
            )
        self.cores = cores
        self.quota_us = quota_us
        self.parent = root / name
        self.parent.mkdir()
        self.groups: list[Path] = []
        logger.info("created cgroup %s for quotas of %d us", self.parent, quota_us)

    def confine(self, name: str, pid: int) -> Path:
        """Create a cgroup with the quota and move process ``pid`` into it."""
        group = self.parent / name
        group.mkdir()
        self.groups.append(group)
        # Under contention the parent competes as one entity with every task
        # of the root group, so it gets the weight of one per child: each
        # node then weighs as much as a process outside the groups.
        shares = min(DEFAULT_SHARES * len(self.groups), MAX_SHARES)
        (self.parent / "cpu.shares").write_text(str(shares))
        (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
        (group / "cpu.cfs_quota_us").write_text(str(self.quota_us))
        (group / "cgroup.procs").write_text(str(pid))
        return group

    def throttled_seconds(self) -> float:
        """Return the time the groups spent throttled, summed, in seconds.

        ``throttled_time`` in cpu.stat counts nanoseconds per group.
        """
        total_ns = 0
        for group in self.groups:
            for line in (group / "cpu.stat").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "throttled_time":
                    total_ns += int(value)
        return total_ns / 1e9

    def remaining_pids(self) -> dict[str, list[int]]:
        """Return the processes still in each group, by group name."""
        remaining = {}
        for group in self.groups:
            pids = [int(pid) for pid in (group / "cgroup.procs").read_text().split()]
            if pids:
                remaining[group.name] = pids
        return remaining

    def close(self, timeout_seconds: float = 5.0) -> None:
        """Remove the groups and their parent.

        Processes that are exiting leave their group within moments, so
        this waits up to ``timeout_seconds`` for the groups to empty.

        Raises:
            RuntimeError: A group still has processes; it is left in place.
        """
        deadline = time.monotonic() + timeout_seconds
        remaining = self.remaining_pids()
        while remaining and time.monotonic() < deadline:
            time.sleep(0.1)
            remaining = self.remaining_pids()
        for group in self.groups:
            if group.name not in remaining and group.exists():
                group.rmdir()
        if remaining:
            raise RuntimeError(
                f"cgroups under {self.parent} still have processes {remaining}; "
                "stop them, then rmdir the groups"
            )
        self.parent.rmdir()
        logger.info("removed cgroup %s", self.parent)

    def __enter__(self) -> CpuQuotaGroups:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
