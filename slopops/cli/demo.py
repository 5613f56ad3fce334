"""``slopops demo``: the main job on the local stack.

It starts the stack with the simulation profiles. The stack runs three local
chains with distinct genesis hashes for local, devnet and mainnet-beta,
arlocal, an embedded PostgreSQL with a generated mem0 database, and an sshd
per local node: two agent nodes per environment and the local MCP app. The
demo registers the deployments and promotes a full release (program ELF,
node release tarball, MCP image reference) through local, devnet and
mainnet. It approves mainnet through the API unless ``--wait-for-ui`` is
given. Then it backs mem0 up and drills a restore. Last, it ships a bad
release whose transactions fail, with a new node release too, so the
monitor triggers the automatic rollback. The demo then checks that every
node and the MCP app run the good release again. It ends with the UI link,
a link per run and the measured times. The stack keeps running; stop it
with ``slopops stack down``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

import typer

WORKSPACE = Path(__file__).resolve().parents[2]
SIMULATION_DIR = WORKSPACE / "config" / "simulation"
STATE_DIR = WORKSPACE / ".state" / "simulation"
KEYS_DIR = STATE_DIR / "keys"
SOURCES_DIR = STATE_DIR / "sources"
PREFECT_PORT = 4200
LAMPORTS = 500 * 1_000_000_000
MEM0_ROWS = 2_000
MEM0_DIMENSIONS = 64
# Node release id and MCP image reference of each demo bundle.
NODE_RELEASES = {"good": "agent-good", "bad": "agent-bad"}
MCP_IMAGES = {
    "good": "registry.local/slop-mcp:good",
    "bad": "registry.local/slop-mcp:bad",
}


@dataclass
class DemoReport:
    """Links and times gathered while the demo runs."""

    ui_url: str
    runs: list[tuple[str, str, str]] = field(default_factory=list)
    times: list[tuple[str, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add_run(self, label: str, flow_run_id: object, state: str) -> None:
        link = f"{self.ui_url}/runs/flow-run/{flow_run_id}"
        self.runs.append((label, state, link))

    def print(self) -> None:
        typer.echo("\n== slopops demo summary ==")
        typer.echo(f"Prefect UI: {self.ui_url}")
        for label, state, link in self.runs:
            typer.echo(f"  {label:<28} {state:<10} {link}")
        for label, seconds in self.times:
            typer.echo(f"  {label}: {seconds:.1f} s")
        for note in self.notes:
            typer.echo(f"  {note}")
        typer.echo("Stop the stack with: slopops stack down")


def register(app: typer.Typer) -> None:
    """Add ``demo`` to the ``slopops`` command line."""
    app.command("demo")(demo)


def demo(
    wait_for_ui: bool = typer.Option(
        False,
        "--wait-for-ui",
        help="Wait for a click on Resume in the Prefect UI instead of approving "
        "mainnet through the API.",
    ),
) -> None:
    """Run the main job: promote, approve, back up, drill, roll back a bad release."""
    use_local_stack()
    report = DemoReport(ui_url=f"http://127.0.0.1:{PREFECT_PORT}")
    prepare_stack()
    good, bad = build_bundles()
    _promote_everywhere(good, wait_for_ui, report)
    _backup_and_drill(report)
    _bad_release(bad, report)
    report.print()


def prepare_stack() -> None:
    """Start the stack, create keys and mem0, register deployments, reset records."""
    start_stack()
    prepare_keys_and_data()
    _run([sys.executable, str(WORKSPACE / "deployments" / "bootstrap.py")])
    forget_old_chains()
    write_node_apps()


def use_local_stack() -> None:
    """Point this process at the demo stack and the simulation profiles."""
    os.environ.update(
        {
            "SLOPOPS_CONFIG_DIR": str(SIMULATION_DIR),
            "SLOPOPS_WORKSPACE": str(WORKSPACE),
            "PREFECT_API_URL": f"http://127.0.0.1:{PREFECT_PORT}/api",
            "PREFECT_UI_URL": f"http://127.0.0.1:{PREFECT_PORT}",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
    )
    os.chdir(WORKSPACE)


def _run(argv: list[str]) -> None:
    typer.echo(f"$ {' '.join(argv)}")
    subprocess.run(argv, check=True, cwd=WORKSPACE)


def start_stack() -> None:
    """Restart the local stack with the simulation profiles."""
    slopops = [str(Path(sys.executable).with_name("slopops"))]
    # The worker inherits SLOPOPS_CONFIG_DIR, so restart it with this demo's.
    subprocess.run([*slopops, "stack", "down"], cwd=WORKSPACE, check=False)
    _run(
        [
            *slopops,
            "stack",
            "up",
            # The first profile decides PostgreSQL; each adds its nodes.
            "--env",
            "mainnet-beta",
            "--env",
            "devnet",
            "--env",
            "local",
            "--config-dir",
            str(SIMULATION_DIR),
        ]
    )


def forget_old_chains() -> None:
    """Empty the release records and program stores of earlier demo runs.

    The local chains keep their state in memory, so after ``stack up`` they
    start again from genesis and older records describe programs that no
    longer exist.
    """
    import shutil

    from prefect.variables import Variable

    from config import ENVIRONMENTS, load_settings
    from tasks.records import record_variable_name

    for environment in ENVIRONMENTS:
        settings = load_settings(environment)
        shutil.rmtree(settings.resolve(settings.state_dir), ignore_errors=True)
        Variable.set(
            record_variable_name(environment),
            {"environment": environment},
            overwrite=True,
        )


def write_node_apps() -> None:
    """Write each simulation node's ``shared/app.json``: address, port, PM2 name.

    The sample app listens where the node's health URL points. The MCP apps
    of the three profiles share one PM2 home, so each gets its own app name.
    """
    from urllib.parse import urlsplit

    from config import ENVIRONMENTS, load_settings
    from slopops.fleet import resolve_fleet
    from slopops.fleet.release import sample_app_settings
    from slopops.mcp.local import local_mcp_node

    for environment in ENVIRONMENTS:
        settings = load_settings(environment)
        apps = [(node, "agent") for node in resolve_fleet(settings).nodes]
        apps.append((local_mcp_node(settings), f"mcp-{environment}"))
        for node, name in apps:
            url = urlsplit(node.health_url)
            assert url.hostname is not None and url.port is not None
            shared = Path(node.app_dir) / "shared"
            shared.mkdir(parents=True, exist_ok=True)
            # One worker per app: nine apps run on this machine.
            text = sample_app_settings(url.hostname, url.port, instances=1, name=name)
            (shared / "app.json").write_text(text)


def prepare_keys_and_data() -> None:
    """Create and fund the simulation keys, the Arweave wallet and mem0."""
    from config import ENVIRONMENTS, load_settings
    from slopops.arweave.wallet import generate_wallet, load_wallet
    from slopops.backups import sample
    from slopops.stack.arlocal import mint
    from slopops.stack.postgres import running_server

    keys = _ensure_solana_keys()
    for environment in ENVIRONMENTS:
        settings = load_settings(environment)
        for name in ("payer", "authority"):
            _airdrop(str(settings.rpc.url), str(keys[name].pubkey()))
    settings = load_settings("mainnet-beta")
    wallet_path = settings.resolve(settings.arweave.wallet_path)
    wallet = (
        load_wallet(wallet_path)
        if wallet_path.exists()
        else generate_wallet(wallet_path)
    )
    mint(str(settings.arweave.gateway_url).rstrip("/"), wallet.address, 10**15)
    server = running_server(settings.resolve(settings.mem0.embedded_dir))  # type: ignore[arg-type]
    if server is None:
        raise typer.Exit(
            "the embedded PostgreSQL is not running; see slopops stack status"
        )
    try:
        sample.create_database(server.dsn(), "mem0")
    except Exception:  # noqa: BLE001 - the database exists from an earlier demo
        return
    sample.create_schema(server.dsn("mem0"), MEM0_DIMENSIONS)
    sample.insert_memories(server.dsn("mem0"), MEM0_ROWS, MEM0_DIMENSIONS)
    typer.echo(f"generated mem0 with {MEM0_ROWS} memories")


def _ensure_solana_keys() -> dict:  # type: ignore[type-arg]
    from solders.keypair import Keypair

    from slopops.solana.keypair import load_keypair, save_keypair

    keys = {}
    for name in ("payer", "authority", "slop_registry-program"):
        path = KEYS_DIR / f"{name}.json"
        if not path.exists():
            save_keypair(path, Keypair())
        keys[name] = load_keypair(path)
    return keys


def _airdrop(url: str, address: str) -> None:
    import httpx

    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "requestAirdrop",
        "params": [address, LAMPORTS],
    }
    httpx.post(url, json=body, timeout=10).raise_for_status()


def build_bundles() -> tuple[str, str]:
    """Store the good and bad bundles and return their ids.

    Each carries the program ELF (SPL Memo for good, associated-token for
    bad, whose memo transactions fail), a sample app node release tarball and
    an MCP image reference.
    """
    import shutil

    from slopops.bundles import store_bundle
    from slopops.fleet.release import build_sample_release
    from slopops.localnet.builtin_programs import (
        associated_token_elf,
        memo_v3_elf,
        write_program_so,
    )

    bundles = []
    for name, elf in (("good", memo_v3_elf()), ("bad", associated_token_elf())):
        source = SOURCES_DIR / name
        shutil.rmtree(source, ignore_errors=True)
        write_program_so(elf, source / "programs" / "slop_registry.so")
        build_sample_release(source / "nodes", NODE_RELEASES[name])
        (source / "mcp-image.txt").write_text(MCP_IMAGES[name] + "\n")
        bundle = store_bundle(source, WORKSPACE / ".state" / "bundles")
        typer.echo(f"bundle {name}: {bundle.bundle_id}")
        bundles.append(bundle.bundle_id)
    return bundles[0], bundles[1]


def _promote_everywhere(bundle_id: str, wait_for_ui: bool, report: DemoReport) -> None:
    from prefect.client.schemas.objects import StateType

    from flows.client import resume, run_timing, start_run, wait_for

    for environment in ("local", "devnet"):
        flow_run = start_run(f"promote/{environment}", bundle=bundle_id)
        done = wait_for(flow_run.id, {StateType.COMPLETED})
        report.add_run(f"promote/{environment}", flow_run.id, done.state.name)  # type: ignore[union-attr]
        delay = run_timing(flow_run.id).start_delay_seconds
        if delay is not None and environment == "local":
            report.times.append(("deployment run to Running (promote/local)", delay))
    flow_run = start_run("promote/mainnet", bundle=bundle_id, publish_manifest=True)
    wait_for(flow_run.id, {StateType.PAUSED})
    link = f"{report.ui_url}/runs/flow-run/{flow_run.id}"
    if wait_for_ui:
        typer.echo(f"promote/mainnet waits for approval: open {link} and press Resume")
    else:
        resume(
            flow_run.id,
            {
                "approver": "slopops-demo",
                "decision": "approve",
                "reason": "approved by the demo through the API",
                "bundle": bundle_id[:8],
            },
        )
        typer.echo(f"approved promote/mainnet through the API ({link})")
    done = wait_for(flow_run.id, {StateType.COMPLETED}, timeout_seconds=24 * 3600)
    report.add_run("promote/mainnet", flow_run.id, done.state.name)  # type: ignore[union-attr]
    _report_manifest(report)


def _report_manifest(report: DemoReport) -> None:
    from prefect.variables import Variable

    from tasks.records import record_variable_name

    record = Variable.get(record_variable_name("mainnet-beta"), default={}) or {}
    current = record.get("current") or {}
    transaction_id = current.get("manifest_transaction_id")
    if transaction_id:
        report.notes.append(
            f"manifest on Arweave: http://127.0.0.1:1984/{transaction_id} "
            f"(memo {current.get('manifest_memo_signature')})"
        )


def _backup_and_drill(report: DemoReport) -> None:
    from prefect.client.schemas.objects import StateType

    from flows.client import start_run, wait_for

    for deployment in ("backup-mem0/mainnet", "restore-drill/mainnet"):
        started = time.monotonic()
        flow_run = start_run(deployment)
        done = wait_for(flow_run.id, {StateType.COMPLETED}, timeout_seconds=1800)
        report.add_run(deployment, flow_run.id, done.state.name)  # type: ignore[union-attr]
        report.times.append((deployment, time.monotonic() - started))


def _bad_release(bundle_id: str, report: DemoReport) -> None:
    from prefect.client.schemas.objects import StateType

    from flows.client import start_run, wait_for, wait_for_new_run

    flow_run = start_run("promote/local", bundle=bundle_id)
    done = wait_for(flow_run.id, {StateType.COMPLETED})
    report.add_run("promote/local (bad release)", flow_run.id, done.state.name)  # type: ignore[union-attr]
    since = datetime.now(UTC)
    traffic = Traffic()
    with traffic:
        monitor = start_run("monitor/local", duration_seconds=300)
        watched = wait_for(monitor.id, {StateType.COMPLETED})
        report.add_run("monitor/local", monitor.id, watched.state.name)  # type: ignore[union-attr]
        rollback = wait_for_new_run("rollback/local", since)
        rolled = wait_for(rollback.id, {StateType.COMPLETED})
        report.add_run("rollback/local (automatic)", rollback.id, rolled.state.name)  # type: ignore[union-attr]
        report.notes.append(check_good_release("local"))
    if traffic.first_sent is not None:
        report.times.append(
            (
                "bad release: first failed transaction to old program bytes "
                "and every node back on the good release",
                time.monotonic() - traffic.first_sent,
            )
        )


def check_good_release(environment: str) -> str:
    """Check the chain, every node and the MCP app against the good release.

    Raises:
        VerificationError: The program's on-chain bytes are not the good
            release's.
        typer.Exit: A node or the MCP app is not on the good release, or not
            healthy.
    """
    from config import load_settings
    from slopops.fleet import Fleet, resolve_fleet
    from slopops.mcp.local import local_release_id, status_local
    from slopops.programs import ProgramTarget
    from slopops.programs.release import verify_release
    from tasks.records import read_record

    settings = load_settings(environment)
    # .fn: a plain call, since this process runs no flow.
    good = read_record.fn(environment).current
    if good is None or good.node_release != NODE_RELEASES["good"]:
        _fail(f"the {environment} record is not back on the good release")
    for name, sha256 in good.programs.items():
        # Raises VerificationError unless the on-chain bytes hash to sha256.
        asyncio.run(verify_release(ProgramTarget.from_settings(settings, name), sha256))
    outcomes = Fleet(resolve_fleet(settings)).status().outcomes
    mcp = status_local(settings).outcomes
    expected = {o.node: NODE_RELEASES["good"] for o in outcomes}
    expected.update({o.node: local_release_id(MCP_IMAGES["good"]) for o in mcp})
    wrong = [
        f"{o.node} on {o.release} ({o.health})"
        for o in [*outcomes, *mcp]
        if o.release != expected[o.node] or o.health != "healthy"
    ]
    if wrong:
        _fail(f"not back on the good release: {', '.join(wrong)}")
    return (
        f"{environment}: program bytes verified on chain; {len(outcomes)} nodes on "
        f"{NODE_RELEASES['good']} and the MCP app on {expected[mcp[0].node]}, healthy"
    )


class Traffic:
    """Memo transactions to the local program, about three a second, in a thread.

    ``first_sent`` is the monotonic time of the first landed transaction.
    """

    def __init__(self) -> None:
        self.first_sent: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._send()))

    async def _send(self) -> None:
        from config import load_settings
        from slopops.solana.keypair import load_keypair
        from slopops.solana.rpc import RpcClient
        from slopops.traffic import send_memos

        settings = load_settings("local")
        program_id = load_keypair(KEYS_DIR / "slop_registry-program.json").pubkey()
        payer = load_keypair(KEYS_DIR / "payer.json")
        async with RpcClient.from_settings(settings.rpc) as rpc:
            while not self._stop.is_set():
                await send_memos(rpc, program_id, payer, 1, label="demo")
                if self.first_sent is None:
                    self.first_sent = time.monotonic()
                await asyncio.sleep(0.3)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def _fail(message: str) -> NoReturn:
    typer.echo(f"demo failed: {message}", err=True)
    raise typer.Exit(1)
