"""``slopops program``: release, roll back and inspect Solana programs.

Each command mirrors one engine call of :mod:`slopops.programs` and speaks
JSON-RPC only, so it runs the same against the local chain, devnet and
mainnet-beta.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from config import ProfileError, Settings, load_settings
from slopops.cli.options import ConfigDirOption, EnvOption
from slopops.errors import SlopopsError
from slopops.programs import (
    ProgramTarget,
    check_release_inputs,
    close_buffers,
    elf_path_of,
    failure_rate,
    program_inventory,
    release_program,
    rollback_program,
)
from slopops.programs.errors import DeployRejectedError
from slopops.programs.preflight import PreflightReport
from slopops.solana import RpcClient

app = typer.Typer(
    help="Release, roll back and inspect Solana programs (loader v3).",
    no_args_is_help=True,
)
# Signatures and hashes are long: print them whole instead of wrapping.
console = Console(soft_wrap=True)
# Messages quote paths and values with [brackets], so rich markup stays off.
errors = Console(stderr=True, soft_wrap=True, markup=False)

T = TypeVar("T")

ProgramOption = Annotated[
    str, typer.Option("--program", "-p", help="Program name in the profile.")
]


def _target(env: str, program: str, config_dir: Path | None) -> ProgramTarget:
    return _load(env, program, config_dir)[1]


def _load(
    env: str, program: str, config_dir: Path | None
) -> tuple[Settings, ProgramTarget]:
    """Load the profile and the program's target; exit 2 when either is invalid."""
    try:
        settings = load_settings(env, config_dir)
        return settings, ProgramTarget.from_settings(settings, program)
    except (ProfileError, SlopopsError) as exc:
        errors.print(f"error: {exc}")
        raise typer.Exit(2) from exc
    except KeyError as exc:
        errors.print(f"error: {exc.args[0]}")
        raise typer.Exit(2) from exc


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run an engine call; print a deliberate error and exit 1 on failure."""
    try:
        return asyncio.run(coroutine)
    except DeployRejectedError as exc:
        errors.print(f"error: {exc}")
        for line in exc.logs:
            errors.print(f"  {line}")
        raise typer.Exit(1) from exc
    except SlopopsError as exc:
        errors.print(f"error: {exc}")
        raise typer.Exit(1) from exc


@app.command()
def deploy(
    env: EnvOption,
    program: ProgramOption,
    elf: Annotated[
        Path | None,
        typer.Option("--elf", help="Program file; default: the profile's elf_path."),
    ] = None,
    config_dir: ConfigDirOption = None,
) -> None:
    """Deploy or upgrade a program, verify its sha256 and stage a rollback."""
    target = _target(env, program, config_dir)
    try:
        path = elf_path_of(target, elf)
        check_release_inputs(target, path)
    except (ValueError, SlopopsError) as exc:
        errors.print(f"error: {exc}")
        raise typer.Exit(2) from exc
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task_id = progress.add_task("writing buffer", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task_id, completed=done, total=total)

        def show_estimate(report: PreflightReport) -> None:
            action = "deploy" if report.first_deploy else "upgrade"
            progress.console.print(
                f"preflight passed: {action} of {report.size_bytes} bytes "
                f"(sha256 {report.sha256}), extend {report.extend_bytes} bytes, "
                f"estimated cost {report.estimated_lamports} lamports of "
                f"{report.payer_balance_lamports} held by {report.payer}"
            )

        outcome = _run(
            release_program(target, path, progress=advance, on_preflight=show_estimate)
        )
    record = outcome.record
    if outcome.unchanged:
        console.print(
            f"{program} ({record.program_id}) already runs sha256 {record.sha256}, "
            f"released as #{record.sequence} at slot {record.slot}; nothing signed"
        )
        return
    console.print(
        f"{record.kind} of {program} ({record.program_id}) verified: "
        f"sha256 {record.sha256} at slot {record.slot}"
    )
    console.print(
        f"previous sha256: {record.previous_sha256 or 'none'}; "
        f"estimate {outcome.preflight.estimated_lamports} lamports, "
        f"spent {record.lamports_spent}, recovered {record.recovered_lamports}"
    )
    if outcome.buffer is not None:
        console.print(
            f"buffer {outcome.buffer.address}: {outcome.buffer.chunks_written} "
            f"chunks written, {outcome.buffer.chunks_skipped} already in place"
        )
    for label, signature in record.signatures.items():
        console.print(f"  {label}: {signature}")


@app.command()
def rollback(
    env: EnvOption, program: ProgramOption, config_dir: ConfigDirOption = None
) -> None:
    """Put the previous release back with one Upgrade transaction."""
    target = _target(env, program, config_dir)
    outcome = _run(rollback_program(target))
    record = outcome.record
    console.print(
        f"rolled back {program} ({record.program_id}) from {record.previous_sha256} "
        f"to {record.sha256} at slot {record.slot}"
    )
    for label, signature in record.signatures.items():
        console.print(f"  {label}: {signature}")
    if outcome.next_rollback_buffer is None:
        console.print("no earlier release is stored; no rollback buffer staged")
    else:
        console.print(
            f"next rollback buffer: {outcome.next_rollback_buffer.address} "
            f"({outcome.next_rollback_buffer.sha256})"
        )


@app.command()
def show(
    env: EnvOption, program: ProgramOption, config_dir: ConfigDirOption = None
) -> None:
    """Print the program's on-chain state, our buffers and recent releases."""
    target = _target(env, program, config_dir)
    inventory = _run(program_inventory(target))
    if not inventory.deployed:
        console.print(f"{program} ({inventory.program_id}) is not deployed")
    else:
        console.print(f"program:           {program} ({inventory.program_id})")
        console.print(f"upgrade authority: {inventory.authority or 'none (final)'}")
        console.print(f"programdata:       {inventory.programdata_bytes} bytes")
        console.print(f"ELF:               {inventory.elf_bytes} bytes")
        console.print(f"sha256:            {inventory.sha256}")
        console.print(f"last deployed:     slot {inventory.last_deployed_slot}")
    console.print(
        f"buffers:           {len(inventory.buffers)} holding "
        f"{inventory.buffer_lamports} lamports"
    )
    records = target.store().records(program)[-5:]
    for record in records:
        console.print(
            f"  #{record.sequence} {record.kind} {record.sha256[:16]} slot "
            f"{record.slot} at {record.created_at}"
        )


