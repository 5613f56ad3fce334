"""``slopops mcp``: release, roll back and inspect the MCP server.

On Fly (``mcp.mode = "fly"``) the commands drive the app's machines through
the Machines API. Locally (``mode = "local"``) the MCP server is a PM2 app
released like an agent node, and ``--image`` is a release tarball path or an
image reference that the sample app stands in for.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from config import ProfileError, Settings, load_settings
from slopops.cli.options import ConfigDirOption, EnvOption
from slopops.cli.report import console, errors, finish_node_report, print_table
from slopops.errors import SlopopsError
from slopops.mcp import FlyRelease, McpReport, open_fly_release
from slopops.mcp.local import (
    deploy_local,
    local_release,
    rollback_local,
    status_local,
)

app = typer.Typer(
    help="Release, roll back and inspect the MCP server (Fly Machines or local PM2).",
    no_args_is_help=True,
)
T = TypeVar("T")
MACHINE_COLUMNS = ("machine", "name", "image", "state", "health")


@app.command()
def deploy(
    env: EnvOption,
    image: Annotated[
        str,
        typer.Option(
            "--image",
            "-i",
            help="Image reference; in local mode also a release tarball path.",
        ),
    ],
    config_dir: ConfigDirOption = None,
) -> None:
    """Update the MCP server to a new image, one machine at a time."""
    settings = _settings(env, config_dir)
    if settings.mcp.mode == "local":
        try:
            release = local_release(settings, image)
        except SlopopsError as exc:
            errors.print(f"error: {exc}")
            raise typer.Exit(2) from exc
        report = _call(lambda: deploy_local(settings, release))
        finish_node_report(report, f"local MCP deploy of {release.release_id}")
    else:
        _fly_command(settings, lambda fly: fly.deploy(image))


@app.command()
def rollback(env: EnvOption, config_dir: ConfigDirOption = None) -> None:
    """Put the last known good MCP image back on every machine."""
    settings = _settings(env, config_dir)
    if settings.mcp.mode == "local":
        report = _call(lambda: rollback_local(settings))
        finish_node_report(report, "local MCP rollback")
    else:
        _fly_command(settings, lambda fly: fly.rollback())


@app.command()
def status(env: EnvOption, config_dir: ConfigDirOption = None) -> None:
    """Show each machine's image, state and health, or the local app's."""
    settings = _settings(env, config_dir)
    if settings.mcp.mode == "local":
        report = _call(lambda: status_local(settings))
        finish_node_report(report, "local MCP status")
    else:
        _fly_command(settings, lambda fly: fly.status())


def _settings(env: str, config_dir: Path | None) -> Settings:
    try:
        return load_settings(env, config_dir)
    except ProfileError as exc:
        errors.print(f"error: {exc}")
        raise typer.Exit(2) from exc


def _fly_command(settings: Settings, action: Callable[[FlyRelease], McpReport]) -> None:
    try:
        fly = open_fly_release(settings)
    except (SlopopsError, ValueError) as exc:
        errors.print(f"error: {exc}")
        raise typer.Exit(2) from exc
    try:
        report: McpReport = _call(lambda: action(fly))
    finally:
        fly.client.close()
    _print_machines(report)
    _exit(report.ok)


def _call(work: Callable[[], T]) -> T:
    try:
        return work()
    except SlopopsError as exc:
        errors.print(f"error: {exc}")
        raise typer.Exit(1) from exc


def _print_machines(report: McpReport) -> None:
    title = f"MCP {report.action} of {report.image} on {report.app}"
    print_table(title, MACHINE_COLUMNS, report.rows())
    if report.detail:
        console.print(report.detail, markup=False)
    if report.error:
        restored = " (previous images restored)" if report.restored else ""
        errors.print(f"error: {report.error}{restored}")


def _exit(ok: bool) -> None:
    raise typer.Exit(0 if ok else 1)
