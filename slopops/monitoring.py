"""Decide from windows of transaction outcomes whether a program release is bad.

Each window counts the program's transactions and how many failed. A window
is ``hold`` when it has fewer than ``min_samples`` transactions (no data is
the common case), ``bad`` when its failure rate reaches the threshold and
``ok`` otherwise. A breach needs ``consecutive_bad_windows`` bad windows with
no ok window between them: a hold window neither counts nor resets the
streak, so a quiet minute between two bad ones still adds up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Verdict = Literal["ok", "bad", "hold"]


@dataclass(frozen=True)
class WindowSample:
    """Transactions of one program in one window."""

    total: int
    failed: int

    def __post_init__(self) -> None:
        if self.total < 0 or not 0 <= self.failed <= self.total:
            raise ValueError(
                f"invalid window sample total={self.total!r} failed={self.failed!r}; "
                "need 0 <= failed <= total"
            )

    @property
    def failure_rate(self) -> float | None:
        """Failed over total, or None for an empty window."""
        return self.failed / self.total if self.total else None


@dataclass(frozen=True)
class WindowPolicy:
    """When a window is bad and how many bad windows make a breach."""

    failure_rate_threshold: float
    min_samples: int
    consecutive_bad_windows: int


def judge_window(sample: WindowSample, policy: WindowPolicy) -> Verdict:
    """Return the verdict of one window."""
    if sample.total < policy.min_samples:
        return "hold"
    rate = sample.failed / sample.total
    return "bad" if rate >= policy.failure_rate_threshold else "ok"


def bad_streak(verdicts: Iterable[Verdict], streak: int = 0) -> int:
    """Return the bad-window streak after ``verdicts``, starting from ``streak``."""
    for verdict in verdicts:
        if verdict == "bad":
            streak += 1
        elif verdict == "ok":
            streak = 0
    return streak


def is_breach(streak: int, policy: WindowPolicy) -> bool:
    """Return whether a streak of bad windows calls for a rollback."""
    return streak >= policy.consecutive_bad_windows
