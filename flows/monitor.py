"""monitor: watch a program release and call for a rollback when it goes bad.

Every ``monitor.interval_seconds`` the flow measures each program's failure
rate over the last ``monitor.window_seconds`` and judges the window (see
:mod:`slopops.monitoring`: fewer than ``min_samples`` transactions is a hold,
never a breach). After ``consecutive_bad_windows`` bad windows it emits the
``slopops.monitor.breach`` event for the environment; the automation declared
with the rollback/<env> deployment (deployments/prefect.yaml) then runs the
rollback. Nodes are checked too: a node that is not healthy in a window
counts as a bad window.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from prefect import flow, get_run_logger
from prefect.events import emit_event
from prefect.states import Completed, State

from config import Settings
from flows.common import settings_for
from slopops.monitoring import (
    Verdict,
    WindowPolicy,
    WindowSample,
    bad_streak,
    is_breach,
    judge_window,
)
from slopops.programs import ProgramTarget
from tasks.programs import failure_rate_task

BREACH_EVENT = "slopops.monitor.breach"


def environment_resource(environment: str) -> dict[str, str]:
    """Return the event resource that the rollback automation matches on."""
    return {
        "prefect.resource.id": f"slopops.environment.{environment}",
        "prefect.resource.name": environment,
    }


@flow(name="monitor", persist_result=True)
def monitor(environment: str, duration_seconds: float | None = None) -> State:
    """Watch ``environment`` for ``duration_seconds`` or until a breach.

    Args:
        environment: local, devnet or mainnet (mainnet-beta).
        duration_seconds: How long to watch; defaults to ten windows.
    """
    logger = get_run_logger()
    settings = settings_for(environment)
    config = settings.monitor
    policy = WindowPolicy(
        failure_rate_threshold=config.failure_rate_threshold,
        min_samples=config.min_samples,
        consecutive_bad_windows=config.consecutive_bad_windows,
    )
    duration = duration_seconds or 10 * config.window_seconds
    deadline = time.monotonic() + duration
    streak = 0
    windows = 0
    while time.monotonic() < deadline:
        verdict, detail = _judge(settings, policy)
        windows += 1
        streak = bad_streak([verdict], streak)
        logger.info("window %d on %s: %s (%s)", windows, environment, verdict, detail)
        if is_breach(streak, policy):
            _emit_breach(settings, streak, detail)
            return Completed(
                name="Breach", message=f"breach on {settings.environment}: {detail}"
            )
        time.sleep(min(config.interval_seconds, max(0.0, deadline - time.monotonic())))
    return Completed(message=f"{windows} windows watched on {environment}, no breach")


def _judge(settings: Settings, policy: WindowPolicy) -> tuple[Verdict, str]:
    verdicts: list[Verdict] = []
    details = []
    for program in settings.programs:
        target = ProgramTarget.from_settings(settings, program.name)
        rate = failure_rate_task.submit(
            settings.rpc,
            str(target.program_id()),
            window_seconds=settings.monitor.window_seconds,
        ).result()
        verdict = judge_window(WindowSample(rate.samples, rate.failed), policy)
        verdicts.append(verdict)
        details.append(f"{program.name} {rate.failed}/{rate.samples} failed {verdict}")
    unhealthy = _unhealthy_nodes(settings)
    if unhealthy:
        verdicts.append("bad")
        details.append(f"unhealthy nodes {unhealthy}")
    return _worst(verdicts), "; ".join(details) or "nothing to watch"


def _worst(verdicts: list[Verdict]) -> Verdict:
    if "bad" in verdicts:
        return "bad"
    return "ok" if "ok" in verdicts else "hold"


def _unhealthy_nodes(settings: Settings) -> list[str]:
    if not settings.fleet.nodes:
        return []
    from slopops.fleet import Fleet, resolve_fleet

    report = Fleet(resolve_fleet(settings)).status()
    return [o.node for o in report.outcomes if not o.ok or o.health != "healthy"]


def _emit_breach(settings: Settings, streak: int, detail: str) -> None:
    event = emit_event(
        BREACH_EVENT,
        resource=environment_resource(settings.environment),
        payload={
            "environment": settings.environment,
            "bad_windows": streak,
            "detail": detail,
            "detected_at": datetime.now(UTC).isoformat(),
        },
    )
    get_run_logger().warning(
        "emitted %s for %s after %d bad windows (event %s)",
        BREACH_EVENT,
        settings.environment,
        streak,
        event.id if event else "not sent",
    )
