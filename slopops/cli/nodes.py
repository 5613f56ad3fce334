"""``slopops nodes``: release, roll back and inspect the agent node fleet."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from config import ENVIRONMENTS, ProfileError, Settings, load_settings
from slopops.errors import SlopopsError
from slopops.fleet import Fleet, Release, RolloutReport, resolve_fleet

app = typer.Typer(
    help="Release, roll back and inspect the agent nodes (SSH and PM2).",
    no_args_is_help=True,
)
console = Console(soft_wrap=True)
# Messages quote values such as [host]:port, so rich markup stays off.
errors = Console(stderr=True, soft_wrap=True, markup=False)

EnvOption = Annotated[
    str, typer.Option("--env", "-e", help=f"Environment: {', '.join(ENVIRONMENTS)}.")
]
ConfigDirOption = Annotated[
    Path | None,
    typer.Option("--config-dir", help="Directory of the <env>.toml profiles."),
]


@app.command()
def deploy(
    env: EnvOption,
    release: Annotated[
        Path,
        typer.Option(
            "--release", "-r", help="Release tarball (.tar.gz) with the app at its top."
        ),
    ],
    release_id: Annotated[
        str | None,
        typer.Option("--release-id", help="Release id; default: the file name stem."),
    ] = None,
    sha256: Annotated[
        str | None,
        typer.Option(
            "--sha256", help="Expected sha256 of the tarball, checked on nodes."
        ),
    ] = None,
    config_dir: ConfigDirOption = None,
) -> None:
    """Roll a release across the fleet in batches, health-checking every node."""
    fleet = _fleet(env, config_dir)
    try:
        tarball = Release.from_tarball(release, release_id, sha256)
    except SlopopsError as exc:
        errors.print(f"error: {exc}")
        raise typer.Exit(2) from exc

    def on_batch(done: int, total: int, report: RolloutReport) -> None:
        failed = sum(not outcome.ok for outcome in report.outcomes)
        console.print(f"batch {done}/{total} done, {failed} failed so far")

    _finish(fleet.roll_out(tarball, on_batch=on_batch))


@app.command()
def rollback(env: EnvOption, config_dir: ConfigDirOption = None) -> None:
    """Put every node back on its last known good release, all at once."""
    _finish(_fleet(env, config_dir).roll_back())


@app.command()
def status(env: EnvOption, config_dir: ConfigDirOption = None) -> None:
    """Show each node's current release, health and last known good release."""
    _finish(_fleet(env, config_dir).status())


def _fleet(env: str, config_dir: Path | None) -> Fleet:
    """Load the profile's fleet; exit 2 when the profile or the fleet is invalid."""
    try:
        settings: Settings = load_settings(env, config_dir)
        fleet = resolve_fleet(settings)
        if not fleet.nodes:
            raise ValueError(f"the {env} profile lists no nodes under [[fleet.nodes]]")
        return Fleet(fleet)
    except (ProfileError, ValueError) as exc:
        errors.print(f"error: {exc}")
        raise typer.Exit(2) from exc


def print_report(report: RolloutReport, title: str) -> None:
    """Print one row per node: status, release, health and a note."""
    table = Table(title=title)
    for column in ("node", "status", "release", "health", "note"):
        table.add_column(column)
    for row in report.rows():
        table.add_row(*(Text(value) for value in row.values()))
    console.print(table)


def _finish(report: RolloutReport) -> None:
    subject = f" of {report.release_id}" if report.release_id else ""
    print_report(report, f"nodes {report.action}{subject}")
    if report.stopped:
        errors.print(f"rollout stopped: {report.reason}")
    elif report.reason:
        errors.print(f"warning: {report.reason}")
    if not report.ok:
        raise typer.Exit(1)
