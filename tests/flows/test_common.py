"""Settings of flow runs: the Fly API token from a Secret block."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prefect.blocks.system import Secret

from flows.common import fly_token_block_name, settings_for

ROOT = Path(__file__).resolve().parents[2]
FLY_MCP = """[mcp]
mode = "fly"
fly_app = "slopmachine-mcp-test"
machines_api_url = "http://127.0.0.1:9"

"""

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def fly_profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    text = (ROOT / "config" / "simulation" / "devnet.toml").read_text()
    text = re.sub(r"(?ms)^\[mcp\]\n.*?(?=^\[mem0\])", FLY_MCP, text)
    (tmp_path / "devnet.toml").write_text(text)
    monkeypatch.setenv("SLOPOPS_CONFIG_DIR", str(tmp_path))
    return tmp_path


def test_fly_token_from_secret_block(fly_profiles: Path) -> None:
    Secret(value="fly-test-token").save(fly_token_block_name("devnet"), overwrite=True)
    token = settings_for("devnet").mcp.fly_api_token
    assert token is not None
    assert token.get_secret_value() == "fly-test-token"


def test_no_block_leaves_token_unset(fly_profiles: Path) -> None:
    (fly_profiles / "devnet.toml").rename(fly_profiles / "mainnet-beta.toml")
    text = (fly_profiles / "mainnet-beta.toml").read_text()
    text = text.replace('environment = "devnet"', 'environment = "mainnet-beta"')
    (fly_profiles / "mainnet-beta.toml").write_text(text)
    assert settings_for("mainnet").mcp.fly_api_token is None


def test_local_mcp_ignores_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLOPOPS_CONFIG_DIR", str(ROOT / "config" / "simulation"))
    Secret(value="unused").save(fly_token_block_name("local"), overwrite=True)
    assert settings_for("local").mcp.fly_api_token is None
