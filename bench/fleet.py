"""Benchmark: rolling deploy and rollback of 20 local nodes.

``python -m bench fleet`` starts 21 nodes on this machine (each a private
sshd on its own 127.0.0.x address and a PM2 daemon running the sample app in
cluster mode with one instance) and deploys release A everywhere to warm
them up. It then measures, in the same run:

- the baseline: the median of three deploys of new releases to one node;
- release B rolled across 20 nodes in batches of 5, and its ratio to the
  baseline (goal at most 5x);
- all 20 nodes rolled back to A at once (goal under 60 s, against the
  5-minute recovery objective for node services).

Needs root (sshd) and tools/node_modules (pm2). Options: ``--nodes N``
(default 20), ``--batch-size S`` (default 5).
"""

from __future__ import annotations

import argparse
import logging
import statistics

from bench.measure import timed
from slopops.fleet import Fleet
from slopops.fleet.local import LocalFleet
from slopops.fleet.report import RolloutReport


def _check(report: RolloutReport, what: str) -> None:
    if not report.ok:
        failed = [row for row in report.rows() if row["status"] == "failed"]
        raise SystemExit(f"{what} failed: {failed}")


def _measure(local: LocalFleet, nodes: int, batch_size: str) -> dict[str, float]:
    """Start the nodes, warm them up, and time the three operations."""
    all_nodes = [local.add_node(instances=1) for _ in range(nodes + 1)]
    single, fleet_nodes = all_nodes[:1], all_nodes[1:]
    settings = local.fleet(
        all_nodes,
        batch_size=batch_size,
        max_parallel_connections=nodes,
        health_timeout_seconds=60,
    )
    fleet = Fleet(settings)
    _check(fleet.roll_out(local.release("A"), nodes=all_nodes), "warm-up deploy")

    # The baseline is the median of three single-node deploys of new releases.
    single_seconds = []
    for release_id in ("S1", "S2", "S3"):
        with timed() as one:
            release = local.release(release_id)
            _check(fleet.roll_out(release, nodes=single), "single-node deploy")
        single_seconds.append(one.seconds)

    with timed() as rolling:
        _check(fleet.roll_out(local.release("B"), nodes=fleet_nodes), "rolling deploy")
    with timed() as rollback:
        _check(fleet.roll_back(fleet_nodes), "rollback")
    return {
        "single": statistics.median(single_seconds),
        "rolling": rolling.seconds,
        "rollback": rollback.seconds,
    }


def main(argv: list[str]) -> int:
    """Run the benchmark and print one line per figure."""
    parser = argparse.ArgumentParser(prog="python -m bench fleet")
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--batch-size", default="5")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    local = LocalFleet()
    try:
        seconds = _measure(local, args.nodes, args.batch_size)
    finally:
        local.close()

    single, rolling = seconds["single"], seconds["rolling"]
    print(f"deploy to one node (median of 3): {single:.2f} s (goal baseline)")
    print(
        f"rolling deploy to {args.nodes} nodes in batches of {args.batch_size}: "
        f"{rolling:.2f} s (goal <= 5 x baseline = {single * 5:.2f} s)"
    )
    print(f"rolling deploy over one node: {rolling / single:.2f}x (goal <= 5x)")
    print(f"rollback of {args.nodes} nodes: {seconds['rollback']:.2f} s (goal < 60 s)")
    return 0
