"""Pre-flight checks of a promotion: each one reads, none of them writes.

A promotion runs them in parallel before it signs anything: the cluster's
genesis hash, each program's upgrade authority, the fee payer's balance, SSH
reachability of every node, and the Fly API token when the MCP runs on Fly.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from solders.pubkey import Pubkey

from config import Settings
from slopops.bundles import Bundle
from slopops.errors import SlopopsError, TransientError
from slopops.solana.keypair import load_keypair
from slopops.solana.rpc import RpcClient
from tasks.retries import retry_transient

BPF_LOADER_UPGRADEABLE = Pubkey.from_string(
    "BPFLoaderUpgradeab1e11111111111111111111111"
)
# Programdata account: u32 tag 3, u64 slot, Option<Pubkey> authority, then the ELF.
_PROGRAMDATA_HEADER_BYTES = 45
# A margin over the buffer's rent for about 200 transaction fees (5,000 each).
_FEE_MARGIN_LAMPORTS = 1_000_000


class PreflightError(SlopopsError):
    """A pre-flight check failed, so the promotion stops before any change.

    Attributes:
        check: The check that failed (genesis, authority, balance, nodes, fly).
        environment: The environment being promoted.
    """

    def __init__(self, check: str, environment: str, message: str) -> None:
        self.check = check
        self.environment = environment
        super().__init__(f"pre-flight check {check!r} on {environment}: {message}")


# Settings are not hashed into cache keys: every promotion checks afresh.
_RETRY = {
    "retries": 2,
    "retry_delay_seconds": 1,
    "retry_condition_fn": retry_transient,
    "cache_policy": NO_CACHE,
}


@task(name="check-genesis-hash", **_RETRY)
async def check_genesis(settings: Settings) -> str:
    """Check that the RPC endpoint serves the profile's cluster."""
    async with RpcClient.from_settings(settings.rpc) as client:
        actual = await client.genesis_hash()
    if actual != settings.rpc.genesis_hash:
        raise PreflightError(
            "genesis",
            settings.environment,
            f"endpoint {client.endpoints[0]!r} serves genesis hash {actual!r}, "
            f"the profile expects {settings.rpc.genesis_hash!r}; fix rpc.url",
        )
    get_run_logger().info("genesis hash %s matches the profile", actual)
    return actual


@task(name="check-upgrade-authority", **_RETRY)
async def check_authority(settings: Settings) -> dict[str, str]:
    """Check that each deployed program's upgrade authority is our key.

    Returns:
        Program name to its authority, or ``"not deployed"`` before a first
        deploy.
    """
    found: dict[str, str] = {}
    async with RpcClient.from_settings(settings.rpc) as client:
        for program in settings.programs:
            found[program.name] = await _program_authority(client, settings, program)
    return found


async def _program_authority(client: RpcClient, settings: Settings, program) -> str:  # type: ignore[no-untyped-def]
    expected = _expected_authority(settings, program)
    if program.program_id is None:
        return "not deployed"
    program_id = Pubkey.from_string(program.program_id)
    programdata, _ = Pubkey.find_program_address(
        [bytes(program_id)], BPF_LOADER_UPGRADEABLE
    )
    account = await client.account_info(programdata)
    if account is None:
        return "not deployed"
    data = bytes(account.data)
    authority = (
        str(Pubkey.from_bytes(data[13:45])) if data[12:13] == b"\x01" else "none"
    )
    if expected is not None and authority != expected:
        raise PreflightError(
            "authority",
            settings.environment,
            f"program {program.name!r} ({program.program_id}) has upgrade authority "
            f"{authority!r}, expected {expected!r}; fix the authority keypair",
        )
    return authority


def _expected_authority(settings: Settings, program) -> str | None:  # type: ignore[no-untyped-def]
    if program.upgrade_authority_keypair is not None:
        path = settings.resolve(program.upgrade_authority_keypair)
        if path.exists():
            return str(load_keypair(path).pubkey())
    return program.upgrade_authority


