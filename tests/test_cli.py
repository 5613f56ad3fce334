"""The command lines: `slopops` groups and stack errors, `python -m bench`."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.__main__ import main as bench_main
from slopops.cli import app
from slopops.stack.process import free_port, stop_pid
from tests.stack.helpers import start_listener

LEAVE_OUT = ["--without", "chains", "--without", "arlocal", "--without", "postgres"]


@pytest.fixture
def runner() -> CliRunner:
    """Return a CLI runner."""
    return CliRunner()


def test_help_lists_groups(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--help"])

    assert result.exit_code == 0
    assert "config" in result.output
    assert "stack" in result.output


def test_stack_up_port_in_use(runner: CliRunner, tmp_path: Path) -> None:
    port = free_port()
    listener = start_listener(port, tmp_path)
    try:
        result = runner.invoke(
            app,
            ["stack", "up", "--state-dir", str(tmp_path / "stack")]
            + ["--prefect-port", str(port), *LEAVE_OUT],
        )
    finally:
        stop_pid(listener)

    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert f"port {port} on 127.0.0.1 is already in use by pid {listener}" in output
    assert "prefect-server" in output


def test_stack_status_when_stopped(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["stack", "status", "--state-dir", str(tmp_path)])

    assert result.exit_code == 1
    assert "prefect-server" in result.output
    assert "stopped" in result.output


def test_stack_down_when_stopped(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["stack", "down", "--state-dir", str(tmp_path)])

    assert result.exit_code == 0
    assert "not running" in result.output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--chain", "devnet:8999"], "'devnet:8999' is not SEED=PORT"),
        (["--chain", "devnet=70000"], "'devnet=70000' is not SEED=PORT"),
        (["--without", "prefect"], "['prefect'] are not parts of the stack"),
        (["--host", "0.0.0.0"], "'0.0.0.0' is not a loopback address"),
    ],
)
def test_stack_up_bad_option(
    runner: CliRunner, tmp_path: Path, arguments: list[str], message: str
) -> None:
    result = runner.invoke(
        app, ["stack", "up", "--state-dir", str(tmp_path), *arguments]
    )

    assert result.exit_code != 0
    assert message in " ".join(result.output.split())


def test_bench_lists_benchmarks(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_main([]) == 0

    listed = capsys.readouterr().out.splitlines()[-1]
    assert listed.startswith("benchmarks: ")
    assert "stack" in listed.removeprefix("benchmarks: ").split(", ")
    assert "measure" not in listed


def test_bench_unknown_name_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_main(["no-such-benchmark"]) == 2

    assert "unknown benchmark 'no-such-benchmark'" in capsys.readouterr().err
