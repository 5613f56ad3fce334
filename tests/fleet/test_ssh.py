"""SSH connections against a real sshd: host keys, timeouts, quoting."""

from __future__ import annotations

import os
import time
from pathlib import Path

import paramiko
import pytest

from config.settings import FleetSettings, NodeSettings
from slopops.fleet import Fleet
from slopops.fleet.errors import (
    CommandFailedError,
    CommandTimeoutError,
    HostKeyError,
    NodeUnreachableError,
    TransferError,
)
from slopops.fleet.ssh import Checkpoint, SshConnection, SshConnector
from slopops.stack.process import free_port
from slopops.stack.sshd import generate_key, start_node_sshd
from tests.fixtures.fleet import FleetLab


def test_run_exports_env_and_quotes(
    fleet_lab: FleetLab, caplog: pytest.LogCaptureFixture
) -> None:
    node = fleet_lab.add_node()
    connector = SshConnector(fleet_lab.fleet([node]))
    caplog.set_level("INFO", logger="slopops.fleet.ssh")
    with connector.connect(node) as connection:
        result = connection.run(
            'printf "%s|%s" "$RELEASE" "$PM2_HOME"',
            env={"RELEASE": "it's; rm -rf /", "PM2_HOME": "/tmp/a b"},
        )
    assert result.stdout == "it's; rm -rf /|/tmp/a b"
    assert "rm -rf" not in caplog.text
    assert 'printf "%s|%s"' in caplog.text


def test_changed_host_key_is_rejected(fleet_lab: FleetLab) -> None:
    node = fleet_lab.add_node()
    other_key = generate_key(fleet_lab.base_dir / "impostor_key")
    line = f"[{node.host}]:{node.port} {other_key}\n"
    fleet_lab.known_hosts.write_text(line)
    connector = SshConnector(fleet_lab.fleet([node]))
    with pytest.raises(HostKeyError, match="has changed"):
        with connector.connect(node):
            pass
    assert fleet_lab.known_hosts.read_text() == line


def test_unknown_host_key_is_rejected(fleet_lab: FleetLab) -> None:
    node = fleet_lab.add_node()
    fleet_lab.known_hosts.write_text("")
    connector = SshConnector(fleet_lab.fleet([node]))
    with pytest.raises(HostKeyError, match="is not known"):
        with connector.connect(node):
            pass
    assert fleet_lab.known_hosts.read_text() == ""


def test_host_key_from_node_settings(fleet_lab: FleetLab) -> None:
    node = fleet_lab.add_node()
    host_key = fleet_lab.nodes[-1].sshd.host_key  # type: ignore[union-attr]
    fleet_lab.known_hosts.unlink()
    keyed = node.model_copy(update={"host_key": host_key})
    fleet = fleet_lab.fleet([keyed], known_hosts_file=None)
    with SshConnector(fleet).connect(keyed) as connection:
        assert connection.run("echo ok").stdout == "ok\n"


def test_command_timeout(fleet_lab: FleetLab) -> None:
    node = fleet_lab.add_node()
    connector = SshConnector(fleet_lab.fleet([node]))
    started = time.monotonic()
    with connector.connect(node) as connection:
        with pytest.raises(CommandTimeoutError, match="did not finish in 0.5 s"):
            connection.run("sleep 10", timeout_seconds=0.5)
    assert time.monotonic() - started < 5


def test_checkpoint_starts_second_timeout(fleet_lab: FleetLab) -> None:
    node = fleet_lab.add_node()
    connector = SshConnector(fleet_lab.fleet([node]))
    checkpoint = Checkpoint("part one done", 5, "part two")
    with connector.connect(node) as connection:
        # 3.5 s in all: more than the first timeout, but each part fits its own.
        result = connection.run(
            "sleep 1; echo 'part one done'; sleep 2.5; echo end",
            timeout_seconds=3,
            checkpoint=checkpoint,
        )
        assert result.stdout == "part one done\nend\n"
        with pytest.raises(
            CommandTimeoutError, match="'part one' did not finish in 0.5 s"
        ):
            connection.run(
                "sleep 10; echo 'part one done'",
                timeout_seconds=0.5,
                log_as="part one",
                checkpoint=checkpoint,
            )
        short = Checkpoint("part one done", 0.5, "part two")
        with pytest.raises(
            CommandTimeoutError, match="'part two' did not finish in 0.5 s"
        ):
            connection.run(
                "echo 'part one done'; sleep 10", timeout_seconds=5, checkpoint=short
            )


def test_makedirs_and_is_dir(fleet_lab: FleetLab) -> None:
    node = fleet_lab.add_node()
    connector = SshConnector(fleet_lab.fleet([node]))
    target = Path(node.app_dir) / "one" / "two words"
    with connector.connect(node) as connection:
        connection.makedirs(str(target))
        # A second call finds every directory present and creates nothing.
        connection.makedirs(str(target))
        assert target.is_dir()
        assert connection.is_dir(str(target))
        (target / "file").write_text("")
        assert not connection.is_dir(str(target / "file"))
        assert not connection.is_dir(str(target / "missing"))
        with pytest.raises(TransferError) as caught:
            connection.makedirs(str(target / "file" / "below"))
        assert f"{str(target / 'file')!r} failed" in str(caught.value)
        assert "exists and is not a directory" in str(caught.value)


