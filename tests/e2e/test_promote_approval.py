"""Promotion to the simulated mainnet through a real server and worker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.conftest import Simulation

pytestmark = pytest.mark.timeout(900)


def mainnet_ready_bundle(simulation: Simulation, name: str, elf: bytes) -> str:
    """Store a bundle and record it as verified on devnet, so mainnet accepts it."""
    from slopops.bundles import Release, ReleaseRecord, record_promotion, store_bundle

    source = simulation.bundle_dir(name, elf)
    bundle = store_bundle(source, simulation.workspace / ".state/bundles")
    release = Release.from_manifest(bundle.manifest)
    soaked_since = datetime.now(UTC) - timedelta(hours=1)
    release = release.model_copy(update={"verified": True, "deployed_at": soaked_since})
    record = record_promotion(ReleaseRecord(environment="devnet"), release)
    simulation.api(
        "PATCH",
        "/variables/name/release-record-devnet",
        json={"value": record.model_dump(mode="json")},
    ).raise_for_status()
    return bundle.bundle_id


def test_reject_leaves_mainnet_untouched(
    simulation: Simulation, good_elf: bytes
) -> None:
    simulation.reset_records()
    bundle_id = mainnet_ready_bundle(simulation, "reject", good_elf)
    run_id = simulation.run("promote/mainnet", bundle=bundle_id)
    simulation.wait(run_id, {"PAUSED"})
    result = simulation.resume(
        run_id,
        {
            "approver": "alice",
            "decision": "reject",
            "reason": "not today",
            "bundle": bundle_id[:8],
        },
    )
    assert result["status"] == "ACCEPT"
    run = simulation.wait(run_id, {"CANCELLED"})
    assert run["state_name"] == "Rejected"
    assert "alice" in run["state"]["message"]
    assert simulation.variable("release-record-mainnet-beta") == {
        "environment": "mainnet-beta"
    }


def test_invalid_input_keeps_waiting(simulation: Simulation, good_elf: bytes) -> None:
    simulation.reset_records()
    bundle_id = mainnet_ready_bundle(simulation, "invalid", good_elf)
    run_id = simulation.run("promote/mainnet", bundle=bundle_id)
    simulation.wait(run_id, {"PAUSED"})
    bad_inputs = [
        {"approver": "bob", "decision": "approve", "bundle": "00000000"},
        {"approver": "", "decision": "approve", "bundle": bundle_id[:8]},
        {"approver": "bob", "decision": "yes", "bundle": bundle_id[:8]},
        {"decision": "approve", "bundle": bundle_id[:8]},
    ]
    for run_input in bad_inputs:
        result = simulation.resume(run_id, run_input)
        assert result["status"] == "REJECT", run_input
        assert simulation.flow_run(run_id)["state_type"] == "PAUSED"
    result = simulation.resume(
        run_id, {"approver": "bob", "decision": "reject", "bundle": bundle_id[:8]}
    )
    assert result["status"] == "ACCEPT"
    simulation.wait(run_id, {"CANCELLED"})


def test_approval_timeout_fails_untouched(
    simulation: Simulation, good_elf: bytes
) -> None:
    simulation.reset_records()
    bundle_id = mainnet_ready_bundle(simulation, "timeout", good_elf)
    run_id = simulation.run(
        "promote/mainnet", bundle=bundle_id, approval_timeout_seconds=3
    )
    simulation.wait(run_id, {"PAUSED"})
    run = simulation.wait(run_id, {"FAILED"}, timeout_seconds=60)
    assert "never resumed" in run["state"]["message"]
    assert simulation.variable("release-record-mainnet-beta") == {
        "environment": "mainnet-beta"
    }


def test_mainnet_requires_devnet_verified(
    simulation: Simulation, good_elf: bytes
) -> None:
    simulation.reset_records()
    source = simulation.bundle_dir("unverified", good_elf)
    run_id = simulation.run("promote/mainnet", bundle=str(source))
    run = simulation.wait(run_id, {"FAILED"})
    logs = simulation.wait_for_log(run_id, "promote it to devnet first")
    assert "promote it to devnet first" in logs
    assert run["state_type"] == "FAILED"


def program_sha(simulation: Simulation, environment: str) -> str | None:
    record = simulation.variable(f"release-record-{environment}")
    current = (record or {}).get("current")
    return current["programs"]["slop_registry"] if current else None


def test_approve_deploys_to_mainnet(simulation: Simulation, good_elf: bytes) -> None:
    simulation.reset_records()
    bundle_id = mainnet_ready_bundle(simulation, "approve", good_elf)
    run_id = simulation.run("promote/mainnet", bundle=bundle_id)
    simulation.wait(run_id, {"PAUSED"})
    result = simulation.resume(
        run_id,
        {
            "approver": "carol",
            "decision": "approve",
            "reason": "ship it",
            "bundle": bundle_id[:8],
        },
    )
    assert result["status"] == "ACCEPT"
    simulation.wait(run_id, {"COMPLETED"}, timeout_seconds=180)
    record = simulation.variable("release-record-mainnet-beta")
    assert record["current"]["bundle_id"] == bundle_id
    assert record["current"]["verified"] is True
    assert record["current"]["approved_by"] == "carol"
    assert record["current"]["approval_reason"] == "ship it"


def test_worker_restart_during_approval(
    simulation: Simulation, good_elf: bytes, bad_elf: bytes
) -> None:
    simulation.reset_records()
    bundle_id = mainnet_ready_bundle(simulation, "restart", bad_elf)
    run_id = simulation.run("promote/mainnet", bundle=bundle_id)
    simulation.wait(run_id, {"PAUSED"})
    simulation.prefect.stop_worker()
    simulation.prefect.start_worker()
    simulation.resume(
        run_id, {"approver": "dave", "decision": "approve", "bundle": bundle_id[:8]}
    )
    simulation.wait(run_id, {"COMPLETED"}, timeout_seconds=180)
    record = simulation.variable("release-record-mainnet-beta")
    assert record["current"]["bundle_id"] == bundle_id


def test_concurrent_promotions_serialize(
    simulation: Simulation, good_elf: bytes, bad_elf: bytes
) -> None:
    simulation.reset_records()
    first = simulation.bundle_dir("concurrent-a", good_elf)
    second = simulation.bundle_dir("concurrent-b", bad_elf)
    runs = [
        simulation.run("promote/local", bundle=str(first)),
        simulation.run("promote/local", bundle=str(second)),
    ]
    for run_id in runs:
        simulation.wait(run_id, {"COMPLETED"}, timeout_seconds=240)
    record = simulation.variable("release-record-local")
    windows = sorted(
        (release["deploy_started_at"], release["deploy_finished_at"])
        for release in (record["current"], record["previous"])
    )
    assert windows[0][1] <= windows[1][0], windows
