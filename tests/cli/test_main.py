"""The ``slopops`` entry point turns deliberate errors into one line."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from slopops.cli import main
from slopops.stack.errors import PortInUseError


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port that a listening socket holds."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_main_prints_deliberate_error(
    taken_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["localnet", "--port", str(taken_port)])
    assert info.value.code == 1
    stderr = capsys.readouterr().err
    assert stderr.startswith("error: localnet: port ")
    assert f"port {taken_port} on 127.0.0.1 is already in use" in stderr
    assert "Traceback" not in stderr


def test_main_verbose_keeps_traceback(taken_port: int) -> None:
    with pytest.raises(PortInUseError) as info:
        main(["--verbose", "localnet", "--port", str(taken_port)])
    assert info.value.port == taken_port
