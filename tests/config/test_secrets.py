"""Secret values from variables and files."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from config import SecretError, load_settings
from config.secrets import (
    fly_api_token,
    mem0_dsn,
    read_optional_secret,
    rpc_api_key,
    rpc_urls,
)
from slopops.stack.postgres import start_postgres
from slopops.stack.process import free_port
from tests.config.conftest import WriteProfile
from tests.config.helpers import write_private


def test_secret_read_from_variable(
    write_profile: WriteProfile, profile_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_profile()
    write_private(profile_dir.parent / "fly-token", "from-file\n")
    monkeypatch.setenv("SLOPOPS_MCP__FLY_API_TOKEN", "from-variable")
    monkeypatch.setenv("SLOPOPS_MCP__FLY_API_TOKEN_FILE", "fly-token")

    settings = load_settings("devnet", profile_dir)

    # The variable wins over the file.
    assert fly_api_token(settings) == "from-variable"


def test_secret_read_from_file(write_profile: WriteProfile, profile_dir: Path) -> None:
    write_private(profile_dir.parent / "mem0.dsn", "postgresql://u:pw@db/mem0\n")
    write_profile()

    settings = load_settings("devnet", profile_dir)

    assert mem0_dsn(settings) == "postgresql://u:pw@db/mem0"


def test_secret_not_set_names_variable(
    write_profile: WriteProfile, profile_dir: Path
) -> None:
    write_profile()
    settings = load_settings("devnet", profile_dir)

    with pytest.raises(SecretError, match="set SLOPOPS_MCP__FLY_API_TOKEN or") as info:
        fly_api_token(settings)

    assert info.value.field == "mcp.fly_api_token"


def test_secret_file_missing_rejected(
    write_profile: WriteProfile, profile_dir: Path
) -> None:
    write_profile()
    settings = load_settings("devnet", profile_dir)

    with pytest.raises(SecretError, match=r"mem0.dsn_file .*mem0\.dsn' not found"):
        mem0_dsn(settings)


def test_secret_file_empty_rejected(
    write_profile: WriteProfile, profile_dir: Path
) -> None:
    write_private(profile_dir.parent / "mem0.dsn", "\n")
    write_profile()
    settings = load_settings("devnet", profile_dir)

    with pytest.raises(SecretError, match="is empty; write the secret"):
        mem0_dsn(settings)


def test_secret_file_opened_up_after_load_rejected(
    write_profile: WriteProfile, profile_dir: Path
) -> None:
    dsn_file = write_private(profile_dir.parent / "mem0.dsn", "postgresql://db/m")
    write_profile()
    settings = load_settings("devnet", profile_dir)
    dsn_file.chmod(0o644)

    with pytest.raises(SecretError, match="readable by group or others"):
        mem0_dsn(settings)


def test_optional_secret_absent_returns_none(
    write_profile: WriteProfile, profile_dir: Path
) -> None:
    write_profile()
    settings = load_settings("devnet", profile_dir)

    assert read_optional_secret(settings, "rpc.api_key") is None
    assert rpc_api_key(settings) is None
    assert rpc_urls(settings) == settings.rpc.urls


def test_rpc_key_added_to_primary_only(
    write_profile: WriteProfile, profile_dir: Path
) -> None:
    write_private(profile_dir.parent / "helius-key", "k3y/+&=\n")
    write_profile(
        edit=lambda data: data["rpc"].update(
            url="https://rpc.example.test/?region=eu&api-key=stale",
            api_key_file="helius-key",
        )
    )
    settings = load_settings("devnet", profile_dir)

    primary, fallback = rpc_urls(settings)

    query = parse_qs(urlsplit(primary).query)
    assert query == {"region": ["eu"], "api-key": ["k3y/+&="]}
    assert fallback == "https://fallback.example.test/"


def _embedded_profile(data_dir: Path) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        data["mem0"] = {"kind": "postgresql", "embedded_dir": str(data_dir)}

    return edit


def test_mem0_dsn_embedded_not_running(
    write_profile: WriteProfile, profile_dir: Path
) -> None:
    write_profile(edit=_embedded_profile(profile_dir.parent / "pg"))
    settings = load_settings("devnet", profile_dir)

    with pytest.raises(SecretError, match="start it with `slopops stack up`") as info:
        mem0_dsn(settings)

    assert info.value.field == "mem0.embedded_dir"


def test_mem0_dsn_embedded_running(
    write_profile: WriteProfile, profile_dir: Path
) -> None:
    # Outside pytest's tmp_path: the unprivileged server user must enter it.
    root = Path(tempfile.mkdtemp(prefix="slopops-config-pg-"))
    server = start_postgres(data_dir=root / "data", port=free_port())
    try:
        write_profile(edit=_embedded_profile(root / "data"))
        settings = load_settings("devnet", profile_dir)

        dsn = mem0_dsn(settings, database="postgres")
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)

    assert dsn == f"postgresql://postgres@127.0.0.1:{server.port}/postgres"
