"""Every ``slopops program`` command once, against the local chain."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from config import load_settings
from slopops.cli import app
from slopops.programs import ProgramTarget
from tests.fixtures.localnet import Localnet
from tests.programs.conftest import Elfs, make_keys, send_memos

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


def write_profile(
    chain: Localnet,
    tmp_path: Path,
    elf: Path,
    *,
    url: str | None = None,
    program_lines: str = "",
) -> Path:
    """Write a local profile whose chain, keys and state are the test's own."""
    keys = make_keys(chain, tmp_path / "keys")
    shared = (CONFIG_DIR / "local.toml").read_text().split("[fleet]", 1)[1]
    profile = f"""
environment = "local"
state_dir = "{tmp_path / "state"}"
payer_keypair = "{keys.path("payer")}"

[rpc]
url = "{url or chain.url}"
genesis_hash = "{chain.genesis_hash}"

[[programs]]
name = "demo"
elf_path = "{elf}"
program_keypair = "{keys.path("program")}"
upgrade_authority_keypair = "{keys.path("authority")}"
{program_lines}

[fleet]{shared}"""
    directory = tmp_path / "config"
    directory.mkdir()
    (directory / "local.toml").write_text(profile)
    return directory


@pytest.fixture
def config_dir(localnet: Localnet, tmp_path: Path, elfs: Elfs) -> Path:
    return write_profile(localnet, tmp_path, elfs.memo_v3)


def invoke(config_dir: Path, *args: str) -> str:
    result = CliRunner().invoke(
        app,
        ["program", *args, "--env", "local", "--program", "demo"]
        + ["--config-dir", str(config_dir)],
    )
    assert result.exit_code == 0, result.output
    return result.output


def fail_memos(config_dir: Path, count: int) -> None:
    """Send memo instructions that the associated-token code rejects."""
    target = ProgramTarget.from_settings(load_settings("local", config_dir), "demo")
    asyncio.run(send_memos(target, count))


def test_program_commands(config_dir: Path, elfs: Elfs) -> None:
    deployed = invoke(config_dir, "deploy")
    upgraded = invoke(config_dir, "deploy", "--elf", str(elfs.associated_token))
    fail_memos(config_dir, 3)
    rate = invoke(config_dir, "failure-rate", "--limit", "3")
    listed = invoke(config_dir, "buffers")
    show_output = invoke(config_dir, "show")
    rolled_back = invoke(config_dir, "rollback")
    closed = invoke(config_dir, "close-buffers", "--include-rollback")

    assert "deploy of demo" in deployed
    assert "verified" in deployed
    assert "preflight passed: deploy of 2304 bytes" in deployed
    assert "estimated cost" in upgraded
    assert "upgrade of demo" in upgraded
    assert re.search(r"extend: \w+", upgraded)
    assert "3 of 3 transactions failed (100.0%)" in rate
    assert "InstructionError:InvalidInstructionData: 3" in rate
    assert "rollback" in listed
    assert "1 buffers" in listed
    assert "programdata:       105077 bytes" in show_output
    assert "rolled back demo" in rolled_back
    assert "no rollback buffer staged" in rolled_back
    assert "closed 0 buffers, recovered 0 lamports" in closed


def test_rollback_without_history_exits_1(config_dir: Path) -> None:
    invoke(config_dir, "deploy")

    result = CliRunner().invoke(
        app,
        ["program", "rollback", "--env", "local", "--program", "demo"]
        + ["--config-dir", str(config_dir)],
    )

    assert result.exit_code == 1
    assert "nothing to roll back to" in result.output


def test_unknown_program_exits_2(config_dir: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["program", "show", "--env", "local", "--program", "nope"]
        + ["--config-dir", str(config_dir)],
    )

    assert result.exit_code == 2
    assert "'nope' is not in the local profile" in result.output


def test_show_without_payer_keypair(config_dir: Path, elfs: Elfs) -> None:
    # With no authority keypair configured, the payer is the upgrade authority,
    # so a read without the payer file finds the buffers by the on-chain one.
    profile = config_dir / "local.toml"
    lines = profile.read_text().splitlines(keepends=True)
    profile.write_text(
        "".join(line for line in lines if "upgrade_authority_keypair" not in line)
    )
    invoke(config_dir, "deploy")
    invoke(config_dir, "deploy", "--elf", str(elfs.associated_token))
    payer = load_settings("local", config_dir).payer_keypair
    assert payer is not None
    payer.unlink()

    shown = invoke(config_dir, "show")

    assert "upgrade authority: " in shown
    assert "programdata:       105077 bytes" in shown
    assert re.search(r"buffers:\s+1 holding \d+ lamports", shown)


def test_show_undeployed_without_payer_keypair(config_dir: Path) -> None:
    payer = load_settings("local", config_dir).payer_keypair
    assert payer is not None
    payer.unlink()

    shown = invoke(config_dir, "show")

    assert re.search(r"demo \(\w+\) is not deployed", shown)
    assert "buffers:           0 holding 0 lamports" in shown


@pytest.mark.parametrize(
    ("missing", "named"),
    [("elf", "absent.so"), ("payer", "payer.json"), ("authority", "authority.json")],
)
def test_deploy_checks_inputs_before_progress(
    config_dir: Path, tmp_path: Path, missing: str, named: str
) -> None:
    args = ["program", "deploy", "--env", "local", "--program", "demo"]
    args += ["--config-dir", str(config_dir)]
    if missing == "elf":
        args += ["--elf", str(tmp_path / "absent.so")]
    else:
        (tmp_path / "keys" / f"{missing}.json").unlink()

    result = CliRunner().invoke(app, args)

    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ")
    assert "writing buffer" not in result.output
    assert named in result.output


def test_deploy_rejects_non_elf_file(config_dir: Path, tmp_path: Path) -> None:
    not_elf = tmp_path / "notes.so"
    not_elf.write_text("not a program\n")

    result = CliRunner().invoke(
        app,
        ["program", "deploy", "--env", "local", "--program", "demo"]
        + ["--config-dir", str(config_dir), "--elf", str(not_elf)],
    )

    assert result.exit_code == 2, result.output
    assert "notes.so" in result.output
    assert "writing buffer" not in result.output
