"""Benchmark the pipelines on the local stack, through the real server and worker.

Figures:

- recovery: from the bad release's first failed transaction to the old
  program bytes verified on chain and every node (two agent nodes and the
  local MCP app) checked back on its last known good release and healthy.
  The goal is 90 s, against recovery objectives of 30 minutes for programs
  and 5 for nodes. Both bundles are full: program ELF, node release tarball and
  MCP image reference. The baseline in the same run is the rollback run's
  own duration, so the rest is detection (monitor windows), the automation
  and the final check.
- start delay: from ``prefect deployment run`` to the flow run's Running
  state, median of several runs (goal 10 s with a 1 s worker poll).

The stack is restarted with the simulation profiles, as ``slopops demo``
does, and keeps running afterwards (``slopops stack down`` stops it).

Usage: ``python -m bench pipelines [--runs N]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

GOAL_RECOVERY_SECONDS = 90.0
GOAL_START_DELAY_SECONDS = 10.0


def _measure_recovery(good: str, bad: str) -> tuple[float, float]:
    from prefect.client.schemas.objects import StateType

    from flows.client import start_run, wait_for, wait_for_new_run
    from slopops.cli.demo import Traffic, check_good_release

    for bundle_id in (good, bad):
        flow_run = start_run("promote/local", bundle=bundle_id)
        wait_for(flow_run.id, {StateType.COMPLETED})
    since = datetime.now(UTC)
    with Traffic() as traffic:
        monitor = start_run("monitor/local", duration_seconds=300)
        wait_for(monitor.id, {StateType.COMPLETED})
        rollback = wait_for_new_run("rollback/local", since)
        done = wait_for(rollback.id, {StateType.COMPLETED})
        print(check_good_release("local"))
        finished = time.monotonic()
    assert traffic.first_sent is not None
    rollback_seconds = (done.end_time - done.start_time).total_seconds()  # type: ignore[operator]
    return finished - traffic.first_sent, rollback_seconds


def _measure_start_delay(runs: int) -> list[float]:
    from prefect.client.schemas.objects import StateType

    from flows.client import run_timing, wait_for, wait_for_new_run

    prefect = str(Path(sys.executable).with_name("prefect"))
    delays = []
    for _ in range(runs):
        since = datetime.now(UTC)
        subprocess.run(
            [prefect, "deployment", "run", "monitor/local", "-p", "duration_seconds=1"],
            check=True,
            capture_output=True,
        )
        flow_run = wait_for_new_run("monitor/local", since)
        wait_for(flow_run.id, {StateType.RUNNING, StateType.COMPLETED})
        timing = run_timing(flow_run.id)
        assert timing.running_at is not None
        # From the command's start, so the CLI's own start-up counts too.
        delays.append((timing.running_at - since).total_seconds())
        wait_for(flow_run.id, {StateType.COMPLETED})
    return delays


def main(argv: list[str]) -> int:
    """Run the benchmark and print one line per figure."""
    parser = argparse.ArgumentParser(prog="python -m bench pipelines")
    parser.add_argument("--runs", type=int, default=5, help="Runs of the start delay.")
    args = parser.parse_args(argv)

    from slopops.cli.demo import build_bundles, prepare_stack, use_local_stack

    use_local_stack()
    prepare_stack()
    good, bad = build_bundles()
    recovery, rollback_alone = _measure_recovery(good, bad)
    delays = _measure_start_delay(args.runs)
    print(
        f"bad release to old bytes and every node back: {recovery:.1f} s "
        f"(goal < {GOAL_RECOVERY_SECONDS:.0f} s)"
    )
    print(f"rollback run alone (baseline): {rollback_alone:.1f} s (goal < 1800 s)")
    print(
        f"deployment run to Running, median of {len(delays)}: "
        f"{statistics.median(delays):.1f} s (goal < {GOAL_START_DELAY_SECONDS:.0f} s)"
    )
    return 0