def test_makedirs_relative_path(fleet_lab: FleetLab) -> None:
    node = fleet_lab.add_node()
    connector = SshConnector(fleet_lab.fleet([node]))
    with connector.connect(node) as connection:
        # SFTP resolves a relative path against the login directory, as the
        # shell of run() does.
        cwd = connection.run("pwd").stdout.strip()
        relative = f"slopops-makedirs-test-{os.getpid()}/a/b"
        try:
            connection.makedirs(relative)
            assert connection.is_dir(relative)
            assert Path(cwd, relative).is_dir()
        finally:
            connection.run(f"rm -rf slopops-makedirs-test-{os.getpid()}")


def test_makedirs_tolerates_concurrent_create(
    fleet_lab: FleetLab, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = fleet_lab.add_node()
    connector = SshConnector(fleet_lab.fleet([node]))
    target = Path(node.app_dir) / "raced"
    real_is_dir = SshConnection._is_dir

    def is_dir_then_create(sftp: paramiko.SFTPClient, remote_path: str) -> bool:
        # Another deployer creates the directory between the check and mkdir.
        present = real_is_dir(sftp, remote_path)
        if remote_path == str(target) and not present:
            target.mkdir()
        return present

    monkeypatch.setattr(SshConnection, "_is_dir", staticmethod(is_dir_then_create))
    with connector.connect(node) as connection:
        connection.makedirs(str(target))
    assert target.is_dir()


def test_each_node_has_its_own_home(fleet_lab: FleetLab) -> None:
    nodes = [fleet_lab.add_node() for _ in range(2)]
    connector = SshConnector(fleet_lab.fleet(nodes))
    homes = []
    for node in nodes:
        with connector.connect(node) as connection:
            homes.append(connection.run('printf %s "$HOME"').stdout)
    assert homes[0] != homes[1]
    for home in homes:
        assert home != os.path.expanduser("~")
        assert Path(home).is_dir()
        assert Path(home).is_relative_to(fleet_lab.base_dir)


def test_background_child_holding_stdout(fleet_lab: FleetLab) -> None:
    node = fleet_lab.add_node()
    connector = SshConnector(fleet_lab.fleet([node]))
    with connector.connect(node) as connection:
        started = time.monotonic()
        # The child keeps stdout open for 10 s after the shell has exited.
        result = connection.run("sleep 10 & echo started", timeout_seconds=8)
    assert result.stdout == "started\n"
    assert result.exit_status == 0
    assert time.monotonic() - started < 6


def test_failed_command_raises_with_stderr(fleet_lab: FleetLab) -> None:
    node = fleet_lab.add_node()
    connector = SshConnector(fleet_lab.fleet([node]))
    with connector.connect(node) as connection:
        with pytest.raises(CommandFailedError, match="exited with 3: boom") as info:
            connection.run("echo boom >&2; exit 3")
    assert info.value.exit_status == 3


def test_unreachable_node(fleet_lab: FleetLab) -> None:
    node = fleet_lab.unreachable_node()
    connector = SshConnector(fleet_lab.fleet([node]))
    with pytest.raises(NodeUnreachableError, match="unreachable") as info:
        with connector.connect(node):
            pass
    message = str(info.value)
    assert f"connection to {node.host}:{node.port} refused" in message
    assert "Errno" not in message


def test_secrets_are_redacted_in_logs(
    fleet_lab: FleetLab, caplog: pytest.LogCaptureFixture
) -> None:
    node = fleet_lab.add_node()
    connector = SshConnector(fleet_lab.fleet([node]), secrets=["s3cret-token"])
    caplog.set_level("DEBUG", logger="slopops.fleet.ssh")
    with connector.connect(node) as connection:
        connection.run("echo s3cret-token")
    assert "s3cret-token" not in caplog.text
    assert "***" in caplog.text


def test_node_sshd_keeps_host_key_across_restarts(fleet_lab: FleetLab) -> None:
    state_dir = fleet_lab.base_dir / "mcp-sshd"
    client_key = fleet_lab.base_dir / "keys" / "fleet_ed25519"
    known_hosts = fleet_lab.base_dir / "fleet" / "known_hosts"
    address = "127.0.0.39"
    port = free_port(address)
    first = start_node_sshd(state_dir, address, port, client_key, known_hosts)
    first.stop()
    second = start_node_sshd(state_dir, address, port, client_key, known_hosts)
    try:
        assert second.host_key == first.host_key
        assert known_hosts.read_text() == second.known_hosts_line + "\n"
        node = NodeSettings(
            name="mcp-local",
            host=address,
            port=port,
            user="root",
            app_dir=str(state_dir / "app"),
            health_url=f"http://{address}:{port}/health",
        )
        fleet = FleetSettings(
            nodes=[node], ssh_key_path=client_key, known_hosts_file=known_hosts
        )
        with SshConnector(fleet).connect(node) as connection:
            assert connection.run("echo ok").stdout == "ok\n"
    finally:
        second.stop()


def test_invalid_host_key_fails_only_that_node(fleet_lab: FleetLab) -> None:
    node = fleet_lab.unreachable_node().model_copy(update={"host_key": "garbage"})
    fleet = Fleet(fleet_lab.fleet([node]))
    outcome = fleet.deploy_node(node, fleet_lab.release("A"))
    assert outcome.status == "failed"
    assert "host_key 'garbage'" in (outcome.error or "")
