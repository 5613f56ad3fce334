"""deployments/prefect.yaml: pool, entrypoints, schedules and the automation."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect.client.schemas.schedules import CronSchedule

ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENTS = {"local": "local", "devnet": "devnet", "mainnet": "mainnet-beta"}
FLOWS = {
    "promote": "flows/promote.py:promote",
    "rollback": "flows/rollback.py:rollback",
    "monitor": "flows/monitor.py:monitor",
    "backup-mem0": "flows/backup.py:backup",
    "restore-mem0": "flows/backup.py:restore",
    "restore-drill": "flows/backup.py:restore_drill",
}


@pytest.fixture(scope="module")
def project() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text())


def deployment(project: dict[str, Any], flow: str, name: str) -> dict[str, Any]:
    matches = [
        d
        for d in project["deployments"]
        if d["entrypoint"] == FLOWS[flow] and d["name"] == name
    ]
    assert len(matches) == 1, f"{flow}/{name}: {len(matches)} deployments"
    return matches[0]


def test_every_flow_deployed_per_environment(project: dict[str, Any]) -> None:
    for flow in FLOWS:
        for name, environment in ENVIRONMENTS.items():
            found = deployment(project, flow, name)
            assert found["parameters"]["environment"] == environment


def test_deployment_count(project: dict[str, Any]) -> None:
    assert len(project["deployments"]) == len(FLOWS) * len(ENVIRONMENTS)


def test_every_deployment_on_process_pool(project: dict[str, Any]) -> None:
    for found in project["deployments"]:
        assert found["work_pool"]["name"] == "slopops-process", found["name"]


def test_entrypoints_name_real_flows(project: dict[str, Any]) -> None:
    for entrypoint in FLOWS.values():
        path, name = entrypoint.split(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        flow = getattr(module, name)
        assert flow.name == next(k for k, v in FLOWS.items() if v == entrypoint)


def test_pull_step_enters_workspace(project: dict[str, Any]) -> None:
    (step,) = project["pull"]
    directory = step["prefect.deployments.steps.set_working_directory"]["directory"]
    assert directory == "{{ $SLOPOPS_WORKSPACE }}"


def test_production_backup_at_two_utc(project: dict[str, Any]) -> None:
    (schedule,) = deployment(project, "backup-mem0", "mainnet")["schedules"]
    assert schedule == {"cron": "0 2 * * *", "timezone": "UTC"}
    cron = CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])
    assert cron.cron == "0 2 * * *"


def test_local_backup_unscheduled(project: dict[str, Any]) -> None:
    assert "schedules" not in deployment(project, "backup-mem0", "local")


def test_drill_weekly(project: dict[str, Any]) -> None:
    (schedule,) = deployment(project, "restore-drill", "mainnet")["schedules"]
    minute, hour, day, month, weekday = schedule["cron"].split()
    assert (day, month) == ("*", "*")
    assert weekday != "*"
    assert schedule["timezone"] == "UTC"


@pytest.mark.parametrize(("name", "environment"), sorted(ENVIRONMENTS.items()))
def test_breach_automation_runs_rollback(
    project: dict[str, Any], name: str, environment: str
) -> None:
    (trigger,) = deployment(project, "rollback", name)["triggers"]
    assert trigger["type"] == "event"
    assert trigger["enabled"] is True
    assert trigger["expect"] == ["slopops.monitor.breach"]
    assert trigger["match"] == {
        "prefect.resource.id": f"slopops.environment.{environment}"
    }
    assert trigger["posture"] == "Reactive"
    assert trigger["threshold"] == 1
    assert trigger["parameters"]["environment"] == environment


def test_breach_event_matches_trigger() -> None:
    from flows.monitor import BREACH_EVENT, environment_resource

    assert BREACH_EVENT == "slopops.monitor.breach"
    resource = environment_resource("mainnet-beta")
    assert resource["prefect.resource.id"] == "slopops.environment.mainnet-beta"


def test_promotions_need_bundle(project: dict[str, Any]) -> None:
    for name in ENVIRONMENTS:
        assert "bundle" not in deployment(project, "promote", name)["parameters"]
