"""Nodes on this machine in the stack: an sshd per address, PM2 cleaned up."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paramiko
import pytest
import tomli_w

from config import Settings, load_settings
from slopops.stack.manager import Stack
from slopops.stack.nodes import (
    NodeConfig,
    merge_nodes,
    node_service,
    nodes_from_settings,
)
from slopops.stack.pm2 import daemon_pid, run_pm2
from slopops.stack.process import free_port
from tests.config.helpers import BASE_PROFILE
from tests.stack.helpers import alive


def _node(name: str, host: str, port: int, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "host": host,
        "port": port,
        "user": "root",
        "app_dir": f"apps/{name}",
        "health_url": "http://127.0.0.1:9/health",
        **extra,
    }


def _settings(tmp_path: Path, fleet: dict[str, Any], mcp: dict[str, Any]) -> Settings:
    profile = {**BASE_PROFILE, "fleet": fleet, "mcp": mcp}
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "devnet.toml").write_text(tomli_w.dumps(profile))
    return load_settings("devnet", config_dir)


def test_nodes_grouped_by_address(tmp_path: Path) -> None:
    fleet = {
        "ssh_key_path": "keys/fleet",
        "known_hosts_file": "known_hosts",
        "nodes": [
            _node("a", "127.0.0.2", 2201, pm2_home="pm2/a"),
            _node("b", "127.0.0.2", 2201, pm2_home="pm2/b"),
            _node("c", "127.0.0.3", 2202),
            _node("remote", "10.1.2.3", 22),
        ],
    }
    mcp = {"mode": "local", "local_node": _node("mcp", "127.0.0.1", 2222)}

    nodes = nodes_from_settings(_settings(tmp_path, fleet, mcp))

    assert [(node.name, node.host, node.port) for node in nodes] == [
        ("a", "127.0.0.2", 2201),
        ("c", "127.0.0.3", 2202),
        ("mcp", "127.0.0.1", 2222),
    ]
    assert nodes[0].pm2_homes == (tmp_path / "pm2/a", tmp_path / "pm2/b")
    assert nodes[0].client_key == tmp_path / "keys/fleet"
    assert nodes[0].known_hosts == tmp_path / "known_hosts"


def test_shared_sshd_of_profiles_merged(tmp_path: Path) -> None:
    def node(name: str, port: int, *homes: str) -> NodeConfig:
        paths = tuple(tmp_path / home for home in homes)
        return NodeConfig(
            name, "127.0.0.1", port, tmp_path / "key", tmp_path / "known_hosts", paths
        )

    merged = merge_nodes(
        [
            node("mcp-local", 2222, "pm2"),
            node("a", 2201),
            node("mcp-devnet", 2222, "pm2", "b"),
        ]
    )

    assert [(n.name, n.port) for n in merged] == [("mcp-local", 2222), ("a", 2201)]
    assert merged[0].pm2_homes == (tmp_path / "pm2", tmp_path / "b")


def test_remote_nodes_only_give_none(tmp_path: Path) -> None:
    fleet = {"known_hosts_file": "known_hosts", "nodes": [_node("r", "10.0.0.9", 22)]}
    mcp = {"mode": "fly", "fly_app": "x", "machines_api_url": "http://127.0.0.1:9"}

    assert nodes_from_settings(_settings(tmp_path, fleet, mcp)) == ()


def test_local_node_without_key_rejected(tmp_path: Path) -> None:
    mcp = {"mode": "local", "local_node": _node("mcp", "127.0.0.1", 2222)}
    fleet = {"known_hosts_file": "known_hosts"}

    with pytest.raises(ValueError, match="no fleet.ssh_key_path"):
        nodes_from_settings(_settings(tmp_path, fleet, mcp))


@pytest.fixture
def node_dir() -> Iterator[Path]:
    """Return a fresh directory outside tmp_path, which sshd's user must enter."""
    root = Path(tempfile.mkdtemp(prefix="slopops-stack-node-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="sshd runs as root only")
def test_node_service_up_and_down(node_dir: Path) -> None:
    port = free_port()
    node = NodeConfig(
        name="mcp-test",
        host="127.0.0.1",
        port=port,
        client_key=node_dir / "keys" / "client",
        known_hosts=node_dir / "known_hosts",
        pm2_homes=(node_dir / "pm2",),
    )
    stack = Stack([node_service(node)], node_dir / "stack")
    try:
        pid = stack.up()[0].pid or 0
        assert stack.status()[0].status == "ready"
        assert _ssh_echo(node, "ok") == "ok"
        # A PM2 daemon, as a release over SSH starts one; any command starts it.
        run_pm2(node_dir / "pm2", "ping").check_returncode()
        pm2_pid = daemon_pid(node_dir / "pm2")
        assert pm2_pid is not None
    finally:
        statuses = stack.down()

    assert statuses[0].status == "stopped"
    assert alive([pid, pm2_pid]) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="sshd runs as root only")
def test_down_without_options_stops_pm2(node_dir: Path) -> None:
    node = NodeConfig(
        name="mcp-test",
        host="127.0.0.1",
        port=free_port(),
        client_key=node_dir / "keys" / "client",
        known_hosts=node_dir / "known_hosts",
        pm2_homes=(node_dir / "pm2",),
    )
    stack = Stack([node_service(node)], node_dir / "stack")
    pid = stack.up()[0].pid or 0
    run_pm2(node_dir / "pm2", "ping").check_returncode()
    pm2_pid = daemon_pid(node_dir / "pm2")
    try:
        assert pm2_pid is not None
        # A stack without the node's options, as after stack.json is deleted:
        # only the service's record names the PM2 home.
        statuses = Stack([], node_dir / "stack").down()
        survivors = alive([pid, pm2_pid])
    finally:
        stack.down()

    assert [status.name for status in statuses] == ["sshd-mcp-test"]
    assert statuses[0].status == "stopped"
    assert survivors == []


def _ssh_echo(node: NodeConfig, text: str) -> str:
    client = paramiko.SSHClient()
    client.load_host_keys(str(node.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(
            node.host,
            port=node.port,
            username="root",
            key_filename=str(node.client_key),
            look_for_keys=False,
            allow_agent=False,
            timeout=10,
        )
        _, stdout, _ = client.exec_command(f"echo {text}", timeout=10)
        return stdout.read().decode().strip()
    finally:
        client.close()
