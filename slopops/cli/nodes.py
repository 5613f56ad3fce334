"""``slopops nodes``: release, roll back and inspect the agent node fleet."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from config import ProfileError, Settings, load_settings
from slopops.cli.options import ConfigDirOption, EnvOption
from slopops.cli.report import console, errors, finish_node_report
from slopops.errors import SlopopsError
from slopops.fleet import Fleet, Release, RolloutReport, resolve_fleet

app = typer.Typer(
    help="Release, roll back and inspect the agent nodes (SSH and PM2).",
    no_args_is_help=True,
)


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
        # Nodes skipped after a stop are not ok, but they did not fail.
        failed = sum(outcome.status == "failed" for outcome in report.outcomes)
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


def _finish(report: RolloutReport) -> None:
    subject = f" of {report.release_id}" if report.release_id else ""
    finish_node_report(report, f"nodes {report.action}{subject}")
