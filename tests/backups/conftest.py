"""Profiles for backup tests: a config directory per test, on arlocal."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from config import Settings, load_settings
from slopops.arweave import Wallet, generate_wallet
from slopops.stack.arlocal import mint
from slopops.stack.postgres import bin_dir

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config" / "local.toml"


@dataclass(frozen=True)
class Profile:
    """A generated local profile and the objects behind it."""

    config_dir: Path
    settings: Settings
    wallet: Wallet
    state_dir: Path


ProfileFactory = Callable[..., Profile]


def _quote(value: object) -> str:
    return json.dumps(str(value))


def write_profile(
    directory: Path,
    *,
    gateway_url: str,
    wallet_path: Path,
    mem0: dict[str, object],
    arweave: dict[str, object],
) -> Path:
    """Write ``local.toml`` into ``directory`` with these mem0 and arweave tables."""
    base = REPO_CONFIG.read_text()
    # Drop the repository profile's [mem0] and [arweave] tables.
    base = re.sub(r"(?ms)^\[(mem0|arweave)\]\n.*?(?=^\[|\Z)", "", base)
    base = re.sub(
        r"(?m)^state_dir = .*$", f"state_dir = {_quote(directory / 'state')}", base
    )
    lines = [base, "[mem0]"]
    lines += [f"{key} = {_quote(value)}" for key, value in mem0.items()]
    lines += [
        "",
        "[arweave]",
        f"gateway_url = {_quote(gateway_url)}",
        f"wallet_path = {_quote(wallet_path)}",
    ]
    for key, value in arweave.items():
        rendered = str(value) if isinstance(value, int) else _quote(value)
        lines.append(f"{key} = {rendered}")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "local.toml").write_text("\n".join(lines) + "\n")
    return directory


@pytest.fixture
def make_profile(tmp_path: Path, arlocal: str) -> ProfileFactory:
    """Return a factory of local profiles backed by arlocal and a new wallet.

    Keyword arguments: ``dsn`` or ``sqlite_path`` (the mem0 source),
    ``gateway_url`` (default arlocal), ``funded`` (default true),
    ``key_store`` (default true), ``recipient`` and ``identity_file``,
    ``retention_days``, ``wallet_path`` (reuse a wallet), ``name``.
    """

    def factory(
        *,
        dsn: str | None = None,
        sqlite_path: Path | None = None,
        gateway_url: str | None = None,
        funded: bool = True,
        key_store: bool = True,
        recipient: str | None = None,
        identity_file: Path | None = None,
        retention_days: int = 30,
        wallet_path: Path | None = None,
        name: str = "profile",
    ) -> Profile:
        root = tmp_path / name
        if wallet_path is None:
            wallet_path = root / "keys" / "wallet.json"
            wallet = generate_wallet(wallet_path)
            if funded:
                mint(arlocal, wallet.address, 10**15)
        else:
            from slopops.arweave import load_wallet

            wallet = load_wallet(wallet_path)
        if dsn is not None:
            mem0 = {"kind": "postgresql", "dsn": dsn, "pg_bin_dir": bin_dir()}
        else:
            mem0 = {"kind": "sqlite", "sqlite_path": sqlite_path}
        arweave: dict[str, object] = {
            "retention_days": retention_days,
            "confirmation_timeout_seconds": 30,
            "chunk_timeout_seconds": 5,
        }
        if key_store:
            arweave["key_store_dir"] = root / "keys" / "backups"
        if recipient is not None:
            arweave["age_recipient"] = recipient
        if identity_file is not None:
            arweave["age_identity_file"] = identity_file
        config_dir = write_profile(
            root / "config",
            gateway_url=gateway_url or arlocal,
            wallet_path=wallet_path,
            mem0=mem0,
            arweave=arweave,
        )
        settings = load_settings("local", config_dir=config_dir)
        return Profile(config_dir, settings, wallet, root / "config" / "state")

    return factory
