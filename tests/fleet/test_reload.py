"""The node-side PM2 reload command, run here against a real PM2 package."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from slopops.fleet.reload import API_MARKER, CLI_MARKER, reload_command
from slopops.stack.pm2 import kill_daemon, pm2_bin


@pytest.fixture
def pm2_home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "pm2"
    home.mkdir()
    try:
        yield home
    finally:
        kill_daemon(home)


def test_bare_pm2_name_uses_api(tmp_path: Path, pm2_home: Path) -> None:
    node = shutil.which("node")
    assert node is not None, "node is not installed"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pm2").symlink_to(pm2_bin())
    (bin_dir / "node").symlink_to(node)
    # The working directory has no pm2, so only a PATH lookup finds it.
    work_dir = tmp_path / "work"
    work_dir.mkdir()
    missing_ecosystem = tmp_path / "missing.config.js"
    command = reload_command(
        f"export PM2_HOME={shlex.quote(str(pm2_home))}",
        "pm2",
        str(missing_ecosystem),
    )
    result = subprocess.run(
        ["/bin/sh", "-c", command],
        cwd=work_dir,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert API_MARKER in result.stderr
    assert CLI_MARKER not in result.stderr
    # The ecosystem file does not exist, so the API's reload call fails.
    assert "pm2 reload failed" in result.stderr
    assert result.returncode == 1
