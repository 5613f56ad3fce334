"""Start deployment runs and follow them through the Prefect API.

The demo and the benchmark drive the deployments as an operator would: create
a run, wait for a state, resume a paused run with input.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, FlowRunFilter
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort

from slopops.errors import SlopopsError

TERMINAL = {
    StateType.COMPLETED,
    StateType.FAILED,
    StateType.CANCELLED,
    StateType.CRASHED,
}


class RunStateError(SlopopsError):
    """A flow run ended in, or stayed in, a state other than the expected one.

    Attributes:
        flow_run_id: The run.
        state: The state it had when waiting stopped.
    """

    def __init__(self, flow_run_id: UUID, state: str, expected: str) -> None:
        self.flow_run_id = flow_run_id
        self.state = state
        super().__init__(
            f"flow run {flow_run_id} is {state}, expected {expected}; see its logs "
            "in the Prefect UI"
        )


@dataclass(frozen=True)
class RunTiming:
    """When a run was created and when it started running."""

    created: datetime
    running_at: datetime | None

    @property
    def start_delay_seconds(self) -> float | None:
        """Seconds from creation to Running."""
        if self.running_at is None:
            return None
        return (self.running_at - self.created).total_seconds()


def start_run(deployment: str, **parameters: Any) -> FlowRun:
    """Create a run of ``flow/deployment`` and return it without waiting."""
    with get_client(sync_client=True) as client:
        found = client.read_deployment_by_name(deployment)
        return client.create_flow_run_from_deployment(found.id, parameters=parameters)


def wait_for(
    flow_run_id: UUID,
    states: set[StateType],
    timeout_seconds: float = 600,
    poll_seconds: float = 0.5,
) -> FlowRun:
    """Wait until the run reaches one of ``states``.

    Raises:
        RunStateError: The run ended in another state, or the time ran out.
    """
    deadline = time.monotonic() + timeout_seconds
    with get_client(sync_client=True) as client:
        while True:
            flow_run = client.read_flow_run(flow_run_id)
            state_type = flow_run.state.type if flow_run.state else None
            if state_type in states:
                return flow_run
            if state_type in TERMINAL or time.monotonic() > deadline:
                name = flow_run.state.name if flow_run.state else "unknown"
                raise RunStateError(
                    flow_run_id, name, " or ".join(sorted(s.value for s in states))
                )
            time.sleep(poll_seconds)


def resume(flow_run_id: UUID, run_input: dict[str, Any]) -> None:
    """Resume a paused run with ``run_input``.

    Raises:
        RunStateError: The server rejected the input.
    """
    with get_client(sync_client=True) as client:
        result = client.resume_flow_run(flow_run_id, run_input=run_input)
    if result.status.value != "ACCEPT":
        reason = result.details.reason if result.details else "no reason"
        raise RunStateError(flow_run_id, f"paused ({reason})", "resumed")


def run_timing(flow_run_id: UUID) -> RunTiming:
    """Return when the run was created and when it first entered Running."""
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(flow_run_id)
        states = client.read_flow_run_states(flow_run_id)
    running = [s.timestamp for s in states if s.type == StateType.RUNNING]
    return RunTiming(flow_run.created, min(running) if running else None)  # type: ignore[arg-type]


def newest_run(deployment: str, created_after: datetime) -> FlowRun | None:
    """Return the newest run of ``deployment`` created after ``created_after``."""
    with get_client(sync_client=True) as client:
        found = client.read_deployment_by_name(deployment)
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id={"any_": [found.id]}),
            flow_run_filter=FlowRunFilter(),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC,
            limit=20,
        )
    fresh = [r for r in runs if r.created and r.created > created_after]
    return max(fresh, key=lambda r: r.created) if fresh else None  # type: ignore[arg-type, return-value]


def wait_for_new_run(
    deployment: str, created_after: datetime, timeout_seconds: float = 120
) -> FlowRun:
    """Wait until a run of ``deployment`` created after ``created_after`` exists.

    Raises:
        TimeoutError: No such run appeared in time.
    """
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        found = newest_run(deployment, created_after)
        if found is not None:
            return found
        time.sleep(0.5)
    raise TimeoutError(
        f"no run of {deployment!r} started within {timeout_seconds:.0f} s; check "
        "the automation in the Prefect UI"
    )
