"""The production backup schedule on a real server: one run per UTC day."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.conftest import Simulation

pytestmark = pytest.mark.timeout(300)

# Daylight-saving changes in the scheduled span: the US moves on
# 2027-03-14, Europe on 2027-03-28; both move back in autumn 2027.
DST_CHANGES = {
    date(2027, 3, 14): "America/New_York",
    date(2027, 3, 28): "Europe/London",
}


def scheduled_starts(simulation: Simulation, deployment: str) -> list[datetime]:
    flow_name, name = deployment.split("/")
    found = simulation.api("GET", f"/deployments/name/{flow_name}/{name}").json()
    runs: list[dict] = []
    while True:
        page = simulation.api(
            "POST",
            "/flow_runs/filter",
            json={
                "flow_runs": {
                    "deployment_id": {"any_": [found["id"]]},
                    "state": {"type": {"any_": ["SCHEDULED"]}},
                },
                "limit": 200,
                "offset": len(runs),
            },
        )
        page.raise_for_status()
        runs += page.json()
        if len(page.json()) < 200:
            break
    return sorted(datetime.fromisoformat(run["expected_start_time"]) for run in runs)


def test_backup_runs_once_per_utc_day(simulation: Simulation) -> None:
    deadline = time.monotonic() + 120
    starts = scheduled_starts(simulation, "backup-mem0/mainnet")
    while max(starts, default=None) is None or max(starts).date() < date(2027, 4, 1):
        assert time.monotonic() < deadline, f"only {len(starts)} runs scheduled"
        time.sleep(2)
        starts = scheduled_starts(simulation, "backup-mem0/mainnet")
    days = [start.date() for start in starts]
    assert len(days) == len(set(days))
    for start in starts:
        assert start.utcoffset() == timedelta(0)
        assert (start.hour, start.minute, start.second) == (2, 0, 0)
    assert all(b - a == timedelta(days=1) for a, b in zip(days, days[1:], strict=False))
    for change, zone in DST_CHANGES.items():
        assert change in days
        assert change + timedelta(days=1) in days
        local_before = starts[days.index(change - timedelta(days=1))].astimezone(
            ZoneInfo(zone)
        )
        local_after = starts[days.index(change + timedelta(days=1))].astimezone(
            ZoneInfo(zone)
        )
        # The local hour shifts by one while the UTC time stays 02:00.
        assert local_after.hour - local_before.hour == 1
