"""MCP releases on Fly Machines, against the local fake of the Machines API."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from config.settings import McpSettings
from slopops.mcp.errors import (
    FlyApiError,
    FlyUnavailableError,
    McpReleaseFailedError,
    MissingTokenError,
    NoKnownGoodImageError,
)
from slopops.mcp.fly import MachinesClient
from slopops.mcp.release import FlyRelease, load_token
from tests.mcp.fake_machines import FakeMachinesApi, Fault

APP = "slopmachine-mcp-test"
TOKEN = "fake-token-123"
IMAGE_A = "registry.fly.io/slopmachine-mcp:a"
IMAGE_B = "registry.fly.io/slopmachine-mcp:b"
IMAGE_C = "registry.fly.io/slopmachine-mcp:c"


@pytest.fixture
def fake_fly() -> Iterator[FakeMachinesApi]:
    api = FakeMachinesApi(APP, TOKEN, start_seconds=0.2).start()
    for _ in range(3):
        api.add_machine(IMAGE_A)
    try:
        yield api
    finally:
        api.stop()


def _settings(api: FakeMachinesApi, **overrides: object) -> McpSettings:
    values: dict[str, object] = {
        "mode": "fly",
        "fly_app": APP,
        "machines_api_url": api.url,
        "fly_api_token": SecretStr(TOKEN),
        "public_health_url": f"{api.url}/health",
        "min_running": 2,
        "health_timeout_seconds": 2,
    }
    values.update(overrides)
    return McpSettings(**values)  # type: ignore[arg-type]


def _release(api: FakeMachinesApi, **overrides: object) -> FlyRelease:
    mcp = _settings(api, **overrides)
    client = MachinesClient(api.url, APP, TOKEN, backoff_seconds=0.05)
    return FlyRelease(client, mcp, poll_seconds=0.05)


def test_deploy_updates_every_machine(fake_fly: FakeMachinesApi) -> None:
    report = _release(fake_fly).deploy(IMAGE_B)
    assert report.ok, report.error
    assert fake_fly.images() == [IMAGE_B] * 3
    assert fake_fly.states() == ["started"] * 3
    assert [row["health"] for row in report.rows()] == ["healthy"] * 3
    assert {m.image_before for m in report.machines} == {IMAGE_A}


def test_deploy_is_one_machine_at_a_time(fake_fly: FakeMachinesApi) -> None:
    assert _release(fake_fly).deploy(IMAGE_B).ok
    updates = [r for r in fake_fly.requests if r.method == "POST"]
    waits = [r for r in fake_fly.requests if r.path.endswith("/wait")]
    assert len(updates) == 3
    # Each update after the first comes after the previous machine's wait.
    for update, wait in zip(updates[1:], waits[:-1], strict=True):
        assert update.at > wait.at


def test_failing_health_restores_recorded_image(fake_fly: FakeMachinesApi) -> None:
    fake_fly.failing_images.add(IMAGE_B)
    report = _release(fake_fly).deploy(IMAGE_B)
    assert not report.ok
    assert report.restored
    assert "failing checks: health: critical" in (report.error or "")
    assert fake_fly.images() == [IMAGE_A] * 3
    assert fake_fly.states() == ["started"] * 3
    # The rollout stopped at the first machine.
    assert len([r for r in fake_fly.requests if r.method == "POST"]) == 2
    with pytest.raises(McpReleaseFailedError, match="previous images were restored"):
        report.raise_for_failure()


def test_machine_that_never_starts_is_restored(fake_fly: FakeMachinesApi) -> None:
    fake_fly.crash_images.add(IMAGE_B)
    report = _release(fake_fly, health_timeout_seconds=1).deploy(IMAGE_B)
    assert not report.ok
    assert report.restored
    assert "not 'started'" in (report.error or "")
    assert fake_fly.images() == [IMAGE_A] * 3


def test_public_health_failure_restores_all(fake_fly: FakeMachinesApi) -> None:
    release = _release(fake_fly, public_health_url=f"{fake_fly.url}/missing")
    report = release.deploy(IMAGE_B)
    assert not report.ok
    assert report.restored
    assert "public health check" in (report.error or "")
    assert fake_fly.images() == [IMAGE_A] * 3


def test_too_few_running_fails_the_deploy(fake_fly: FakeMachinesApi) -> None:
    report = _release(fake_fly, min_running=4).deploy(IMAGE_B)
    assert not report.ok
    assert "fewer than min_running 4" in (report.error or "")
    assert fake_fly.images() == [IMAGE_A] * 3


def test_rollback_a_b_c_ends_on_a(fake_fly: FakeMachinesApi) -> None:
    release = _release(fake_fly)
    assert release.deploy(IMAGE_B).ok
    first = release.rollback()
    assert first.ok, first.error
    assert fake_fly.images() == [IMAGE_A] * 3
    assert release.deploy(IMAGE_C).ok
    second = release.rollback()
    assert second.ok
    assert second.image == IMAGE_A
    assert fake_fly.images() == [IMAGE_A] * 3
    third = release.rollback()
    assert third.ok
    assert "already the last known good" in (third.detail or "")
    assert fake_fly.images() == [IMAGE_A] * 3


def test_rollback_without_known_good_is_an_error(fake_fly: FakeMachinesApi) -> None:
    fake_fly.failing_images.add(IMAGE_A)
    with pytest.raises(NoKnownGoodImageError, match="no known good image"):
        _release(fake_fly).rollback()


def test_status_reports_images(fake_fly: FakeMachinesApi) -> None:
    report = _release(fake_fly).status()
    assert report.ok
    assert report.image == IMAGE_A
    assert len(report.rows()) == 3


def test_429_waits_for_retry_after(fake_fly: FakeMachinesApi) -> None:
    fake_fly.faults.append(Fault("GET", "/machines$", 429, {"Retry-After": "1"}))
    client = MachinesClient(fake_fly.url, APP, TOKEN, backoff_seconds=0.01)
    started = time.monotonic()
    machines = client.list_machines()
    assert len(machines) == 3
    assert time.monotonic() - started >= 1.0
    limited, retried = fake_fly.requests[-2:]
    assert limited.status == 429
    assert retried.status == 200
    assert retried.at - limited.at >= 1.0


def test_5xx_is_retried(fake_fly: FakeMachinesApi) -> None:
    for status in (500, 502):
        fake_fly.faults.append(Fault("GET", "/machines$", status))
    client = MachinesClient(fake_fly.url, APP, TOKEN, backoff_seconds=0.01)
    assert len(client.list_machines()) == 3
    assert [r.status for r in fake_fly.requests] == [500, 502, 200]


def test_persistent_5xx_is_transient(fake_fly: FakeMachinesApi) -> None:
    for _ in range(3):
        fake_fly.faults.append(Fault("GET", "/machines$", 503))
    client = MachinesClient(
        fake_fly.url, APP, TOKEN, backoff_seconds=0.01, max_attempts=3
    )
    with pytest.raises(FlyUnavailableError, match="after 3 attempts"):
        client.list_machines()


def test_4xx_is_not_retried(fake_fly: FakeMachinesApi) -> None:
    client = MachinesClient(fake_fly.url, APP, "wrong-token", backoff_seconds=0.01)
    with pytest.raises(FlyApiError, match="HTTP 401") as info:
        client.list_machines()
    assert info.value.status == 401
    assert len(fake_fly.requests) == 1


def test_token_is_never_logged(
    fake_fly: FakeMachinesApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    fake_fly.faults.append(Fault("GET", "/machines$", 500))
    assert _release(fake_fly).deploy(IMAGE_B).ok
    assert TOKEN not in caplog.text


def test_missing_token(fake_fly: FakeMachinesApi) -> None:
    mcp = _settings(fake_fly, fly_api_token=None)
    with pytest.raises(MissingTokenError, match="no Fly API token"):
        load_token(mcp)
