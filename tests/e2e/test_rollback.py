"""A bad release is caught by the monitor and rolled back by the automation."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import datetime

import pytest

from slopops.solana.keypair import load_keypair
from slopops.solana.rpc import RpcClient
from slopops.traffic import send_memos
from tests.e2e.conftest import Simulation

pytestmark = pytest.mark.timeout(600)


class Traffic:
    """Sends a memo transaction every ``interval_seconds`` in a thread."""

    def __init__(
        self, url: str, program_id, payer, interval_seconds: float = 0.3
    ) -> None:  # type: ignore[no-untyped-def]
        self.url, self.program_id, self.payer = url, program_id, payer
        self.interval_seconds = interval_seconds
        self.signatures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()))

    async def _run(self) -> None:
        async with RpcClient([self.url]) as rpc:
            while not self._stop.is_set():
                self.signatures += await send_memos(rpc, self.program_id, self.payer, 1)
                await asyncio.sleep(self.interval_seconds)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def flow_runs_of(simulation: Simulation, deployment: str) -> list[dict]:
    flow_name, name = deployment.split("/")
    found = simulation.api("GET", f"/deployments/name/{flow_name}/{name}").json()
    response = simulation.api(
        "POST",
        "/flow_runs/filter",
        json={"flow_runs": {"deployment_id": {"any_": [found["id"]]}}},
    )
    return response.json()


def test_bad_release_rolled_back_automatically(
    simulation: Simulation, good_elf: bytes, bad_elf: bytes
) -> None:
    simulation.reset_records()
    good = simulation.bundle_dir("rollback-good", good_elf)
    bad = simulation.bundle_dir("rollback-bad", bad_elf)
    for source in (good, bad):
        run_id = simulation.run("promote/local", bundle=str(source))
        simulation.wait(run_id, {"COMPLETED"}, timeout_seconds=180)
    record = simulation.variable("release-record-local")
    good_sha = record["previous"]["programs"]["slop_registry"]
    before = {run["id"] for run in flow_runs_of(simulation, "rollback/local")}
    keys = simulation.workspace / ".state/simulation/keys"
    program_id = load_keypair(keys / "slop_registry-program.json").pubkey()
    payer = load_keypair(keys / "payer.json")
    url = simulation.chains["local"].url
    first_failure = time.monotonic()
    with Traffic(url, program_id, payer):
        monitor_id = simulation.run("monitor/local", duration_seconds=120)
        monitor_run = simulation.wait(monitor_id, {"COMPLETED"}, timeout_seconds=180)
        assert monitor_run["state_name"] == "Breach"
        rollback_id = _wait_for_new_run(simulation, "rollback/local", before)
        simulation.wait(rollback_id, {"COMPLETED"}, timeout_seconds=180)
    recovered_seconds = time.monotonic() - first_failure
    record = simulation.variable("release-record-local")
    assert record["current"]["programs"]["slop_registry"] == good_sha
    assert recovered_seconds < 30 * 60
    print(f"bad release recovered in {recovered_seconds:.1f} s")


def _wait_for_new_run(simulation: Simulation, deployment: str, before: set[str]) -> str:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        runs = [
            r for r in flow_runs_of(simulation, deployment) if r["id"] not in before
        ]
        if runs:
            return max(runs, key=lambda r: datetime.fromisoformat(r["created"]))["id"]
        time.sleep(0.5)
    raise AssertionError(f"the automation started no {deployment} run within 90 s")
