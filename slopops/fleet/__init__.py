"""Node fleet releases over SSH and PM2: deploy, roll back, report status."""

from __future__ import annotations

from pathlib import Path

from config.settings import FleetSettings, NodeSettings, Settings
from slopops.fleet.node import NodeOptions, NodeRelease
from slopops.fleet.release import Release, build_sample_release
from slopops.fleet.report import NodeOutcome, RolloutReport
from slopops.fleet.rollout import Fleet, plan_batches, run_rollout
from slopops.fleet.ssh import SshConnector

__all__ = [
    "Fleet",
    "NodeOptions",
    "NodeOutcome",
    "NodeRelease",
    "Release",
    "RolloutReport",
    "SshConnector",
    "build_sample_release",
    "plan_batches",
    "resolve_fleet",
    "resolve_node",
    "run_rollout",
]


def resolve_fleet(settings: Settings) -> FleetSettings:
    """Return the fleet settings with the key and known_hosts paths made absolute.

    The paths of nodes on a loopback address are made absolute too, because
    such a node is this machine (the simulation profiles' nodes).
    """
    fleet = settings.fleet
    update: dict[str, object] = {}
    if fleet.ssh_key_path is not None:
        update["ssh_key_path"] = settings.resolve(fleet.ssh_key_path)
    if fleet.known_hosts_file is not None:
        update["known_hosts_file"] = settings.resolve(fleet.known_hosts_file)
    update["nodes"] = [
        resolve_node(settings, node) if node.host.startswith("127.") else node
        for node in fleet.nodes
    ]
    return fleet.model_copy(update=update)


def resolve_node(settings: Settings, node: NodeSettings) -> NodeSettings:
    """Return a node on this machine with its paths made absolute.

    Only for nodes on this machine (the local MCP app), whose relative paths
    are relative to the workspace, not to the SSH user's home. ``pm2_bin``
    counts as a path when it contains a slash; a bare name stays a PATH lookup.
    """
    update = {"app_dir": str(settings.resolve(Path(node.app_dir)))}
    if node.pm2_home:
        update["pm2_home"] = str(settings.resolve(Path(node.pm2_home)))
    if "/" in node.pm2_bin:
        update["pm2_bin"] = str(settings.resolve(Path(node.pm2_bin)))
    return node.model_copy(update=update)
