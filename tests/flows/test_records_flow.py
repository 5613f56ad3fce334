"""Release records in Prefect Variables, and pause input, on an in-process server."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.flow_runs import pause_flow_run, resume_flow_run
from prefect.runtime import flow_run

from flows.approval import ApprovalInput, approval_form
from slopops.bundles import Release, ReleaseRecord, record_promotion
from tasks.records import read_record, write_record

pytestmark = pytest.mark.usefixtures("prefect_harness")


@flow
def round_trip(environment: str, bundle_id: str) -> tuple[ReleaseRecord, ReleaseRecord]:
    empty = read_record(environment)
    release = Release(bundle_id=bundle_id, deployed_at=datetime.now(UTC))
    write_record(record_promotion(empty, release))
    return empty, read_record(environment)


def test_record_round_trip() -> None:
    empty, stored = round_trip("devnet", "a" * 64)
    assert empty == ReleaseRecord(environment="devnet")
    assert stored.current is not None
    assert stored.current.bundle_id == "a" * 64


def test_second_promotion_keeps_previous() -> None:
    round_trip("local", "b" * 64)
    _, stored = round_trip("local", "c" * 64)
    assert stored.current is not None and stored.current.bundle_id == "c" * 64
    assert stored.previous is not None and stored.previous.bundle_id == "b" * 64


BUNDLE = "feedbeef" + "0" * 56


@flow
def wait_for_approval() -> ApprovalInput:
    return pause_flow_run(wait_for_input=approval_form(BUNDLE), timeout=60)


def _resume_when_paused(run_inputs: list[dict], results: list[str]) -> None:
    deadline = time.monotonic() + 30
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = client.read_flow_runs()
            paused = [r for r in runs if r.state and r.state.is_paused()]
            if paused:
                for run_input in run_inputs:
                    try:
                        resume_flow_run(paused[0].id, run_input=run_input)
                        results.append("accepted")
                    except RuntimeError as exc:
                        results.append(f"rejected: {exc}")
                return
            time.sleep(0.2)


def test_pause_rejects_wrong_bundle_then_accepts() -> None:
    results: list[str] = []
    inputs = [
        {"approver": "ann", "decision": "approve", "bundle": "00000000"},
        {"approver": "ann", "decision": "approve", "bundle": "feedbeef"},
    ]
    thread = threading.Thread(target=_resume_when_paused, args=(inputs, results))
    thread.start()
    decision = wait_for_approval()
    thread.join()
    assert results[0].startswith("rejected")
    assert results[1] == "accepted"
    assert decision.approver == "ann"
    assert decision.bundle == "feedbeef"
    assert flow_run.get_id() is None
