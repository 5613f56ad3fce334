"""CPU quota cgroups of the fleet benchmark, on this machine's cgroup v1 tree."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator

import pytest

from bench._cpu_quota import CPU_CONTROLLER, CpuQuotaGroups, unavailable_reason


@pytest.fixture
def groups() -> Iterator[CpuQuotaGroups]:
    reason = unavailable_reason(CPU_CONTROLLER)
    if reason is not None:
        pytest.skip(reason)
    quota_groups = CpuQuotaGroups(f"slopops-test-{os.getpid()}", 0.5)
    yield quota_groups
    if quota_groups.parent.exists():
        quota_groups.close(timeout_seconds=5)


def _pids(group_dir: os.PathLike[str]) -> list[int]:
    with open(os.path.join(group_dir, "cgroup.procs")) as handle:
        return [int(pid) for pid in handle.read().split()]


def test_confined_tree_shares_quota(groups: CpuQuotaGroups) -> None:
    # The shell forks its child only after it is confined, on reading a line.
    shell = subprocess.Popen(
        ["/bin/sh", "-c", "read line; sleep 30 & echo $!; wait"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    child = None
    try:
        group = groups.confine("node-a", shell.pid)
        assert (group / "cpu.cfs_quota_us").read_text().strip() == "50000"
        assert (group / "cpu.cfs_period_us").read_text().strip() == "100000"
        assert (groups.parent / "cpu.shares").read_text().strip() == "1024"
        assert shell.stdin is not None and shell.stdout is not None
        shell.stdin.write("go\n")
        shell.stdin.flush()
        child = int(shell.stdout.readline())
        assert sorted(_pids(group)) == sorted([shell.pid, child])
        assert groups.throttled_seconds() >= 0

        # A group with live processes is kept, and close names it in its error.
        with pytest.raises(RuntimeError, match="still have processes"):
            groups.close(timeout_seconds=0.2)
        assert group.exists()
    finally:
        if child is not None:
            os.kill(child, signal.SIGKILL)
        shell.kill()
        shell.wait()
    groups.close(timeout_seconds=5)
    assert not groups.parent.exists()


def test_each_group_adds_parent_weight(groups: CpuQuotaGroups) -> None:
    sleepers = [subprocess.Popen(["sleep", "30"]) for _ in range(3)]
    try:
        for index, sleeper in enumerate(sleepers):
            groups.confine(f"node-{index}", sleeper.pid)
        assert (groups.parent / "cpu.shares").read_text().strip() == "3072"
    finally:
        for sleeper in sleepers:
            sleeper.kill()
            sleeper.wait()


def test_quota_below_kernel_minimum_rejected() -> None:
    with pytest.raises(ValueError, match="below the kernel minimum"):
        CpuQuotaGroups("slopops-test-too-small", 0.001)
    assert not (CPU_CONTROLLER / "slopops-test-too-small").exists()
