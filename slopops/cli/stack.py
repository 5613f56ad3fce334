"""``slopops stack``: start, check and stop the local stack."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from config import ProfileError, Settings, load_settings
from slopops.errors import SlopopsError
from slopops.stack.errors import StackInterruptedError
from slopops.stack.manager import ServiceStatus, Stack
from slopops.stack.nodes import NodeConfig, merge_nodes, nodes_from_settings
from slopops.stack.prefect_server import api_url
from slopops.stack.services import (
    CONFIG_FILE_NAME,
    DEFAULT_CHAINS,
    StackConfig,
    build_services,
    load_config,
    save_config,
)

app = typer.Typer(
    help="Start, check and stop the local stack: Prefect, chains, arlocal, PostgreSQL.",
    no_args_is_help=True,
)
console = Console()

StateDirOption = Annotated[
    Path,
    typer.Option("--state-dir", help="Directory of PID files, records, logs and data."),
]
HostOption = Annotated[
    str | None,
    typer.Option(
        "--host", help="Loopback address every service binds (default: 127.0.0.1)."
    ),
]
PrefectPortOption = Annotated[
    int | None,
    typer.Option(
        "--prefect-port",
        min=1,
        max=65535,
        help="Port of the Prefect server (default: 4200).",
    ),
]
ChainOption = Annotated[
    list[str] | None,
    typer.Option(
        "--chain",
        help="A local chain as SEED=PORT; repeat for more "
        "(default: local=8899, devnet=8999, mainnet-beta=9099).",
    ),
]
ArlocalPortOption = Annotated[
    int | None,
    typer.Option(
        "--arlocal-port", min=1, max=65535, help="Port of arlocal (default: 1984)."
    ),
]
PostgresPortOption = Annotated[
    int | None,
    typer.Option(
        "--postgres-port",
        min=1,
        max=65535,
        help="Port of the embedded PostgreSQL (default: 5433).",
    ),
]
WithoutOption = Annotated[
    list[str] | None,
    typer.Option(
        "--without",
        help="Leave out a part: chains, arlocal, postgres or nodes; repeat for more.",
    ),
]
EnvOption = Annotated[
    list[str] | None,
    typer.Option(
        "--env",
        help="Profile whose nodes on 127.x each get an sshd; repeat for more "
        "(default: local). The first one decides PostgreSQL: a mem0 DSN leaves "
        "it out, and mem0.embedded_dir is its data directory.",
    ),
]
ConfigDirOption = Annotated[
    Path | None, typer.Option("--config-dir", help="Directory of the profiles.")
]

_PARTS = ("chains", "arlocal", "postgres", "nodes")
DEFAULT_STATE_DIR = Path(".state/stack")
_DEFAULT_CONFIG = StackConfig()


@app.command()
def up(
    state_dir: StateDirOption = DEFAULT_STATE_DIR,
    host: HostOption = None,
    prefect_port: PrefectPortOption = None,
    chain: ChainOption = None,
    arlocal_port: ArlocalPortOption = None,
    postgres_port: PostgresPortOption = None,
    without: WithoutOption = None,
    env: EnvOption = None,
    config_dir: ConfigDirOption = None,
) -> None:
    """Start every service that is not running and wait until all are ready.

    An option not given keeps the value that the last ``up`` saved in the
    state directory's stack.json, and a part left out stays out until its
    option (--chain, --arlocal-port, --postgres-port, --env) is given again.
    """
    config = _up_config(
        state_dir,
        host=host,
        prefect_port=prefect_port,
        chain=chain,
        arlocal_port=arlocal_port,
        postgres_port=postgres_port,
        without=without,
        env=env,
        config_dir=config_dir,
    )
    stack = _make_stack(config)
    try:
        # Before the save, so a rejected up leaves the saved ports as they are.
        stack.check()
        save_config(config)
        statuses = stack.up()
    except StackInterruptedError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]", highlight=False)
        raise typer.Exit(130) from exc
    except SlopopsError as exc:
        # The message can quote service logs, whose [brackets] are not markup.
        console.print(
            f"[red]stack up failed:[/red] {escape(str(exc))}", highlight=False
        )
        raise typer.Exit(1) from exc
    _print_table(statuses)
    not_ready = [item.name for item in statuses if item.status == "not ready"]
    if not_ready:
        logs = escape(repr(str(config.state_dir)))
        console.print(
            f"[red]stack up failed:[/red] not ready: {', '.join(not_ready)}; see "
            f"their logs under {logs}, or run `slopops stack down` and `up` again",
            highlight=False,
        )
        raise typer.Exit(1)
    console.print(f"export PREFECT_API_URL={api_url(config.host, config.prefect_port)}")


@app.command()
def status(state_dir: StateDirOption = DEFAULT_STATE_DIR) -> None:
    """Print each service's PID, URL and readiness; exit 1 unless all are ready."""
    statuses = _make_stack(load_config(state_dir)).status()
    _print_table(statuses)
    if any(item.status != "ready" for item in statuses):
        raise typer.Exit(1)


@app.command()
def down(state_dir: StateDirOption = DEFAULT_STATE_DIR) -> None:
    """Stop every service recorded in the state directory, with its children."""
    _print_table(_make_stack(load_config(state_dir)).down())


def _make_stack(config: StackConfig) -> Stack:
    return Stack(build_services(config), config.state_dir)