@task(name="check-payer-balance", **_RETRY)
async def check_balance(settings: Settings, bundle: Bundle) -> int:
    """Check that the fee payer can pay for the program buffers and fees.

    Returns:
        The payer's balance in lamports.
    """
    if settings.payer_keypair is None or not bundle.manifest.programs:
        return 0
    payer = load_keypair(settings.resolve(settings.payer_keypair)).pubkey()
    async with RpcClient.from_settings(settings.rpc) as client:
        balance = await client.balance(payer)
        needed = _FEE_MARGIN_LAMPORTS
        for program in bundle.manifest.programs:
            needed += await client.minimum_balance_for_rent_exemption(
                program.size_bytes + 37
            )
    if balance < needed:
        raise PreflightError(
            "balance",
            settings.environment,
            f"payer {str(payer)!r} has {balance} lamports, the release needs about "
            f"{needed}; fund the payer",
        )
    get_run_logger().info("payer %s has %d lamports (needs %d)", payer, balance, needed)
    return balance


@task(name="check-node-reachability", **_RETRY)
async def check_nodes(
    settings: Settings, bundle: Bundle, timeout_seconds: float = 5.0
) -> list[str]:
    """Check that the SSH port of every node the bundle changes accepts a connection.

    Returns:
        The names of the nodes checked.
    """
    manifest = bundle.manifest
    nodes = list(settings.fleet.nodes) if manifest.node_release is not None else []
    local_mcp = settings.mcp.mode == "local" and settings.mcp.local_node is not None
    if manifest.mcp_image is not None and local_mcp:
        nodes.append(settings.mcp.local_node)  # type: ignore[arg-type]
    results = await asyncio.gather(
        *(_reachable(node.host, node.port, timeout_seconds) for node in nodes)
    )
    unreachable = [
        f"{node.name} ({node.host}:{node.port}: {error})"
        for node, error in zip(nodes, results, strict=True)
        if error is not None
    ]
    if unreachable:
        raise PreflightError(
            "nodes",
            settings.environment,
            f"nodes {unreachable!r} are unreachable over SSH; start them or fix "
            "the inventory",
        )
    return [node.name for node in nodes]


async def _reachable(host: str, port: int, timeout_seconds: float) -> str | None:
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port), timeout_seconds
        )
    except (OSError, TimeoutError, socket.gaierror) as exc:
        return str(exc) or type(exc).__name__
    writer.close()
    await writer.wait_closed()
    return None


@task(name="check-fly-token", **_RETRY)
async def check_fly_token(settings: Settings, bundle: Bundle) -> str:
    """Check that the Fly API token is present and accepted for the app."""
    mcp = settings.mcp
    if mcp.mode != "fly" or bundle.manifest.mcp_image is None:
        return "not used"
    token = _fly_token(settings)
    if token is None:
        raise PreflightError(
            "fly",
            settings.environment,
            "no Fly API token is configured; set mcp.fly_api_token_file",
        )
    url = f"{str(mcp.machines_api_url).rstrip('/')}/v1/apps/{mcp.fly_app}"
    try:
        async with httpx.AsyncClient(timeout=10.0) as client:
            response = await client.get(
                url, headers={"Authorization": f"Bearer {token}"}
            )
    except httpx.TransportError as exc:
        raise TransientError(f"Fly API {url!r} is unreachable ({exc}); retry") from exc
    if response.status_code >= 500:
        raise TransientError(
            f"Fly API {url!r} returned HTTP {response.status_code}; retry"
        )
    if response.status_code != 200:
        raise PreflightError(
            "fly",
            settings.environment,
            f"Fly API rejected the token for app {mcp.fly_app!r} "
            f"(HTTP {response.status_code}); renew the token",
        )
    return "accepted"


def _fly_token(settings: Settings) -> str | None:
    mcp = settings.mcp
    if mcp.fly_api_token is not None:
        return mcp.fly_api_token.get_secret_value()
    if mcp.fly_api_token_file is not None:
        path: Path = settings.resolve(mcp.fly_api_token_file)
        if path.is_file():
            return path.read_text().strip() or None
    return None
