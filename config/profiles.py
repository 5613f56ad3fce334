"""Load a settings profile: TOML, then Anchor.toml, then environment variables."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from config.errors import ProfileError
from config.settings import (
    ANCHOR_CLUSTERS,
    ENVIRONMENTS,
    ProgramSettings,
    Settings,
    check_private_file,
)

CONFIG_DIR = Path(__file__).resolve().parent
CONFIG_DIR_VARIABLE = "SLOPOPS_CONFIG_DIR"


def default_config_dir() -> Path:
    """Return the profile directory: ``$SLOPOPS_CONFIG_DIR`` or this package's."""
    configured = os.environ.get(CONFIG_DIR_VARIABLE)
    return Path(configured).expanduser().resolve() if configured else CONFIG_DIR


def load_settings(environment: str, config_dir: Path | None = None) -> Settings:
    """Load and validate the profile of ``environment``.

    Args:
        environment: ``local``, ``devnet`` or ``mainnet-beta``.
        config_dir: Directory of ``<environment>.toml`` profiles; defaults to
            ``$SLOPOPS_CONFIG_DIR`` or the ``config`` package.

    Raises:
        ProfileError: The environment is unknown or the profile is invalid; the
            message names each bad field and the fix.
    """
    if environment not in ENVIRONMENTS:
        raise ProfileError(
            environment,
            [f"unknown environment; use one of {', '.join(ENVIRONMENTS)}"],
        )
    directory = (config_dir or default_config_dir()).expanduser().resolve()
    data = _read_profile(environment, directory / f"{environment}.toml")
    data.setdefault("environment", environment)
    data.setdefault("workspace_dir", str(directory.parent))
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ProfileError.from_validation(environment, exc) from exc
    if settings.environment != environment:
        raise ProfileError(
            environment,
            [
                f"environment: {settings.environment!r} does not match the profile "
                f"{environment!r}; fix the environment key or unset "
                "SLOPOPS_ENVIRONMENT"
            ],
        )
    settings = _apply_anchor_toml(settings)
    _check_key_files(settings)
    return settings


def _read_profile(environment: str, path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ProfileError(
            environment,
            [
                f"profile file {str(path)!r} not found; create it or set "
                f"{CONFIG_DIR_VARIABLE} to the directory that holds it"
            ],
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(
            environment, [f"profile file {str(path)!r} is not valid TOML: {exc}"]
        ) from exc


def _apply_anchor_toml(settings: Settings) -> Settings:
    """Fill program ids and keypairs from Anchor.toml, when there is one.

    The profile wins where it sets a value, but a program id that differs from
    Anchor.toml's is an error. Anchor deploys with ``[provider] wallet`` as fee
    payer and upgrade authority, so the wallet fills ``payer_keypair`` and the
    upgrade authority of programs that name none.
    """
    path = settings.resolve(settings.anchor_toml or Path("Anchor.toml"))
    if not path.is_file():
        if settings.anchor_toml is not None:
            raise ProfileError(
                settings.environment,
                [f"anchor_toml: {str(path)!r} not found; fix the path or remove it"],
            )
        return settings
    anchor = _read_anchor_toml(settings.environment, path)
    ids, table = _anchor_program_ids(anchor, settings.environment)
    wallet = _anchor_wallet(anchor, path)
    problems: list[str] = []
    programs = [
        _merge_anchor_program(program, ids, wallet, table, path, problems)
        for program in settings.programs
    ]
    if problems:
        raise ProfileError(settings.environment, problems)
    update: dict[str, Any] = {"programs": programs}
    if settings.payer_keypair is None and wallet is not None:
        update["payer_keypair"] = wallet
    return settings.model_copy(update=update)


def _read_anchor_toml(environment: str, path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(
            environment, [f"anchor_toml: {str(path)!r} is not valid TOML: {exc}"]
        ) from exc


def _anchor_program_ids(
    anchor: dict[str, Any], environment: str
) -> tuple[dict[str, str], str]:
    """Return the ``[programs.<cluster>]`` table of ``environment`` and its name."""
    tables = anchor.get("programs", {})
    for cluster in ANCHOR_CLUSTERS[environment]:
        if cluster in tables:
            return tables[cluster], f"programs.{cluster}"
    return {}, f"programs.{ANCHOR_CLUSTERS[environment][0]}"


def _anchor_wallet(anchor: dict[str, Any], path: Path) -> Path | None:
    wallet = anchor.get("provider", {}).get("wallet")
    if not wallet:
        return None
    # Anchor reads a relative wallet path against the directory of Anchor.toml.
    wallet_path = Path(wallet).expanduser()
    return wallet_path if wallet_path.is_absolute() else path.parent / wallet_path


def _merge_anchor_program(
    program: ProgramSettings,
    ids: dict[str, str],
    wallet: Path | None,
    table: str,
    path: Path,
    problems: list[str],
) -> ProgramSettings:
    anchor_id = ids.get(program.name) or ids.get(program.name.replace("-", "_"))
    if program.program_id and anchor_id and anchor_id != program.program_id:
        problems.append(
            f"programs.{program.name}.program_id: {program.program_id!r} differs "
            f"from [{table}] in {str(path)!r} ({anchor_id!r}); make them agree"
        )
        return program
    data = program.model_dump()
    data["program_id"] = program.program_id or anchor_id
    if not (program.upgrade_authority_keypair or program.upgrade_authority):
        data["upgrade_authority_keypair"] = wallet
    try:
        # Validate again, so a malformed id in Anchor.toml fails here.
        return ProgramSettings.model_validate(data)
    except ValidationError as exc:
        problems.append(
            f"[{table}] {program.name} in {str(path)!r}: {anchor_id!r} is not a "
            f"base58 program id ({exc.errors()[0]['msg']}); fix Anchor.toml"
        )
        return program


def _check_key_files(settings: Settings) -> None:
    candidates: list[tuple[str, Path | None]] = [
        ("payer_keypair", settings.payer_keypair),
        ("fleet.ssh_key_path", settings.fleet.ssh_key_path),
        ("arweave.wallet_path", settings.arweave.wallet_path),
        ("arweave.age_identity_file", settings.arweave.age_identity_file),
        ("mcp.fly_api_token_file", settings.mcp.fly_api_token_file),
        ("mem0.dsn_file", settings.mem0.dsn_file),
        ("rpc.api_key_file", settings.rpc.api_key_file),
    ]
    for program in settings.programs:
        candidates.append(
            (
                f"programs.{program.name}.upgrade_authority_keypair",
                program.upgrade_authority_keypair,
            )
        )
        candidates.append(
            (f"programs.{program.name}.program_keypair", program.program_keypair)
        )
    problems = []
    for field, path in candidates:
        if path is None:
            continue
        try:
            check_private_file(settings.resolve(path), field)
        except ValueError as exc:
            problems.append(str(exc))
    key_store = settings.arweave.key_store_dir
    if key_store is not None:
        problems.extend(_key_store_problems(settings.resolve(key_store)))
    if problems:
        raise ProfileError(settings.environment, problems)


def _key_store_problems(directory: Path) -> list[str]:
    # Whoever lists or reads the key store can decrypt every backup in it.
    if not directory.is_dir():
        return []
    mode = stat.S_IMODE(directory.stat().st_mode)
    if not mode & 0o077:
        return []
    return [
        f"arweave.key_store_dir {str(directory)!r} has mode {mode:04o}, open to "
        f"group or others; run `chmod 700 {directory}`"
    ]