def _up_config(
    state_dir: Path,
    *,
    host: str | None,
    prefect_port: int | None,
    chain: list[str] | None,
    arlocal_port: int | None,
    postgres_port: int | None,
    without: list[str] | None,
    env: list[str] | None,
    config_dir: Path | None,
) -> StackConfig:
    """Return the configuration of ``up``: given options, else saved, else default."""
    saved = load_config(state_dir) if (state_dir / CONFIG_FILE_NAME).exists() else None
    left_out = _parse_without(without)
    if saved is not None:
        turned_on = {
            part
            for part, given in (
                ("chains", chain),
                ("arlocal", arlocal_port),
                ("postgres", postgres_port),
                ("nodes", env),
            )
            if given
        }
        left_out |= _saved_left_out(saved) - turned_on
    postgres_data_dir, nodes = _profile_parts(saved, left_out, env, config_dir)
    base = saved or _DEFAULT_CONFIG
    try:
        return StackConfig(
            state_dir=state_dir,
            host=host or base.host,
            prefect_port=prefect_port or base.prefect_port,
            chains=() if "chains" in left_out else _chains(chain, base),
            arlocal_port=None
            if "arlocal" in left_out
            else arlocal_port or base.arlocal_port or _DEFAULT_CONFIG.arlocal_port,
            postgres_port=None
            if "postgres" in left_out
            else postgres_port or base.postgres_port or _DEFAULT_CONFIG.postgres_port,
            postgres_data_dir=postgres_data_dir,
            nodes=nodes,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--host") from exc


def _saved_left_out(saved: StackConfig) -> set[str]:
    """Return the parts that the saved configuration leaves out."""
    parts = {
        "chains": not saved.chains,
        "arlocal": saved.arlocal_port is None,
        "postgres": saved.postgres_port is None,
        "nodes": not saved.nodes,
    }
    return {part for part, absent in parts.items() if absent}


def _profile_parts(
    saved: StackConfig | None,
    left_out: set[str],
    env: list[str] | None,
    config_dir: Path | None,
) -> tuple[Path | None, tuple[NodeConfig, ...]]:
    """Return the PostgreSQL data directory and the nodes, saved or from profiles.

    Without --env, a part that the saved configuration has keeps its saved
    values, and only a part turned on again reads the profiles.
    """
    postgres_data_dir: Path | None = None
    nodes: tuple[NodeConfig, ...] = ()
    from_profiles = {"postgres", "nodes"} - left_out
    if saved is not None and not env:
        if "postgres" in from_profiles and saved.postgres_port is not None:
            postgres_data_dir = saved.postgres_data_dir
            from_profiles.discard("postgres")
        if "nodes" in from_profiles and saved.nodes:
            nodes = saved.nodes
            from_profiles.discard("nodes")
    if not from_profiles:
        return postgres_data_dir, nodes
    profiles = [_load_profile(name, config_dir) for name in env or ["local"]]
    if "postgres" in from_profiles:
        postgres_data_dir = _postgres_data_dir(profiles[0], left_out)
    if "nodes" in from_profiles:
        nodes = _nodes(profiles, left_out)
    return postgres_data_dir, nodes


def _chains(values: list[str] | None, base: StackConfig) -> tuple[tuple[str, int], ...]:
    if values:
        return _parse_chains(values)
    return base.chains or DEFAULT_CHAINS


def _parse_chains(values: list[str]) -> tuple[tuple[str, int], ...]:
    chains = []
    for value in values:
        seed, _, port = value.partition("=")
        if not seed or not port.isdigit() or not 0 < int(port) < 65536:
            raise typer.BadParameter(
                f"{value!r} is not SEED=PORT; use for example devnet=8999",
                param_hint="--chain",
            )
        chains.append((seed, int(port)))
    return tuple(chains)


def _parse_without(values: list[str] | None) -> set[str]:
    left_out = set(values or ())
    unknown = left_out - set(_PARTS)
    if unknown:
        raise typer.BadParameter(
            f"{sorted(unknown)!r} are not parts of the stack; use {', '.join(_PARTS)}",
            param_hint="--without",
        )
    return left_out


def _postgres_data_dir(settings: Settings, left_out: set[str]) -> Path | None:
    """Return the profile's embedded PostgreSQL directory; a DSN leaves it out."""
    if "postgres" in left_out:
        return None
    mem0 = settings.mem0
    if mem0.dsn is not None or mem0.dsn_file is not None:
        console.print(
            f"mem0: the {settings.environment} profile names a DSN; "
            "PostgreSQL not started"
        )
        left_out.add("postgres")
        return None
    if mem0.embedded_dir is None:
        return None
    return settings.resolve(mem0.embedded_dir)


def _nodes(profiles: list[Settings], left_out: set[str]) -> tuple[NodeConfig, ...]:
    """Return the profiles' nodes on this machine, or none without root."""
    if "nodes" in left_out:
        return ()
    try:
        nodes = merge_nodes(
            [node for settings in profiles for node in nodes_from_settings(settings)]
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--env") from exc
    if nodes and os.geteuid() != 0:
        console.print("nodes: sshd needs root; the profile's local nodes not started")
        return ()
    return nodes


def _load_profile(env: str, config_dir: Path | None) -> Settings:
    try:
        return load_settings(env, config_dir)
    except ProfileError as exc:
        # Profile errors name tables such as [mcp.local_node], which are not markup.
        console.print(f"[red]error: {escape(str(exc))}[/red]", highlight=False)
        raise typer.Exit(2) from exc


def _print_table(statuses: list[ServiceStatus]) -> None:
    table = Table("service", "pid")
    table.add_column("url", overflow="fold")
    table.add_column("status", no_wrap=True)
    for item in statuses:
        colour = "green" if item.status in {"ready", "started"} else "yellow"
        table.add_row(
            item.name,
            str(item.pid or "-"),
            item.url,
            f"[{colour}]{item.status}[/{colour}]",
        )
    console.print(table)
