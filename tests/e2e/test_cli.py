"""``slopops runs`` and ``slopops approve`` against a real server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL, temporary_settings
from typer.testing import CliRunner

from slopops.cli import app
from tests.e2e.conftest import Simulation
from tests.e2e.test_promote_approval import mainnet_ready_bundle

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def api(simulation: Simulation) -> Iterator[str]:
    ui_url = simulation.api_url.removesuffix("/api")
    with temporary_settings(
        updates={PREFECT_API_URL: simulation.api_url, PREFECT_UI_URL: ui_url}
    ):
        yield ui_url


def test_runs_lists_then_approve_binds(
    simulation: Simulation, api: str, good_elf: bytes
) -> None:
    simulation.reset_records()
    bundle_id = mainnet_ready_bundle(simulation, "cli", good_elf)
    run_id = simulation.run("promote/mainnet", bundle=bundle_id)
    simulation.wait(run_id, {"PAUSED"})
    runner = CliRunner()

    listed = runner.invoke(app, ["runs"])
    assert listed.exit_code == 0, listed.output
    assert run_id in listed.output
    assert f"{api}/runs/flow-run/{run_id}" in listed.output

    wrong = runner.invoke(
        app, ["approve", run_id, "--approver", "eve", "--bundle", "00000000"]
    )
    assert wrong.exit_code == 1
    assert "rejected the input" in wrong.output
    assert simulation.flow_run(run_id)["state_type"] == "PAUSED"

    rejected = runner.invoke(
        app, ["approve", run_id, "--approver", "eve", "--reject", "--reason", "no"]
    )
    assert rejected.exit_code == 0, rejected.output
    assert bundle_id in rejected.output
    run = simulation.wait(run_id, {"CANCELLED"})
    assert run["state_name"] == "Rejected"


def test_approve_unknown_run_fails(simulation: Simulation, api: str) -> None:
    result = CliRunner().invoke(app, ["approve", "not-a-uuid", "--approver", "eve"])
    assert result.exit_code == 1
    assert "invalid flow run id" in result.output
