"""Loading profiles: every bad-profile case fails at load, naming field and fix."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from config import ENVIRONMENTS, ProfileError, load_settings
from config.profiles import CONFIG_DIR
from slopops.localnet import genesis_hash_for
from tests.config.conftest import WriteProfile
from tests.config.helpers import write_private


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_shipped_profile_loads(env: str) -> None:
    settings = load_settings(env)

    assert settings.environment == env
    assert settings.simulation is False
    assert settings.rpc.genesis_hash


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_simulation_profile_matches_local_chain(env: str) -> None:
    settings = load_settings(env, CONFIG_DIR / "simulation")

    assert settings.simulation is True
    assert settings.rpc.url.host == "127.0.0.1"
    assert settings.rpc.genesis_hash == str(genesis_hash_for(env))


def test_shipped_mainnet_profile_is_not_on_this_machine() -> None:
    settings = load_settings("mainnet-beta")

    assert all("127.0.0.1" not in url for url in settings.rpc.urls)
    assert settings.promotion.requires_approval is True


def test_profile_loads_from_config_dir(
    write_profile: WriteProfile, profile_dir: Path
) -> None:
    write_profile()

    settings = load_settings("devnet", profile_dir)

    assert settings.workspace_dir == profile_dir.parent
    assert str(settings.rpc.url) == "https://rpc.example.test/"
    assert settings.program("slop_registry").elf_path == Path("target/slop_registry.so")


def test_unknown_environment_rejected(profile_dir: Path) -> None:
    with pytest.raises(ProfileError, match="unknown environment; use one of") as info:
        load_settings("testnet", profile_dir)

    assert info.value.environment == "testnet"


def test_missing_profile_file_rejected(profile_dir: Path) -> None:
    with pytest.raises(ProfileError, match=r"devnet\.toml' not found; create it"):
        load_settings("devnet", profile_dir)


def test_invalid_toml_rejected(profile_dir: Path) -> None:
    (profile_dir / "devnet.toml").write_text("[rpc\nurl = 1\n")

    with pytest.raises(ProfileError, match="is not valid TOML"):
        load_settings("devnet", profile_dir)


def test_missing_key_names_field_and_variable(
    write_profile: WriteProfile, profile_dir: Path
) -> None:
    write_profile(edit=lambda data: data["rpc"].pop("genesis_hash"))

    with pytest.raises(ProfileError) as info:
        load_settings("devnet", profile_dir)

    assert info.value.problems == [
        "rpc.genesis_hash: missing; add it to the profile or set the variable "
        "SLOPOPS_RPC__GENESIS_HASH"
    ]


def test_missing_section_rejected(
    write_profile: WriteProfile, profile_dir: Path
) -> None:
    write_profile(edit=lambda data: data.pop("arweave"))

    with pytest.raises(ProfileError, match="arweave: missing; add it to the profile"):
        load_settings("devnet", profile_dir)


def test_missing_key_in_list_item_rejected(
    write_profile: WriteProfile, profile_dir: Path
) -> None:
    write_profile(edit=lambda data: data["programs"][0].pop("name"))

    with pytest.raises(ProfileError) as info:
        load_settings("devnet", profile_dir)

    assert info.value.problems == ["programs[0].name: missing; add it to the profile"]


def test_unknown_key_rejected(write_profile: WriteProfile, profile_dir: Path) -> None:
    write_profile(edit=lambda data: data["rpc"].update(urll="https://x.test"))

    with pytest.raises(ProfileError, match="rpc.urll: unknown key; remove it"):
        load_settings("devnet", profile_dir)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("url", "not a url"),
        ("url", "ftp://rpc.example.test"),
        ("fallback_urls", ["https://ok.example.test", "http//missing-colon"]),
    ],
)
def test_malformed_url_rejected(
    write_profile: WriteProfile, profile_dir: Path, field: str, value: Any
) -> None:
    write_profile(edit=lambda data: data["rpc"].update({field: value}))

    with pytest.raises(ProfileError, match=r"is not a valid http\(s\) URL") as info:
        load_settings("devnet", profile_dir)

    assert info.value.problems[0].startswith(f"rpc.{field}")


def test_malformed_gateway_url_rejected(
    write_profile: WriteProfile, profile_dir: Path
) -> None:
    write_profile(edit=lambda data: data["arweave"].update(gateway_url="arweave"))

    with pytest.raises(ProfileError, match="arweave.gateway_url: .*'arweave'"):
        load_settings("devnet", profile_dir)


@pytest.mark.parametrize("genesis_hash", ["", "   "])
def test_empty_genesis_hash_rejected(
    write_profile: WriteProfile, profile_dir: Path, genesis_hash: str
) -> None:
    write_profile(edit=lambda data: data["rpc"].update(genesis_hash=genesis_hash))

    with pytest.raises(ProfileError, match="rpc.genesis_hash: genesis_hash is empty"):
        load_settings("devnet", profile_dir)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_keypair_readable_by_others_rejected(
    write_profile: WriteProfile, profile_dir: Path, mode: int
) -> None:
    keypair = write_private(profile_dir.parent / "authority.json", "[1]", mode)
    write_profile(
        edit=lambda data: data["programs"][0].update(
            upgrade_authority_keypair=str(keypair)
        )
    )

    with pytest.raises(ProfileError) as info:
        load_settings("devnet", profile_dir)

    message = str(info.value)
    assert "programs.slop_registry.upgrade_authority_keypair" in message
    assert f"mode {mode:04o}" in message
    assert f"chmod 600 {keypair}" in message


def test_private_keypair_accepted(
    write_profile: WriteProfile, profile_dir: Path
) -> None:
    write_private(profile_dir.parent / "keys" / "authority.json", "[1]")
    write_profile(
        edit=lambda data: data["programs"][0].update(
            upgrade_authority_keypair="keys/authority.json"
        )
    )

    settings = load_settings("devnet", profile_dir)

    keypair = settings.program("slop_registry").upgrade_authority_keypair
    assert keypair is not None
    assert settings.resolve(keypair) == profile_dir.parent / "keys" / "authority.json"


@pytest.mark.parametrize(
    ("field", "path"),
    [
        ("arweave.wallet_path", "wallet.json"),
        ("mem0.dsn_file", "mem0.dsn"),
    ],
)
def test_secret_file_readable_by_others_rejected(
    write_profile: WriteProfile, profile_dir: Path, field: str, path: str
) -> None:
    write_private(profile_dir.parent / path, "secret", 0o644)
    write_profile()

    with pytest.raises(ProfileError, match=f"{field} file .* has mode 0644"):
        load_settings("devnet", profile_dir)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8899",
        "http://127.8.9.10:8899",
        "http://localhost:8899",
        "http://[::1]:8899",
        "http://0.0.0.0:8899",
        f"http://{socket.gethostname()}:8899",
    ],
)
def test_mainnet_rpc_on_this_machine_rejected(
    write_profile: WriteProfile, profile_dir: Path, url: str
) -> None:
    write_profile("mainnet-beta", lambda data: data["rpc"].update(url=url))

    with pytest.raises(ProfileError, match="points at this machine") as info:
        load_settings("mainnet-beta", profile_dir)

    assert info.value.environment == "mainnet-beta"
    assert "set simulation = true" in str(info.value)


def test_mainnet_fallback_on_this_machine_rejected(
    write_profile: WriteProfile, profile_dir: Path
) -> None:
    write_profile(
        "mainnet-beta",
        lambda data: data["rpc"].update(fallback_urls=["http://127.0.0.1:9099"]),
    )

    with pytest.raises(ProfileError, match="'http://127.0.0.1:9099/' of a mainnet"):
        load_settings("mainnet-beta", profile_dir)


def test_mainnet_simulation_on_this_machine_accepted(
    write_profile: WriteProfile, profile_dir: Path
) -> None:
    def simulate(data: dict[str, Any]) -> None:
        data["simulation"] = True
        data["rpc"].update(url="http://127.0.0.1:9099", fallback_urls=[])
        data["arweave"].update(gateway_url="http://127.0.0.1:1984")

    write_profile("mainnet-beta", simulate)

    settings = load_settings("mainnet-beta", profile_dir)

    assert settings.simulation is True
    assert settings.rpc.urls == ["http://127.0.0.1:9099/"]


def test_simulation_with_remote_rpc_rejected(
    write_profile: WriteProfile, profile_dir: Path
) -> None:
    write_profile("mainnet-beta", lambda data: data.update(simulation=True))

    with pytest.raises(ProfileError, match="of a simulation profile is not on this"):
        load_settings("mainnet-beta", profile_dir)


def test_devnet_rpc_on_this_machine_accepted(
    write_profile: WriteProfile, profile_dir: Path
) -> None:
    write_profile(edit=lambda data: data["rpc"].update(url="http://127.0.0.1:8999"))

    assert load_settings("devnet", profile_dir).simulation is False


def test_environment_key_mismatch_rejected(
    write_profile: WriteProfile, profile_dir: Path
) -> None:
    write_profile(edit=lambda data: data.update(environment="mainnet-beta"))

    with pytest.raises(ProfileError, match="does not match the profile 'devnet'"):
        load_settings("devnet", profile_dir)


def test_fly_mode_without_machines_api_url_rejected(
    write_profile: WriteProfile, profile_dir: Path
) -> None:
    write_profile(edit=lambda data: data["mcp"].pop("machines_api_url"))

    with pytest.raises(ProfileError, match="set mcp.machines_api_url"):
        load_settings("devnet", profile_dir)


def test_several_problems_reported_together(
    write_profile: WriteProfile, profile_dir: Path
) -> None:
    def break_two(data: dict[str, Any]) -> None:
        data["rpc"]["url"] = "nope"
        data["monitor"] = {"failure_rate_threshold": 2}

    write_profile(edit=break_two)

    with pytest.raises(ProfileError) as info:
        load_settings("devnet", profile_dir)

    fields = [problem.split(":")[0] for problem in info.value.problems]
    assert fields == ["rpc.url", "monitor.failure_rate_threshold"]


def test_age_identity_readable_by_others_rejected(
    write_profile: WriteProfile, profile_dir: Path
) -> None:
    write_private(profile_dir.parent / "age.key", "AGE-SECRET-KEY-1", 0o640)
    write_profile(edit=lambda data: data["arweave"].update(age_identity_file="age.key"))

    with pytest.raises(ProfileError, match="arweave.age_identity_file file .* 0640"):
        load_settings("devnet", profile_dir)


def test_malformed_url_message_masks_key(
    write_profile: WriteProfile, profile_dir: Path
) -> None:
    write_profile(
        edit=lambda data: data["rpc"].update(url="htps://rpc.test/?api-key=s3cret")
    )

    with pytest.raises(ProfileError) as info:
        load_settings("devnet", profile_dir)

    assert "s3cret" not in str(info.value)
    assert "api-key=**********" in str(info.value)


def _key_store_profile(
    write_profile: WriteProfile, profile_dir: Path, mode: int
) -> Path:
    key_store = profile_dir.parent / "backup-keys"
    key_store.mkdir()
    key_store.chmod(mode)
    write_profile(edit=lambda data: data["arweave"].update(key_store_dir="backup-keys"))
    return key_store


def test_private_key_store_accepted(
    write_profile: WriteProfile, profile_dir: Path
) -> None:
    key_store = _key_store_profile(write_profile, profile_dir, 0o700)

    settings = load_settings("devnet", profile_dir)

    assert settings.resolve(settings.arweave.key_store_dir or Path()) == key_store


@pytest.mark.parametrize("mode", [0o750, 0o705])
def test_key_store_open_to_others_rejected(
    write_profile: WriteProfile, profile_dir: Path, mode: int
) -> None:
    key_store = _key_store_profile(write_profile, profile_dir, mode)

    with pytest.raises(ProfileError, match=f"chmod 700 {key_store}"):
        load_settings("devnet", profile_dir)


def test_malformed_genesis_hash_rejected(
    write_profile: WriteProfile, profile_dir: Path
) -> None:
    write_profile(edit=lambda data: data["rpc"].update(genesis_hash="xyz"))

    with pytest.raises(ProfileError, match="rpc.genesis_hash: genesis_hash 'xyz'"):
        load_settings("devnet", profile_dir)


def test_mainnet_error_names_rpc_field(
    write_profile: WriteProfile, profile_dir: Path
) -> None:
    write_profile(
        "mainnet-beta", lambda data: data["rpc"].update(url="http://127.0.0.1:8899")
    )

    with pytest.raises(ProfileError) as info:
        load_settings("mainnet-beta", profile_dir)

    assert info.value.problems[0].startswith("rpc.url: ")


def test_mainnet_gateway_on_this_machine_rejected(
    write_profile: WriteProfile, profile_dir: Path
) -> None:
    write_profile(
        "mainnet-beta",
        lambda data: data["arweave"].update(gateway_url="http://127.0.0.1:1984"),
    )

    with pytest.raises(ProfileError, match="arweave.gateway_url: .*this machine"):
        load_settings("mainnet-beta", profile_dir)


def test_simulation_with_remote_gateway_rejected(
    write_profile: WriteProfile, profile_dir: Path
) -> None:
    def edit(data: dict[str, Any]) -> None:
        data.update(simulation=True)
        data["rpc"].update(url="http://127.0.0.1:9099", fallback_urls=[])
        data["arweave"].update(gateway_url="https://gateway.example.test")

    write_profile("mainnet-beta", edit)

    with pytest.raises(ProfileError, match="arweave.gateway_url: .*not on this"):
        load_settings("mainnet-beta", profile_dir)


def test_keypair_directory_rejected(
    write_profile: WriteProfile, profile_dir: Path
) -> None:
    keys = profile_dir.parent / "keys"
    keys.mkdir(mode=0o700)
    write_profile(edit=lambda data: data.update(payer_keypair=str(keys)))

    with pytest.raises(ProfileError, match="is a directory; point it at the file"):
        load_settings("devnet", profile_dir)


def test_bad_variable_named_in_error(
    write_profile: WriteProfile, profile_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_profile()
    monkeypatch.setenv("SLOPOPS_RPC__TIMEOUT_SECONDS", "-5")

    with pytest.raises(ProfileError) as info:
        load_settings("devnet", profile_dir)

    assert "rpc.timeout_seconds" in str(info.value)
    assert "SLOPOPS_RPC__TIMEOUT_SECONDS" in str(info.value)
