"""Benchmark ``slopops stack up``: wall time until every service is ready.

Baseline: the Prefect server alone, started the same way in a fresh state
directory, because it is the slowest service and the others start beside it.
Every run uses fresh state directories and free ports on 127.0.0.1.

Usage: ``python -m bench stack [--runs N]``.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from bench.measure import figure, mebibytes, median, seconds, timed, tree_rss_bytes
from slopops.stack.manager import Stack
from slopops.stack.process import free_port, is_alive
from slopops.stack.services import StackConfig, build_services

GOAL_UP_SECONDS = 60.0


def _config(state_dir: Path, *, prefect_only: bool) -> StackConfig:
    if prefect_only:
        return StackConfig(
            state_dir=state_dir,
            prefect_port=free_port(),
            chains=(),
            arlocal_port=None,
            postgres_port=None,
        )
    return StackConfig(
        state_dir=state_dir,
        prefect_port=free_port(),
        chains=tuple(
            (seed, free_port()) for seed in ("local", "devnet", "mainnet-beta")
        ),
        arlocal_port=free_port(),
        postgres_port=free_port(),
    )


def _server_alone(root: Path) -> float:
    config = _config(root / "server", prefect_only=True)
    # The worker is left out: the baseline is the server on its own.
    services = [s for s in build_services(config) if s.name == "prefect-server"]
    stack = Stack(services, config.state_dir)
    try:
        with timed() as timer:
            stack.up()
    finally:
        stack.down()
    return timer.seconds


def _full_stack(root: Path) -> dict[str, float]:
    config = _config(root / "full", prefect_only=False)
    stack = Stack(build_services(config), config.state_dir)
    try:
        with timed() as up:
            statuses = stack.up()
        pids = [item.pid for item in statuses if item.pid]
        rss = tree_rss_bytes(pids)
        with timed() as again:
            stack.up()
    finally:
        with timed() as down:
            stack.down()
    left = sum(1 for pid in pids if is_alive(pid))
    return {
        "up": up.seconds,
        "again": again.seconds,
        "down": down.seconds,
        "rss": float(rss),
        "left": float(left),
        "services": float(len(statuses)),
    }


def main(argv: list[str]) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(prog="python -m bench stack")
    parser.add_argument("--runs", type=int, default=1, help="Repetitions (median).")
    args = parser.parse_args(argv)
    baseline, runs = [], []
    for _ in range(args.runs):
        root = Path(tempfile.mkdtemp(prefix="bench-stack-"))
        try:
            baseline.append(_server_alone(root))
            runs.append(_full_stack(root))
        finally:
            shutil.rmtree(root, ignore_errors=True)
    _print_figures(baseline, runs)
    return 0


def _print_figures(baseline: list[float], runs: list[dict[str, float]]) -> None:
    up = median([run["up"] for run in runs])
    services = int(runs[0]["services"])
    figure("prefect server alone ready", seconds(median(baseline)), "baseline")
    figure(
        f"stack up ready ({services} services)",
        seconds(up),
        f"< {GOAL_UP_SECONDS:.0f} s",
    )
    figure("stack up over the server alone", seconds(up - median(baseline)), "< 10 s")
    figure(
        "stack up again (all running)",
        seconds(median([run["again"] for run in runs])),
        "< 5 s",
    )
    figure("stack down", seconds(median([run["down"] for run in runs])), "< 30 s")
    left = int(max(run["left"] for run in runs))
    figure("processes left after down", str(left), "0")
    rss = int(median([run["rss"] for run in runs]))
    figure("stack resident memory when ready", mebibytes(rss), "report only")
