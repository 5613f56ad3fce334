"""The stack manager: up, status, up again, down, port conflicts, failures."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from slopops.stack.errors import (
    PortConflictError,
    PortInUseError,
    ServiceStartError,
    StackError,
)
from slopops.stack.manager import Stack
from slopops.stack.process import boot_id, free_port, start_ticks, stop_pid
from tests.stack.helpers import (
    alive,
    http_service,
    process_tree,
    start_listener,
)


@pytest.fixture
def stacks() -> Iterator[list[Stack]]:
    """Collect stacks a test builds and bring them down afterwards."""
    created: list[Stack] = []
    yield created
    for stack in created:
        stack.down()


def test_up_status_down(tmp_path: Path, stacks: list[Stack]) -> None:
    stack = Stack([http_service("alpha"), http_service("beta")], tmp_path)
    stacks.append(stack)

    started = stack.up()
    pids = [pid for item in started for pid in process_tree(item.pid or 0)]

    assert [item.status for item in started] == ["started", "started"]
    assert [item.status for item in stack.status()] == ["ready", "ready"]
    # Each server and its grandchild in another session.
    assert len(alive(pids)) == 4

    stopped = stack.down()

    assert [item.status for item in stopped] == ["stopped", "stopped"]
    assert alive(pids) == []
    assert [item.status for item in stack.status()] == ["stopped", "stopped"]
    assert list((tmp_path / "records").glob("*.json")) == []


def test_up_again_is_harmless(tmp_path: Path, stacks: list[Stack]) -> None:
    stack = Stack([http_service("alpha")], tmp_path)
    stacks.append(stack)
    first = stack.up()

    second = stack.up()

    assert second[0].pid == first[0].pid
    assert second[0].status == "already running"
    assert stack.status()[0].status == "ready"


def test_status_from_another_manager(tmp_path: Path, stacks: list[Stack]) -> None:
    service = http_service("alpha")
    stack = Stack([service], tmp_path)
    stacks.append(stack)
    pid = stack.up()[0].pid

    # A later CLI call builds a new manager over the same state directory.
    later = Stack([service], tmp_path)

    assert later.status()[0].pid == pid
    assert later.down()[0].status == "stopped"
    assert alive([pid or 0]) == []


def test_port_in_use_names_port_and_process(
    tmp_path: Path, stacks: list[Stack]
) -> None:
    port = free_port()
    listener = start_listener(port, tmp_path)
    try:
        stack = Stack(
            [http_service("early"), http_service("taken", port=port)], tmp_path
        )
        stacks.append(stack)

        with pytest.raises(PortInUseError) as info:
            stack.up()
    finally:
        stop_pid(listener)

    message = str(info.value)
    assert info.value.port == port
    assert info.value.service == "taken"
    assert f"port {port} on 127.0.0.1 is already in use" in message
    assert f"pid {listener}" in message
    # The ports are checked first, so nothing started.
    assert [item.status for item in stack.status()] == ["stopped", "stopped"]


def test_failed_start_stops_what_started(tmp_path: Path, stacks: list[Stack]) -> None:
    stack = Stack(
        [
            http_service("base"),
            http_service("sibling", after=("base",)),
            http_service("broken", after=("base",), fail=True),
        ],
        tmp_path,
    )
    stacks.append(stack)

    with pytest.raises(ServiceStartError, match="broken failed to start: exited"):
        stack.up()

    assert [item.status for item in stack.status()] == ["stopped"] * 3
    assert list((tmp_path / "records").glob("*.json")) == []


def test_dependencies_start_first(tmp_path: Path, stacks: list[Stack]) -> None:
    stack = Stack(
        [http_service("worker", after=("server",)), http_service("server")], tmp_path
    )
    stacks.append(stack)

    stack.up()

    records = {
        name: json.loads((tmp_path / "records" / f"{name}.json").read_text())
        for name in ("server", "worker")
    }
    assert records["server"]["start_ticks"] <= records["worker"]["start_ticks"]


def test_unknown_dependency_rejected(tmp_path: Path) -> None:
    stack = Stack([http_service("worker", after=("missing",))], tmp_path)

    with pytest.raises(StackError, match=r"\['worker'\] depend on services"):
        stack.up()


def test_duplicate_names_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="are not unique"):
        Stack([http_service("same"), http_service("same")], tmp_path)


def _legacy_record(pid: int) -> dict[str, object]:
    # Written before start ticks were kept, with another start time.
    return {"pid": pid, "create_time": 1.0}


def _other_ticks_record(pid: int) -> dict[str, object]:
    return {
        "pid": pid,
        "boot_id": boot_id(),
        "start_ticks": (start_ticks(pid) or 0) - 1,
        "create_time": psutil.Process(pid).create_time(),
    }


@pytest.mark.parametrize("make_record", [_legacy_record, _other_ticks_record])
def test_reused_pid_never_signalled(
    tmp_path: Path,
    stacks: list[Stack],
    make_record: Callable[[int], dict[str, object]],
) -> None:
    stranger = start_listener(free_port(), tmp_path)
    try:
        stack = Stack([http_service("alpha")], tmp_path)
        stacks.append(stack)
        records = tmp_path / "records"
        records.mkdir()
        # A record whose PID now belongs to another process.
        (records / "alpha.json").write_text(json.dumps(make_record(stranger)))

        assert stack.status()[0].status == "stopped"
        assert stack.down()[0].status == "not running"
        assert alive([stranger]) == [stranger]
    finally:
        stop_pid(stranger)


def test_record_survives_boot_time_jitter(tmp_path: Path, stacks: list[Stack]) -> None:
    stack = Stack([http_service("alpha")], tmp_path)
    stacks.append(stack)
    [status] = stack.up()
    path = tmp_path / "records" / "alpha.json"
    record = json.loads(path.read_text())
    # psutil's epoch start time moves when /proc/stat's boot time does.
    record["create_time"] += 1.0
    path.write_text(json.dumps(record))

    assert stack.status()[0].pid == status.pid


def test_down_stops_services_left_out_later(
    tmp_path: Path, stacks: list[Stack]
) -> None:
    wide = Stack([http_service("alpha"), http_service("extra")], tmp_path)
    stacks.append(wide)
    pids = [item.pid or 0 for item in wide.up()]

    statuses = Stack([http_service("alpha")], tmp_path).down()

    assert [(item.name, item.status) for item in statuses] == [
        ("extra", "stopped"),
        ("alpha", "stopped"),
    ]
    assert alive(pids) == []


def test_unreadable_record_ignored(tmp_path: Path) -> None:
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / "alpha.json").write_text("{not json")

    stack = Stack([http_service("alpha")], tmp_path)

    assert stack.status()[0].status == "stopped"


def test_down_runs_cleanup(tmp_path: Path, stacks: list[Stack]) -> None:
    marker = tmp_path / "cleaned"
    service = replace(http_service("alpha"), cleanup=lambda: marker.touch())
    stack = Stack([service], tmp_path)
    stacks.append(stack)
    stack.up()

    stack.down()

    assert marker.exists()


def test_cleanup_runs_when_process_gone(tmp_path: Path) -> None:
    calls: list[str] = []
    service = replace(http_service("alpha"), cleanup=lambda: calls.append("alpha"))
    stack = Stack([service], tmp_path)
    pid = stack.up()[0].pid or 0
    stop_pid(pid)

    statuses = stack.down()

    assert statuses[0].status == "not running"
    assert calls == ["alpha"]


def test_up_with_other_port_rejected(tmp_path: Path, stacks: list[Stack]) -> None:
    first = http_service("alpha")
    stack = Stack([first], tmp_path)
    stacks.append(stack)
    pid = stack.up()[0].pid
    other_port = free_port()

    with pytest.raises(StackError, match=f"on port {first.port}, not {other_port}"):
        Stack([http_service("alpha", port=other_port)], tmp_path).up()

    assert stack.status()[0].pid == pid


def test_duplicate_ports_rejected(tmp_path: Path) -> None:
    port = free_port()
    stack = Stack(
        [http_service("alpha", port=port), http_service("beta", port=port)], tmp_path
    )

    with pytest.raises(PortConflictError) as caught:
        stack.up()

    message = str(caught.value)
    assert "alpha" in message
    assert "beta" in message
    assert str(port) in message
    assert list(tmp_path.glob("records/*.json")) == []
    assert list(tmp_path.glob("*/*.pid")) == []


def test_not_ready_service_reported(tmp_path: Path, stacks: list[Stack]) -> None:
    # Ready for its own start-up poll, but not for the probe at the end of up.
    silent = replace(http_service("silent"), ready=lambda: False)
    stack = Stack([http_service("alpha"), silent], tmp_path)
    stacks.append(stack)

    statuses = stack.up()

    assert [item.status for item in statuses] == ["started", "not ready"]
    assert [item.status for item in stack.up()] == ["already running", "not ready"]
