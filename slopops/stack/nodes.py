"""Agent nodes on this machine as stack services: one sshd per node address.

A profile's nodes on a loopback address (``fleet.nodes``, and
``mcp.local_node`` in local MCP mode) are reached over SSH like remote ones,
so the stack starts an sshd for each distinct address and port. The client
key is ``fleet.ssh_key_path`` (created if missing) and each sshd's host key
is written to ``fleet.known_hosts_file``. PM2 daemons started on a node over
SSH are re-parented to PID 1, so ``down`` stops them through ``pm2 kill``
under each node's ``PM2_HOME``.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from config import Settings
from config.settings import NodeSettings
from slopops.stack.manager import Service
from slopops.stack.sshd import start_node_sshd

# Starts of several node services run in parallel threads, and each rewrites
# the shared known_hosts file.
_KNOWN_HOSTS_LOCK = threading.Lock()


@dataclass(frozen=True)
class NodeConfig:
    """One sshd of the local stack and the PM2 homes of the nodes behind it."""

    name: str
    host: str
    port: int
    client_key: Path
    known_hosts: Path
    pm2_homes: tuple[Path, ...] = ()


def nodes_from_settings(settings: Settings) -> tuple[NodeConfig, ...]:
    """Return one :class:`NodeConfig` per loopback address and port of the profile.

    Raises:
        ValueError: The profile has loopback nodes but no ``fleet.ssh_key_path``
            or ``fleet.known_hosts_file``.
    """
    nodes = [node for node in _profile_nodes(settings) if node.host.startswith("127.")]
    if not nodes:
        return ()
    fleet = settings.fleet
    if fleet.ssh_key_path is None or fleet.known_hosts_file is None:
        raise ValueError(
            f"the {settings.environment} profile has nodes on this machine but no "
            "fleet.ssh_key_path or fleet.known_hosts_file; set both"
        )
    by_address: dict[tuple[str, int], list[NodeSettings]] = {}
    for node in nodes:
        by_address.setdefault((node.host, node.port), []).append(node)
    return tuple(
        NodeConfig(
            name=group[0].name,
            host=host,
            port=port,
            client_key=settings.resolve(fleet.ssh_key_path),
            known_hosts=settings.resolve(fleet.known_hosts_file),
            # Paths of a node on this machine are relative to the workspace.
            pm2_homes=tuple(
                settings.resolve(Path(node.pm2_home)) for node in group if node.pm2_home
            ),
        )
        for (host, port), group in by_address.items()
    )


def merge_nodes(nodes: list[NodeConfig]) -> tuple[NodeConfig, ...]:
    """Merge nodes of several profiles that share an address and port.

    Profiles may share an sshd (the local MCP node of each simulation
    profile), so one service starts it and its cleanup covers every PM2 home.
    """
    merged: dict[tuple[str, int], NodeConfig] = {}
    for node in nodes:
        key = (node.host, node.port)
        known = merged.get(key)
        if known is None:
            merged[key] = node
            continue
        homes = known.pm2_homes + tuple(
            home for home in node.pm2_homes if home not in known.pm2_homes
        )
        merged[key] = replace(known, pm2_homes=homes)
    return tuple(merged.values())


def node_service(node: NodeConfig) -> Service:
    """Return the service running the sshd of ``node``."""

    def start(directory: Path) -> int:
        with _KNOWN_HOSTS_LOCK:
            server = start_node_sshd(
                directory, node.host, node.port, node.client_key, node.known_hosts
            )
        return server.process.pid

    return Service(
        name=f"sshd-{node.name}",
        host=node.host,
        port=node.port,
        url=f"ssh://{node.host}:{node.port}",
        start=start,
        ready=lambda: _accepts(node.host, node.port),
        pm2_homes=node.pm2_homes,
    )


def _profile_nodes(settings: Settings) -> list[NodeSettings]:
    nodes = list(settings.fleet.nodes)
    if settings.mcp.mode == "local" and settings.mcp.local_node is not None:
        nodes.append(settings.mcp.local_node)
    return nodes


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False
