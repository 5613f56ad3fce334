"""``slopops runs`` and ``approve``: the Prefect API URL and unknown runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from slopops.cli import app
from slopops.stack.process import free_port

MISSING_URL = "error: PREFECT_API_URL is not set; point it at your Prefect server"
UNKNOWN_RUN = "00000000-0000-0000-0000-000000000000"


def _prefect_env(home: Path) -> dict[str, str]:
    """Return this process's environment without Prefect settings, homed in ``home``."""
    env = dict(os.environ)
    for name in list(env):
        if name.startswith("PREFECT_"):
            del env[name]
    env["PREFECT_HOME"] = str(home)
    env["PREFECT_PROFILES_PATH"] = str(home / "profiles.toml")
    return env


def _slopops(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from slopops.cli import main; main()", *args],
        env=_prefect_env(home),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_runs_without_api_url_exits_2(tmp_path: Path) -> None:
    result = _slopops(tmp_path, "runs")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(MISSING_URL)
    assert "export PREFECT_API_URL=http://127.0.0.1:4200/api" in result.stderr
    # A temporary server would have created its database here.
    assert not (tmp_path / "prefect.db").exists()


def test_approve_without_api_url_exits_2(tmp_path: Path) -> None:
    result = _slopops(tmp_path, "approve", UNKNOWN_RUN, "--approver", "alice")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(MISSING_URL)
    assert not (tmp_path / "prefect.db").exists()


def test_api_url_from_active_profile(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/api"
    (tmp_path / "profiles.toml").write_text(
        f'active = "ops"\n\n[profiles.ops]\nPREFECT_API_URL = "{url}"\n'
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from slopops.cli.runs import require_api_url; print(require_api_url())",
        ],
        env=_prefect_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == url


def test_approve_unknown_run(prefect_harness: None) -> None:
    result = CliRunner().invoke(app, ["approve", UNKNOWN_RUN, "--approver", "alice"])
    assert result.exit_code == 1, result.output
    assert f"flow run {UNKNOWN_RUN!r} was not found" in result.output
    assert "copy the id from `slopops runs`" in result.output


def test_runs_unreachable_server_exits_1(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/api"
    env = _prefect_env(tmp_path) | {"PREFECT_API_URL": url}
    result = subprocess.run(
        [sys.executable, "-c", "from slopops.cli import main; main()", "runs"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(f"error: cannot reach the Prefect server at {url}")
    assert "Traceback" not in result.stderr