@app.command()
def buffers(
    env: EnvOption, program: ProgramOption, config_dir: ConfigDirOption = None
) -> None:
    """List the buffers held by the program's upgrade authority."""
    target = _target(env, program, config_dir)
    inventory = _run(program_inventory(target))
    table = Table("address", "lamports", "role")
    for buffer in inventory.buffers:
        table.add_row(buffer.address, str(buffer.lamports), buffer.role or "unknown")
    console.print(table)
    console.print(
        f"{len(inventory.buffers)} buffers, {inventory.buffer_lamports} lamports"
    )


@app.command("close-buffers")
def close_buffers_command(
    env: EnvOption,
    program: ProgramOption,
    include_rollback: Annotated[
        bool,
        typer.Option(
            "--include-rollback", help="Also close the staged rollback buffer."
        ),
    ] = False,
    config_dir: ConfigDirOption = None,
) -> None:
    """Close our buffers and recover their lamports to the fee payer."""
    target = _target(env, program, config_dir)
    report = _run(close_buffers(target, keep_rollback=not include_rollback))
    for address, lamports in report.closed.items():
        console.print(f"closed {address}: {lamports} lamports")
    for address in report.kept:
        console.print(f"kept rollback buffer {address}")
    console.print(
        f"closed {len(report.closed)} buffers, recovered "
        f"{report.recovered_lamports} lamports"
    )


@app.command("failure-rate")
def failure_rate_command(
    env: EnvOption,
    program: ProgramOption,
    limit: Annotated[
        int | None,
        typer.Option("--limit", min=1, help="Newest signatures to sample."),
    ] = None,
    window_seconds: Annotated[
        int | None,
        typer.Option(
            "--window-seconds",
            min=1,
            help="Sample the last N seconds; default: monitor.window_seconds.",
        ),
    ] = None,
    config_dir: ConfigDirOption = None,
) -> None:
    """Print the share of failed transactions of the program and their errors."""
    settings, target = _load(env, program, config_dir)
    if limit is None and window_seconds is None:
        window_seconds = settings.monitor.window_seconds

    async def probe() -> Any:
        async with RpcClient.from_settings(target.rpc) as rpc:
            return await failure_rate(
                rpc, target.program_id(), limit=limit, window_seconds=window_seconds
            )

    rate = _run(probe())
    share = "no data" if rate.rate is None else f"{rate.rate:.1%}"
    console.print(
        f"{program} ({rate.program_id}): {rate.failed} of {rate.samples} "
        f"transactions failed ({share})"
    )
    for kind, count in sorted(rate.error_kinds.items()):
        console.print(f"  {kind}: {count}")
