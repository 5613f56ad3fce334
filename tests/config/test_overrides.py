"""Environment variables and Anchor.toml on top of a profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import ProfileError, load_settings
from tests.config.conftest import WriteProfile
from tests.config.helpers import write_private

PROGRAM_ID = "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"
OTHER_ID = "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL"


def test_variable_overrides_nested_field(
    write_profile: WriteProfile, profile_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_profile()
    monkeypatch.setenv("SLOPOPS_RPC__URL", "https://override.example.test")
    monkeypatch.setenv("SLOPOPS_MONITOR__MIN_SAMPLES", "7")

    settings = load_settings("devnet", profile_dir)

    assert str(settings.rpc.url) == "https://override.example.test/"
    assert settings.monitor.min_samples == 7
    # Fields the variables do not name keep the profile's values.
    assert settings.rpc.genesis_hash == "EtWTRABZaYq6iMfeYKouRu166VU2xqa1wcaWoxPkrZBG"
    assert settings.rpc.fallback_urls[0].host == "fallback.example.test"


def test_variable_fills_missing_key(
    write_profile: WriteProfile, profile_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_profile(edit=lambda data: data["rpc"].pop("genesis_hash"))
    testnet_genesis = "4uhcVJyU9pJkvQyS88uRDiswHXSCkY3zQawwpjk2NsNY"
    monkeypatch.setenv("SLOPOPS_RPC__GENESIS_HASH", testnet_genesis)

    settings = load_settings("devnet", profile_dir)

    assert settings.rpc.genesis_hash == testnet_genesis


def test_invalid_variable_names_field(
    write_profile: WriteProfile, profile_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_profile()
    monkeypatch.setenv("SLOPOPS_RPC__URL", "not-a-url")

    with pytest.raises(ProfileError, match="rpc.url: .*'not-a-url'"):
        load_settings("devnet", profile_dir)


def test_environment_variable_mismatch_rejected(
    write_profile: WriteProfile, profile_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_profile()
    monkeypatch.setenv("SLOPOPS_ENVIRONMENT", "mainnet-beta")

    with pytest.raises(ProfileError, match="unset SLOPOPS_ENVIRONMENT"):
        load_settings("devnet", profile_dir)


def test_config_dir_variable_used(
    write_profile: WriteProfile, profile_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_profile(edit=lambda data: data["rpc"].update(url="https://dir.example.test"))
    monkeypatch.setenv("SLOPOPS_CONFIG_DIR", str(profile_dir))

    assert load_settings("devnet").rpc.url.host == "dir.example.test"


def _write_anchor(workspace: Path, text: str) -> Path:
    path = workspace / "Anchor.toml"
    path.write_text(text)
    return path


def test_anchor_toml_fills_program_id_and_wallet(
    write_profile: WriteProfile, profile_dir: Path
) -> None:
    workspace = profile_dir.parent
    write_private(workspace / "keys" / "deployer.json", "[1]")
    _write_anchor(
        workspace,
        f'[programs.devnet]\nslop_registry = "{PROGRAM_ID}"\n\n'
        '[provider]\ncluster = "devnet"\nwallet = "keys/deployer.json"\n',
    )
    write_profile()

    settings = load_settings("devnet", profile_dir)

    program = settings.program("slop_registry")
    assert program.program_id == PROGRAM_ID
    assert settings.payer_keypair == workspace / "keys" / "deployer.json"
    assert program.upgrade_authority_keypair == workspace / "keys" / "deployer.json"


def test_anchor_wallet_relative_to_anchor_toml(
    write_profile: WriteProfile, profile_dir: Path
) -> None:
    anchor_dir = profile_dir.parent / "programs-repo"
    anchor_dir.mkdir()
    _write_anchor(anchor_dir, '[provider]\nwallet = "id.json"\n')
    write_profile(
        edit=lambda data: data.update(anchor_toml="programs-repo/Anchor.toml")
    )

    settings = load_settings("devnet", profile_dir)

    assert settings.payer_keypair == anchor_dir / "id.json"


def test_profile_keypairs_win_over_anchor_wallet(
    write_profile: WriteProfile, profile_dir: Path
) -> None:
    _write_anchor(profile_dir.parent, '[provider]\nwallet = "anchor.json"\n')

    def set_keys(data: dict) -> None:
        data["payer_keypair"] = "payer.json"
        data["programs"][0]["upgrade_authority"] = OTHER_ID

    write_profile(edit=set_keys)

    settings = load_settings("devnet", profile_dir)

    program = settings.program("slop_registry")
    assert settings.payer_keypair == Path("payer.json")
    assert program.upgrade_authority == OTHER_ID
    assert program.upgrade_authority_keypair is None


def test_anchor_mainnet_table_used_for_mainnet_beta(
    write_profile: WriteProfile, profile_dir: Path
) -> None:
    _write_anchor(
        profile_dir.parent,
        f'[programs.devnet]\nslop_registry = "{OTHER_ID}"\n'
        f'[programs.mainnet]\nslop_registry = "{PROGRAM_ID}"\n',
    )
    write_profile("mainnet-beta")

    settings = load_settings("mainnet-beta", profile_dir)

    assert settings.program("slop_registry").program_id == PROGRAM_ID


def test_anchor_program_id_conflict_rejected(
    write_profile: WriteProfile, profile_dir: Path
) -> None:
    _write_anchor(
        profile_dir.parent, f'[programs.devnet]\nslop_registry = "{PROGRAM_ID}"\n'
    )
    write_profile(edit=lambda data: data["programs"][0].update(program_id=OTHER_ID))

    with pytest.raises(ProfileError, match="differs from \\[programs.devnet\\]"):
        load_settings("devnet", profile_dir)


def test_anchor_malformed_program_id_rejected(
    write_profile: WriteProfile, profile_dir: Path
) -> None:
    _write_anchor(profile_dir.parent, '[programs.devnet]\nslop_registry = "0OIl"\n')
    write_profile()

    with pytest.raises(ProfileError, match="'0OIl' is not a base58 program id"):
        load_settings("devnet", profile_dir)


def test_named_anchor_toml_missing_rejected(
    write_profile: WriteProfile, profile_dir: Path
) -> None:
    write_profile(edit=lambda data: data.update(anchor_toml="nowhere/Anchor.toml"))

    with pytest.raises(ProfileError, match="anchor_toml: .* not found"):
        load_settings("devnet", profile_dir)
