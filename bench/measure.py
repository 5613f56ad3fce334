"""Timing, peak memory and figure lines shared by the benchmarks."""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psutil


@dataclass
class Timer:
    """Elapsed wall time of a ``with timed()`` block, in seconds."""

    seconds: float = 0.0


@contextmanager
def timed() -> Iterator[Timer]:
    """Measure the wall time of the block with a monotonic clock."""
    timer = Timer()
    start = time.perf_counter()
    try:
        yield timer
    finally:
        timer.seconds = time.perf_counter() - start


def peak_rss_bytes(children: bool = False) -> int:
    """Return the peak resident set size of this process, or of its waited children.

    Linux reports ``ru_maxrss`` in KiB. For children, it is the largest peak of
    any one terminated and waited-for child, not their sum.
    """
    target = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(target).ru_maxrss * 1024


def tree_rss_bytes(pids: list[int]) -> int:
    """Return the current resident set size of ``pids`` and all their descendants."""
    total = 0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for process in processes:
            try:
                total += process.memory_info().rss
            except psutil.Error:
                pass
    return total


def median(values: list[float]) -> float:
    """Return the median of ``values``."""
    return statistics.median(values)


def figure(name: str, value: str, goal: str) -> None:
    """Print one figure line: ``<name>: <value> (goal <goal>)``."""
    print(f"{name}: {value} (goal {goal})", flush=True)


def seconds(value: float) -> str:
    """Format a duration in seconds with two decimals."""
    return f"{value:.2f} s"


def mebibytes(value: int) -> str:
    """Format a size in bytes as MiB with one decimal."""
    return f"{value / 2**20:.1f} MiB"
