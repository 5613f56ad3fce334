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

It does this twice, with fresh nodes each time:

- shared cores: every node competes for all of this machine's CPUs, so the
  five nodes of a batch share them;
- modelled hosts: each node's sshd goes into its own cgroup with a CPU
  quota of ``--node-cpu`` cores, the baseline node included, so everything
  a node runs shares one budget, as on a small host of its own. The default
  quota is the machine's cores / (2 x batch size). A whole batch then uses
  at most half of the machine, so its nodes seldom wait for each other's
  CPU, as separate hosts would not. The deployer, sshd's network work and
  the kernel keep the other half. The run is skipped, with the reason printed,
  when cgroup v1 CPU quotas cannot be set.

Needs root (sshd, cgroups) and tools/node_modules (pm2). Options:
``--nodes N`` (default 20), ``--batch-size S`` (default 5), ``--node-cpu
CORES``, ``--only shared|modelled``.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
from collections.abc import Callable

from bench._cpu_quota import CPU_CONTROLLER, CpuQuotaGroups, unavailable_reason
from bench.measure import timed
from config.settings import NodeSettings
from slopops.fleet import Fleet
from slopops.fleet.local import LocalFleet
from slopops.fleet.report import RolloutReport
from slopops.fleet.rollout import batch_count

# Called with each node's name and sshd PID right after the sshd starts.
NodeHook = Callable[[str, int], object]


def _check(report: RolloutReport, what: str) -> None:
    if not report.ok:
        failed = [row for row in report.rows() if row["status"] == "failed"]
        raise SystemExit(f"{what} failed: {failed}")


def _start_nodes(
    local: LocalFleet, count: int, on_start: NodeHook | None
) -> list[NodeSettings]:
    nodes = []
    for _ in range(count):
        node = local.add_node(instances=1)
        sshd = local.nodes[-1].sshd
        if on_start is not None and sshd is not None:
            on_start(node.name, sshd.process.pid)
        nodes.append(node)
    return nodes


def _measure(
    local: LocalFleet, nodes: int, batch_size: str, on_start: NodeHook | None = None
) -> dict[str, float]:
    """Start the nodes, warm them up, and time the three operations."""
    all_nodes = _start_nodes(local, nodes + 1, on_start)
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


def _run_shared(nodes: int, batch_size: str) -> dict[str, float]:
    local = LocalFleet()
    try:
        return _measure(local, nodes, batch_size)
    finally:
        local.close()


def _run_modelled(
    nodes: int, batch_size: str, groups: CpuQuotaGroups
) -> dict[str, float]:
    """Measure with each node's process tree in a cgroup of ``groups``.

    The groups are removed after LocalFleet.close() has stopped the PM2
    daemons, apps and sshd processes in them.
    """
    try:
        local = LocalFleet()
        try:
            seconds = _measure(local, nodes, batch_size, groups.confine)
            seconds["throttled"] = groups.throttled_seconds()
            return seconds
        finally:
            local.close()
    finally:
        groups.close()


def _print_figures(
    label: str, seconds: dict[str, float], args: argparse.Namespace
) -> None:
    single, rolling = seconds["single"], seconds["rolling"]
    ratio = rolling / single
    print(label)
    print(f"  deploy to one node (median of 3): {single:.2f} s (goal baseline)")
    print(
        f"  rolling deploy to {args.nodes} nodes in batches of {args.batch_size}: "
        f"{rolling:.2f} s (goal <= 5 x baseline = {single * 5:.2f} s)"
    )
    verdict = "met" if ratio <= 5 else "missed"
    print(f"  rolling deploy over one node: {ratio:.2f}x (goal <= 5x, {verdict})")
    rollback = seconds["rollback"]
    verdict = "met" if rollback < 60 else "missed"
    print(
        f"  rollback of {args.nodes} nodes: {rollback:.2f} s (goal < 60 s, {verdict})"
    )


def _default_node_cpu(nodes: int, batch_size: str) -> float:
    """Return the machine's cores / (2 x batch size)."""
    cores = os.cpu_count() or 1
    return cores / (2 * batch_count(nodes, batch_size))


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench fleet")
    parser.add_argument("--nodes", type=int, default=20, help="nodes in the rollout")
    parser.add_argument(
        "--batch-size", default="5", help="nodes per batch: '5' or '25%%'"
    )
    parser.add_argument(
        "--node-cpu",
        type=float,
        metavar="CORES",
        help="CPU quota of each node in the modelled run, in cores "
        "(default: this machine's cores / (2 x batch size))",
    )
    parser.add_argument(
        "--only",
        choices=("shared", "modelled"),
        help="run only the shared-core or only the modelled-host measurement",
    )
    args = parser.parse_args(argv)
    if args.node_cpu is not None and args.node_cpu <= 0:
        parser.error(f"--node-cpu must be above 0 cores, got {args.node_cpu}")
    return args


def main(argv: list[str]) -> int:
    """Run the benchmark and print the figures of each run under a label."""
    args = _parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    cores = os.cpu_count() or 1

    if args.only != "modelled":
        seconds = _run_shared(args.nodes, args.batch_size)
        label = f"shared cores: {args.nodes + 1} nodes on this machine's {cores} CPUs"
        _print_figures(label, seconds, args)

    if args.only != "shared":
        node_cpu = args.node_cpu or _default_node_cpu(args.nodes, args.batch_size)
        reason = unavailable_reason(CPU_CONTROLLER)
        if reason is not None:
            print(f"modelled hosts: skipped, because {reason}")
            return 0
        try:
            groups = CpuQuotaGroups(f"slopops-fleetbench-{os.getpid()}", node_cpu)
        except OSError as exc:
            print(f"modelled hosts: skipped, because a cgroup cannot be made: {exc}")
            return 0
        seconds = _run_modelled(args.nodes, args.batch_size, groups)
        label = (
            f"modelled hosts: each node limited to {node_cpu:.3f} CPU cores by a "
            f"cgroup v1 quota of {round(node_cpu * 100_000)} us per 100000 us, "
            f"on {cores} CPUs"
        )
        _print_figures(label, seconds, args)
        print(
            f"  time the {args.nodes + 1} node cgroups spent throttled over the whole "
            f"modelled run, warm-up included, summed: "
            f"{seconds['throttled']:.2f} s"
        )
    return 0
