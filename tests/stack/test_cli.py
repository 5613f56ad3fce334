"""Tests of ``slopops stack up`` as a command: options, exit codes, SIGINT."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

from slopops.cli import app
from slopops.stack.process import boot_id, free_port, start_ticks, stop_pid
from slopops.stack.services import StackConfig, load_config, save_config
from tests.fleet.test_cli import write_profile
from tests.stack.helpers import alive, start_listener

SLOPOPS = str(Path(sys.executable).with_name("slopops"))
# Parts that start slowly or on fixed ports; the tests leave them out.
LEAVE_OUT = ["--without", "arlocal", "--without", "postgres", "--without", "nodes"]


@pytest.fixture
def pids() -> Iterator[list[int]]:
    """Collect PIDs a test starts and stop those still running afterwards."""
    started: list[int] = []
    yield started
    for pid in started:
        stop_pid(pid)


def _record(state_dir: Path, name: str, pid: int, port: int | None) -> None:
    """Write the record that ``up`` leaves for a running service."""
    record = {
        "pid": pid,
        "boot_id": boot_id(),
        "start_ticks": start_ticks(pid),
        "create_time": psutil.Process(pid).create_time(),
        "port": port,
        "url": f"http://127.0.0.1:{port}",
    }
    path = state_dir / "records" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))


def _saved_stack(state_dir: Path, pids: list[int]) -> StackConfig:
    """Save a stack of Prefect and arlocal whose records point at listeners.

    The listeners accept connections but send no HTTP response, so ``up`` finds
    every service running and none of them ready, and starts nothing.
    """
    config = StackConfig(
        state_dir=state_dir,
        prefect_port=free_port(),
        chains=(),
        arlocal_port=free_port(),
        postgres_port=None,
        nodes=(),
    )
    save_config(config)
    for name, port in (
        ("prefect-server", config.prefect_port),
        ("prefect-worker", free_port()),
        ("arlocal", config.arlocal_port),
    ):
        pid = start_listener(port, state_dir / name)
        pids.append(pid)
        _record(state_dir, name, pid, None if name == "prefect-worker" else port)
    return config


def test_up_keeps_saved_options(tmp_path: Path, pids: list[int]) -> None:
    saved = _saved_stack(tmp_path, pids)

    result = CliRunner().invoke(app, ["stack", "up", "--state-dir", str(tmp_path)])

    # Not rejected as running on another port than the default one.
    assert "is running" not in result.output
    assert "not ready: " in result.output
    assert load_config(tmp_path) == saved


def test_up_exits_1_when_not_ready(tmp_path: Path, pids: list[int]) -> None:
    _saved_stack(tmp_path, pids)

    result = CliRunner().invoke(app, ["stack", "up", "--state-dir", str(tmp_path)])

    assert result.exit_code == 1
    assert "not ready: prefect-server, prefect-worker, arlocal" in result.output


def test_up_with_other_port_keeps_saved(tmp_path: Path, pids: list[int]) -> None:
    saved = _saved_stack(tmp_path, pids)
    other_port = free_port()

    result = CliRunner().invoke(
        app,
        [
            "stack",
            "up",
            "--state-dir",
            str(tmp_path),
            "--prefect-port",
            str(other_port),
        ],
    )

    assert result.exit_code == 1
    assert f"not {other_port}" in result.output
    assert load_config(tmp_path) == saved


@pytest.mark.parametrize("port", ["0", "70000", "-1"])
def test_up_rejects_port_out_of_range(tmp_path: Path, port: str) -> None:
    result = CliRunner().invoke(
        app, ["stack", "up", "--state-dir", str(tmp_path), "--prefect-port", port]
    )

    assert result.exit_code == 2
    assert "Invalid value for '--prefect-port'" in result.output
    assert not (tmp_path / "stack.json").exists()


def test_up_rejects_shared_port(tmp_path: Path) -> None:
    port = free_port()

    result = CliRunner().invoke(
        app,
        [
            "stack",
            "up",
            "--state-dir",
            str(tmp_path),
            "--prefect-port",
            str(port),
            "--chain",
            f"local={port}",
            *LEAVE_OUT,
        ],
    )

    assert result.exit_code == 1
    assert "prefect-server and localnet-local" in result.output
    assert str(port) in result.output
    assert not (tmp_path / "stack.json").exists()
    assert list(tmp_path.glob("records/*.json")) == []


def test_up_prints_profile_error_whole(tmp_path: Path) -> None:
    config_dir = write_profile(tmp_path / "config", {}, {"mode": "local"})

    result = CliRunner().invoke(
        app,
        [
            "stack",
            "up",
            "--state-dir",
            str(tmp_path / "state"),
            "--env",
            "local",
            "--config-dir",
            str(config_dir),
        ],
    )

    assert result.exit_code == 2
    assert result.output.startswith("error: invalid 'local' profile: mcp: ")
    # Rich markup would swallow the table name.
    assert "add an [mcp.local_node] table" in result.output
    assert not (tmp_path / "state" / "stack.json").exists()


def test_up_rejects_chain_given_twice(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            SLOPOPS,
            "stack",
            "up",
            "--state-dir",
            str(tmp_path),
            "--prefect-port",
            str(free_port()),
            "--chain",
            f"local={free_port()}",
            "--chain",
            f"local={free_port()}",
            *LEAVE_OUT,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert result.stderr.startswith("error: chain 'local' is given twice")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "stack.json").exists()


def test_sigint_stops_what_up_started(tmp_path: Path, pids: list[int]) -> None:
    command = [
        SLOPOPS,
        "stack",
        "up",
        "--state-dir",
        str(tmp_path),
        "--prefect-port",
        str(free_port()),
        "--chain",
        f"local={free_port()}",
        *LEAVE_OUT,
    ]
    up = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    # The chain is ready in a few seconds, the Prefect server takes 9 to 20 s.
    chain_record = tmp_path / "records" / "localnet-local.json"
    deadline = time.monotonic() + 60
    while not chain_record.exists() and up.poll() is None:
        assert time.monotonic() < deadline, "localnet-local never became ready"
        time.sleep(0.1)
    started = [child.pid for child in psutil.Process(up.pid).children(recursive=True)]
    pids.extend(started)
    recorded = [
        json.loads(path.read_text())["pid"]
        for path in (tmp_path / "records").glob("*.json")
    ]
    assert not (tmp_path / "records" / "prefect-server.json").exists()

    sent = time.monotonic()
    up.send_signal(signal.SIGINT)
    output, _ = up.communicate(timeout=30)

    assert up.returncode == 130, output
    assert time.monotonic() - sent < 15
    assert "stopped" in output
    assert "localnet-local (pid" in output
    assert "prefect-server (pid" in output
    assert recorded
    assert alive(recorded) == []
    assert alive(started) == []
    assert list((tmp_path / "records").glob("*.json")) == []
