"""Benchmark: rolling deploy and rollback of 20 local nodes.

``python -m bench fleet`` starts 21 nodes on this machine (each a private
sshd on its own 127.0.0.x address and a PM2 daemon running the sample app in
cluster mode with one instance) and deploys release A everywhere to warm
them up. It then measures, in the same run:

- the baseline: release B deployed to one node;
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

from bench.measure import timed
from slopops.fleet import Fleet
from slopops.fleet.local import LocalFleet
from slopops.fleet.report import RolloutReport


def _check(report: RolloutReport, what: str) -> None:
    if not report.ok:
        failed = [row for row in report.rows() if row["status"] == "failed"]
        raise SystemExit(f"{what} failed: {failed}")


def main(argv: list[str]) -> int:
    """Run the benchmark and print one line per figure."""
    parser = argparse.ArgumentParser(prog="python -m bench fleet")
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--batch-size", default="5")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    local = LocalFleet()
    try:
        nodes = [local.add_node(instances=1) for _ in range(args.nodes + 1)]
        single, fleet_nodes = nodes[:1], nodes[1:]
        settings = local.fleet(
            nodes,
            batch_size=args.batch_size,
            max_parallel_connections=args.nodes,
            health_timeout_seconds=60,
        )
        fleet = Fleet(settings)
        release_a, release_b = local.release("A"), local.release("B")
        warm = fleet.roll_out(release_a, nodes=nodes)
        _check(warm, "warm-up deploy")
        with timed() as one:
            _check(fleet.roll_out(release_b, nodes=single), "single-node deploy")
        with timed() as rolling:
            _check(fleet.roll_out(release_b, nodes=fleet_nodes), "rolling deploy")
        with timed() as rollback:
            _check(fleet.roll_back(fleet_nodes), "rollback")
    finally:
        local.close()
    count = len(fleet_nodes)
    print(f"deploy to one node: {one.seconds:.2f} s (goal baseline)")
    print(
        f"rolling deploy to {count} nodes in batches of {args.batch_size}: "
        f"{rolling.seconds:.2f} s (goal baseline x 5 = {one.seconds * 5:.2f} s)"
    )
    print(
        f"rolling deploy over one node: {rolling.seconds / one.seconds:.2f}x "
        "(goal <= 5x)"
    )
    print(f"rollback of {count} nodes: {rollback.seconds:.2f} s (goal < 60 s)")
    return 0
