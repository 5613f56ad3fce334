"""``slopops backup``: back up, list, restore and drill mem0 backups."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from config import ProfileError, Settings, load_settings
from slopops.cli.options import ConfigDirOption, EnvOption
from slopops.errors import SlopopsError

app = typer.Typer(help="Back up mem0 to Arweave and restore it.", no_args_is_help=True)

T = TypeVar("T")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _settings(env: str, config_dir: Path | None) -> Settings:
    try:
        return load_settings(env, config_dir)
    except ProfileError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc


def _call(action: Callable[[], T]) -> T:
    try:
        return action()
    except (SlopopsError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


def _emit(data: object, as_json: bool, text: str) -> None:
    typer.echo(json.dumps(data, indent=2, default=str) if as_json else text)


@app.command()
def run(
    env: EnvOption,
    force: Annotated[
        bool, typer.Option("--force", help="Back up even if today's backup exists.")
    ] = False,
    config_dir: ConfigDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Dump, encrypt and upload mem0, then verify the upload by reading it back."""
    from slopops.backups import run_backup

    settings = _settings(env, config_dir)
    report = _call(lambda: run_backup(settings, force=force))
    data = {**asdict(report), "link": report.link}
    if report.existing:
        text = (
            f"backup {report.backup_id} already exists for {report.date}: "
            f"{report.link} (use --force for another)"
        )
    else:
        text = (
            f"backup {report.backup_id}: {report.ciphertext_bytes} bytes in "
            f"{report.duration_seconds:.1f} s, {report.cost_winston} winston, "
            f"{report.link}"
        )
    _emit(data, as_json, text)


@app.command("list")
def list_command(
    env: EnvOption,
    date: Annotated[
        str | None, typer.Option("--date", help="Only this UTC date, YYYY-MM-DD.")
    ] = None,
    config_dir: ConfigDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """List backups signed by this environment's wallet, newest first."""
    from slopops.backups import list_backups, open_context

    settings = _settings(env, config_dir)

    def load() -> list:
        context = open_context(settings)
        try:
            return list_backups(context, date=date)
        finally:
            context.close()

    entries = _call(load)
    _emit([asdict(entry) for entry in entries], as_json, _backup_table(entries))


# Columns of `backup list`: the restore-by-hand steps in docs/backup-format.md
# name them, so keep both in step.
_LIST_COLUMNS = (
    "DATE",
    "STATUS",
    "BACKUP-ID",
    "KEY-ID",
    "DUMP-TX",
    "CIPHERTEXT-SHA256",
    "BYTES",
)


def _backup_table(entries: list) -> str:
    if not entries:
        return "none"
    rows = [_LIST_COLUMNS] + [
        (
            entry.date,
            entry.status,
            entry.backup_id,
            entry.key_id or "-",
            entry.dump_transaction_id or "-",
            entry.dump_sha256 or "-",
            str(entry.size_bytes),
        )
        for entry in entries
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


@app.command()
def restore(
    env: EnvOption,
    transaction: Annotated[
        str | None,
        typer.Option("--tx", help="Dump or manifest transaction id, or backup id."),
    ] = None,
    date: Annotated[
        str | None, typer.Option("--date", help="Newest backup of this UTC date.")
    ] = None,
    target_dsn: Annotated[
        str | None,
        typer.Option(
            "--target-dsn", help="Database to create (or to overwrite with --clean)."
        ),
    ] = None,
    sqlite_path: Annotated[
        Path | None, typer.Option("--sqlite-path", help="SQLite file to write.")
    ] = None,
    clean: Annotated[
        bool,
        typer.Option(
            "--clean", help="Restore over the target (pg_restore --clean --if-exists)."
        ),
    ] = False,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", min=1, max=64, help="pg_restore jobs.")
    ] = 2,
    identity_file: Annotated[
        Path | None,
        typer.Option(
            "--identity-file", help="age identity of single-recipient backups."
        ),
    ] = None,
    pg_bin_dir: Annotated[
        Path | None, typer.Option("--pg-bin-dir", help="Directory of pg_restore.")
    ] = None,
    config_dir: ConfigDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Restore the latest backup, or one chosen by --tx or --date."""
    from slopops.backups import RestoreRequest, restore_backup

    settings = _settings(env, config_dir)
    request = RestoreRequest(
        transaction_id=transaction,
        date=date,
        target_dsn=target_dsn,
        sqlite_path=sqlite_path,
        clean=clean,
        jobs=jobs,
        identity_file=identity_file,
        pg_bin_dir=pg_bin_dir,
    )
    report = _call(lambda: restore_backup(settings, request))
    tables = ", ".join(
        f"{table}={rows}" for table, rows in sorted(report.row_counts.items())
    )
    _emit(
        asdict(report),
        as_json,
        f"restored backup {report.backup_id} into {report.target} in "
        f"{report.duration_seconds:.1f} s; rows match the manifest: {tables}",
    )


@app.command()
def drill(
    env: EnvOption,
    config_dir: ConfigDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Restore the latest backup into a scratch database, compare, then drop it."""
    from slopops.backups import run_drill

    settings = _settings(env, config_dir)
    report = _call(lambda: run_drill(settings))
    if report.passed:
        text = f"drill passed: backup {report.backup_id} restored with matching rows"
    else:
        text = f"drill failed: {report.error}"
    _emit(asdict(report), as_json, text)
    if not report.passed:
        raise typer.Exit(1)
