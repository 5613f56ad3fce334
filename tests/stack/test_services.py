"""The default local stack, started for real on free ports."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from slopops.stack.manager import Stack
from slopops.stack.prefect_server import prefect_environment
from slopops.stack.process import free_port
from slopops.stack.services import (
    StackConfig,
    build_services,
    load_config,
    save_config,
)
from tests.stack.helpers import alive, process_tree

SERVICE_NAMES = [
    "prefect-server",
    "prefect-worker",
    "localnet-local",
    "localnet-devnet",
    "localnet-mainnet-beta",
    "arlocal",
    "postgres",
]

# Deploys a flow that sleeps and starts one run of it, without waiting.
_DEPLOY_AND_RUN = """
import sys
from prefect import flow
from prefect.deployments import run_deployment

source, pool = sys.argv[1], sys.argv[2]
flow.from_source(source=source, entrypoint="sleepy.py:sleepy").deploy(
    name="sleepy", work_pool_name=pool, print_next_steps=False
)
run_deployment("sleepy/sleepy", timeout=0)
"""

_SLEEPY_FLOW = """
import time
from prefect import flow

@flow
def sleepy() -> None:
    time.sleep(600)
"""


def _config(state_dir: Path) -> StackConfig:
    return StackConfig(
        state_dir=state_dir,
        prefect_port=free_port(),
        chains=(
            ("local", free_port()),
            ("devnet", free_port()),
            ("mainnet-beta", free_port()),
        ),
        arlocal_port=free_port(),
        postgres_port=free_port(),
    )


def _start_flow_run(config: StackConfig, tmp_path: Path) -> None:
    flow_dir = tmp_path / "flows"
    flow_dir.mkdir()
    (flow_dir / "sleepy.py").write_text(textwrap.dedent(_SLEEPY_FLOW))
    env = {
        **os.environ,
        **prefect_environment(
            config.prefect_home, f"http://127.0.0.1:{config.prefect_port}/api"
        ),
    }
    subprocess.run(
        [sys.executable, "-c", _DEPLOY_AND_RUN, str(flow_dir), config.work_pool],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )


def _wait_for_flow_run_process(worker_pid: int, timeout_seconds: float) -> list[int]:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        children = psutil.Process(worker_pid).children(recursive=True)
        if children:
            return [child.pid for child in children]
        time.sleep(0.2)
    raise AssertionError(f"worker {worker_pid} started no flow run in time")


@pytest.fixture
def stack_dir() -> Iterator[Path]:
    """Return a fresh state directory outside pytest's tmp_path.

    The embedded PostgreSQL runs as an unprivileged user under root, and
    concurrent pytest runs re-permission tmp_path so that user cannot enter.
    """
    root = Path(tempfile.mkdtemp(prefix="slopops-stack-"))
    yield root / "stack"
    shutil.rmtree(root, ignore_errors=True)


def test_default_stack_lifecycle(stack_dir: Path, tmp_path: Path) -> None:
    config = _config(stack_dir)
    stack = Stack(build_services(config), config.state_dir)
    try:
        started_at = time.monotonic()
        started = stack.up()
        up_seconds = time.monotonic() - started_at

        assert [item.name for item in started] == SERVICE_NAMES
        assert {item.status for item in started} == {"started"}
        # The goal is 60 s on 2 cores (python -m bench stack measures it); a
        # machine busy with other test suites took 72 s, hence the margin.
        assert up_seconds < 120
        assert {item.name: item.status for item in stack.status()} == dict.fromkeys(
            SERVICE_NAMES, "ready"
        )

        again = stack.up()

        assert [item.pid for item in again] == [item.pid for item in started]
        assert {item.status for item in again} == {"already running"}

        worker_pid = started[1].pid or 0
        # Flow runs inherit it, so backups keep a flat peak RSS.
        assert psutil.Process(worker_pid).environ()["MALLOC_ARENA_MAX"] == "2"
        _start_flow_run(config, tmp_path)
        flow_run_pids = _wait_for_flow_run_process(worker_pid, 60)
        pids = [
            pid for item in started for pid in process_tree(item.pid or 0)
        ] + flow_run_pids
    finally:
        stopped = stack.down()

    assert {item.status for item in stopped} == {"stopped"}
    assert alive(pids) == []
    assert {item.status for item in stack.status()} == {"stopped"}


def test_services_bind_loopback_only(tmp_path: Path) -> None:
    services = build_services(_config(tmp_path))

    assert {service.host for service in services} == {"127.0.0.1"}
    assert all(
        "127.0.0.1" in service.url
        for service in services
        if service.name != "prefect-worker"
    )


def test_config_saved_and_loaded(tmp_path: Path) -> None:
    config = _config(tmp_path / "stack")

    save_config(config)

    assert load_config(tmp_path / "stack") == StackConfig(
        **{**config.__dict__, "state_dir": config.state_dir.resolve()}
    )


def test_default_config_when_none_saved(tmp_path: Path) -> None:
    config = load_config(tmp_path)

    assert config.prefect_port == 4200
    assert [port for _, port in config.chains] == [8899, 8999, 9099]
