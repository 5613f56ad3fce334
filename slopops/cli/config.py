"""``slopops config``: print and check the settings profiles."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import tomli_w
import typer

from config import ENVIRONMENTS, ProfileError, Settings, load_settings
from config.errors import mask_url

app = typer.Typer(help="Print and check the settings profiles.", no_args_is_help=True)

_URL_SCHEMES = ("http://", "https://", "postgresql://", "postgres://")


class OutputFormat(StrEnum):
    """Output format of ``config show``."""

    JSON = "json"
    TOML = "toml"


EnvOption = Annotated[
    str, typer.Option("--env", "-e", help=f"Environment: {', '.join(ENVIRONMENTS)}.")
]
ConfigDirOption = Annotated[
    Path | None,
    typer.Option(
        "--config-dir",
        help="Directory of the <env>.toml profiles (default: $SLOPOPS_CONFIG_DIR "
        "or the config package).",
    ),
]
FormatOption = Annotated[
    OutputFormat, typer.Option("--format", "-f", help="Output format.")
]


@app.command()
def show(
    env: EnvOption,
    config_dir: ConfigDirOption = None,
    output_format: FormatOption = OutputFormat.JSON,
) -> None:
    """Print the resolved settings of one environment, secrets masked."""
    settings = _load_or_exit(env, config_dir)
    data = masked_settings(settings)
    if output_format is OutputFormat.TOML:
        typer.echo(tomli_w.dumps(_without_none(data)), nl=False)
    else:
        typer.echo(json.dumps(data, indent=2))


@app.command()
def check(config_dir: ConfigDirOption = None) -> None:
    """Load every environment's profile and report which are invalid."""
    failed = 0
    for env in ENVIRONMENTS:
        try:
            load_settings(env, config_dir)
        except ProfileError as exc:
            failed += 1
            typer.echo(f"{env}: {exc}", err=True)
        else:
            typer.echo(f"{env}: valid")
    if failed:
        raise typer.Exit(1)


def masked_settings(settings: Settings) -> dict[str, Any]:
    """Return the settings as JSON data, secrets and URL credentials masked."""
    return _mask_urls(settings.model_dump(mode="json"))


def _load_or_exit(env: str, config_dir: Path | None) -> Settings:
    try:
        return load_settings(env, config_dir)
    except ProfileError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc


def _mask_urls(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _mask_urls(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask_urls(item) for item in value]
    if isinstance(value, str) and value.startswith(_URL_SCHEMES):
        return mask_url(value)
    return value


def _without_none(value: Any) -> Any:
    # TOML has no null: an unset field is left out.
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(item) for item in value]
    return value
