"""Monitor window logic: no data holds, minimum samples, consecutive bad windows."""

from __future__ import annotations

import pytest

from slopops.monitoring import (
    WindowPolicy,
    WindowSample,
    bad_streak,
    is_breach,
    judge_window,
)

POLICY = WindowPolicy(
    failure_rate_threshold=0.10, min_samples=10, consecutive_bad_windows=2
)


@pytest.mark.parametrize(
    ("total", "failed", "verdict"),
    [
        (0, 0, "hold"),
        (9, 9, "hold"),
        (10, 0, "ok"),
        (10, 0, "ok"),
        (100, 9, "ok"),
        (100, 10, "bad"),
        (10, 10, "bad"),
    ],
)
def test_judge_window(total: int, failed: int, verdict: str) -> None:
    assert judge_window(WindowSample(total, failed), POLICY) == verdict


def test_no_data_never_breaches() -> None:
    verdicts = [judge_window(WindowSample(0, 0), POLICY) for _ in range(50)]
    assert not is_breach(bad_streak(verdicts), POLICY)


def test_one_bad_window_is_no_breach() -> None:
    assert not is_breach(bad_streak(["bad"]), POLICY)


def test_consecutive_bad_windows_breach() -> None:
    assert is_breach(bad_streak(["ok", "bad", "bad"]), POLICY)


def test_ok_window_resets_streak() -> None:
    assert bad_streak(["bad", "ok", "bad"]) == 1


def test_hold_window_keeps_streak() -> None:
    assert bad_streak(["bad", "hold", "bad"]) == 2


def test_streak_continues_across_calls() -> None:
    assert bad_streak(["bad"], streak=bad_streak(["bad"])) == 2


def test_invalid_sample_rejected() -> None:
    with pytest.raises(ValueError, match="failed=5"):
        WindowSample(3, 5)
