"""Load a settings profile: TOML, then Anchor.toml, then environment variables."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from config.errors import ProfileError
from config.settings import ANCHOR_CLUSTERS, ENVIRONMENTS, Settings, check_private_file

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
    directory = config_dir or default_config_dir()
    data = _read_profile(environment, directory / f"{environment}.toml")
    data.setdefault("environment", environment)
    data.setdefault("workspace_dir", str(directory.parent))
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ProfileError.from_validation(environment, exc) from exc
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
    """Fill program ids and the fee payer from Anchor.toml, when there is one."""
    path = settings.resolve(settings.anchor_toml or Path("Anchor.toml"))
    if not path.is_file():
        if settings.anchor_toml is not None:
            raise ProfileError(
                settings.environment,
                [f"anchor_toml: {str(path)!r} not found; fix the path or remove it"],
            )
        return settings
    with path.open("rb") as handle:
        anchor = tomllib.load(handle)
    cluster = ANCHOR_CLUSTERS[settings.environment]
    ids: dict[str, str] = anchor.get("programs", {}).get(cluster, {})
    problems = []
    programs = []
    for program in settings.programs:
        anchor_id = ids.get(program.name) or ids.get(program.name.replace("-", "_"))
        if program.program_id and anchor_id and anchor_id != program.program_id:
            problems.append(
                f"programs.{program.name}.program_id: {program.program_id!r} differs "
                f"from [programs.{cluster}] in {str(path)!r} ({anchor_id!r}); "
                "make them agree"
            )
        programs.append(
            program.model_copy(update={"program_id": program.program_id or anchor_id})
        )
    if problems:
        raise ProfileError(settings.environment, problems)
    update: dict[str, Any] = {"programs": programs}
    wallet = anchor.get("provider", {}).get("wallet")
    if settings.payer_keypair is None and wallet:
        update["payer_keypair"] = Path(wallet)
    return settings.model_copy(update=update)


def _check_key_files(settings: Settings) -> None:
    candidates: list[tuple[str, Path | None]] = [
        ("payer_keypair", settings.payer_keypair),
        ("fleet.ssh_key_path", settings.fleet.ssh_key_path),
        ("arweave.wallet_path", settings.arweave.wallet_path),
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
    if problems:
        raise ProfileError(settings.environment, problems)
