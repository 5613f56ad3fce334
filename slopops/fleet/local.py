"""Agent nodes on this machine: a private sshd and PM2 home per node.

Each node is an sshd on its own loopback address (127.0.0.2 up to
127.0.0.40) and a free port, with its own host key, ``app_dir`` and
``PM2_HOME``, running the sample app. Nodes log in as root unless asked
otherwise. The tests, the benchmark and the demo use it; :meth:`close` runs
``pm2 kill`` under each ``PM2_HOME``, checks that the daemon is gone, and
stops each sshd by PID. sshd needs root.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config.settings import FleetSettings, NodeSettings
from slopops.fleet.release import Release, build_sample_release, sample_app_settings
from slopops.stack.pm2 import daemon_pid, kill_daemon, pm2_bin
from slopops.stack.process import free_port
from slopops.stack.sshd import Sshd, generate_key, start_sshd, write_known_hosts

FIRST_ADDRESS = 2
LAST_ADDRESS = 40


@dataclass
class LocalNode:
    """One local node: its settings, its sshd and its app port."""

    settings: NodeSettings
    sshd: Sshd | None
    app_port: int


class LocalFleet:
    """Nodes on this machine, a client key, known_hosts and release tarballs.

    The directory is world-traversable (mode 0755) so that a node can log in
    as an unprivileged user and still read its authorized_keys.
    """

    def __init__(self, base_dir: Path | None = None) -> None:
        self._owns_dir = base_dir is None
        if base_dir is None:
            base_dir = Path(tempfile.mkdtemp(prefix="slopops-fleet-"))
        base_dir.mkdir(parents=True, exist_ok=True)
        base_dir.chmod(0o755)
        self.base_dir = base_dir
        self.key_path = self.base_dir / "client_ed25519"
        public_key = generate_key(self.key_path, comment="slopops-local-fleet")
        self.authorized_keys = self.base_dir / "authorized_keys"
        self.authorized_keys.write_text(public_key + "\n")
        self.authorized_keys.chmod(0o644)
        self.known_hosts = self.base_dir / "known_hosts"
        self.nodes: list[LocalNode] = []
        self.pm2_homes: list[Path] = []
        self._next_address = FIRST_ADDRESS

    def add_node(
        self,
        *,
        exec_mode: str = "cluster",
        instances: int = 2,
        listen_timeout_ms: int = 3000,
        user: str = "root",
    ) -> NodeSettings:
        """Start an sshd on the next free address and describe a node behind it."""
        address = self._take_address()
        node_dir = self.base_dir / f"node-{address}"
        sshd = start_sshd(node_dir / "sshd", address, self.authorized_keys)

        # The sample app reads its address and port from shared/app.json.
        app_port = free_port(address)
        app_dir = node_dir / "app"
        (app_dir / "shared").mkdir(parents=True)
        (app_dir / "shared" / "app.json").write_text(
            sample_app_settings(
                address,
                app_port,
                instances=instances,
                exec_mode=exec_mode,
                listen_timeout_ms=listen_timeout_ms,
            )
        )

        pm2_home = node_dir / "pm2"
        self.pm2_homes.append(pm2_home)
        node = NodeSettings(
            name=f"node-{address}",
            host=address,
            port=sshd.port,
            user=user,
            app_dir=str(app_dir),
            health_url=f"http://{address}:{app_port}/health",
            pm2_home=str(pm2_home),
            pm2_bin=str(pm2_bin()),
        )
        self.nodes.append(LocalNode(node, sshd, app_port))
        self._write_known_hosts()
        return node

    def unreachable_node(self) -> NodeSettings:
        """Describe a node whose address has no sshd listening."""
        address = self._take_address()
        port = free_port(address)
        node = NodeSettings(
            name=f"down-{address}",
            host=address,
            port=port,
            user="root",
            app_dir=str(self.base_dir / f"down-{address}"),
            health_url=f"http://{address}:{port}/health",
            pm2_home=str(self.base_dir / f"down-{address}-pm2"),
        )
        self.nodes.append(LocalNode(node, None, port))
        return node

    def fleet(self, nodes: list[NodeSettings], **overrides: Any) -> FleetSettings:
        """Return fleet settings for ``nodes`` with short timeouts."""
        values: dict[str, Any] = {
            "nodes": nodes,
            "ssh_key_path": self.key_path,
            "known_hosts_file": self.known_hosts,
            "batch_size": "1",
            "max_failure_percent": 0,
            "keep_releases": 3,
            "health_timeout_seconds": 15,
            "connect_timeout_seconds": 5,
            "command_timeout_seconds": 60,
            "max_parallel_connections": 10,
        }
        values.update(overrides)
        return FleetSettings(**values)

    def release(self, release_id: str, crash_at_start: bool = False) -> Release:
        """Build a sample app release tarball."""
        return build_sample_release(
            self.base_dir / "releases", release_id, crash_at_start=crash_at_start
        )

    def record(self, node: NodeSettings) -> dict[str, Any]:
        """Read a node's release record straight from its file."""
        path = Path(node.app_dir) / ".slopops" / "record.json"
        return dict(json.loads(path.read_text()))

    def current(self, node: NodeSettings) -> str:
        """Return the release id that ``current`` points to on ``node``."""
        return (Path(node.app_dir) / "current").resolve().name

    def close(self) -> None:
        """Stop every PM2 daemon and sshd; delete the directory if it made it."""
        survivors = []
        try:
            for pm2_home in self.pm2_homes:
                kill_daemon(pm2_home)
                if daemon_pid(pm2_home) is not None:
                    survivors.append(str(pm2_home))
        finally:
            for node in self.nodes:
                if node.sshd is not None:
                    node.sshd.stop()
        if survivors:
            raise RuntimeError(f"PM2 daemons of {survivors} survived pm2 kill")
        if self._owns_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def _take_address(self) -> str:
        if self._next_address > LAST_ADDRESS:
            raise RuntimeError(
                f"no loopback address left for a node (127.0.0.{FIRST_ADDRESS}"
                f" to 127.0.0.{LAST_ADDRESS} are taken); use fewer nodes"
            )
        address = f"127.0.0.{self._next_address}"
        self._next_address += 1
        return address

    def _write_known_hosts(self) -> None:
        write_known_hosts(
            self.known_hosts, [node.sshd for node in self.nodes if node.sshd]
        )
