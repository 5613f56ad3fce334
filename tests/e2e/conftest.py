"""End-to-end set-up: three local chains, simulation profiles and Prefect.

One session shares a Prefect server and process worker, the chains standing
in for local, devnet and mainnet-beta, and a workspace holding the keys and
the bundle store. Tests that need a clean slate reset the release records.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from solders.keypair import Keypair

from config import ENVIRONMENTS
from slopops.arweave import generate_wallet
from slopops.fleet.local import LocalFleet
from slopops.localnet.builtin_programs import (
    associated_token_elf,
    memo_v3_elf,
    write_program_so,
)
from slopops.solana.keypair import save_keypair
from slopops.stack.arlocal import mint
from tests.fixtures.prefect import WORKSPACE, PrefectStack

SIMULATION_DIR = WORKSPACE / "config" / "simulation"
KEY_NAMES = ("payer", "authority", "slop_registry-program")
ARWEAVE_WALLET = ".state/simulation/keys/arweave-wallet.json"
FUND_LAMPORTS = 500 * 1_000_000_000
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}


@dataclass
class Simulation:
    """The e2e world: Prefect, chains by environment, and the workspace."""

    prefect: PrefectStack
    workspace: Path
    chains: dict[str, Any]
    arweave_url: str

    @property
    def api_url(self) -> str:
        return self.prefect.api_url

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Call the Prefect REST API, retrying while it returns 503 (SQLite busy)."""
        for _ in range(10):
            response = httpx.request(
                method, f"{self.api_url}{path}", timeout=30, **kwargs
            )
            if response.status_code != 503:
                break
            time.sleep(1)
        return response

    def run(self, deployment: str, **parameters: Any) -> str:
        """Create a run of ``flow/deployment`` and return its id."""
        flow_name, name = deployment.split("/")
        found = self.api("GET", f"/deployments/name/{flow_name}/{name}")
        found.raise_for_status()
        response = self.api(
            "POST",
            f"/deployments/{found.json()['id']}/create_flow_run",
            json={"parameters": parameters},
        )
        response.raise_for_status()
        return response.json()["id"]

    def flow_run(self, flow_run_id: str) -> dict[str, Any]:
        response = self.api("GET", f"/flow_runs/{flow_run_id}")
        response.raise_for_status()
        return response.json()

    def wait(
        self,
        flow_run_id: str,
        states: set[str],
        timeout_seconds: float = 120,
    ) -> dict[str, Any]:
        """Wait until the run reaches one of ``states`` (state types) and return it."""
        deadline = time.monotonic() + timeout_seconds
        run = self.flow_run(flow_run_id)
        while time.monotonic() < deadline:
            run = self.flow_run(flow_run_id)
            if run["state_type"] in states:
                return run
            if run["state_type"] in TERMINAL:
                break
            time.sleep(0.5)
        raise AssertionError(
            f"flow run {flow_run_id} is {run['state_type']} ({run['state_name']}: "
            f"{run['state']['message']!r}), expected one of {sorted(states)}; "
            f"logs:\n{self.logs(flow_run_id)}"
        )

    def resume(self, flow_run_id: str, run_input: dict[str, Any]) -> dict[str, Any]:
        """POST a resume with input and return the orchestration result."""
        response = self.api(
            "POST", f"/flow_runs/{flow_run_id}/resume", json={"run_input": run_input}
        )
        response.raise_for_status()
        return response.json()

    def logs(self, flow_run_id: str) -> str:
        response = self.api(
            "POST",
            "/logs/filter",
            json={"logs": {"flow_run_id": {"any_": [flow_run_id]}}, "limit": 200},
        )
        return "\n".join(entry["message"] for entry in response.json())

    def wait_for_log(self, flow_run_id: str, text: str, timeout: float = 20) -> str:
        """Return the run's logs once they contain ``text``.

        The flow-run process ships logs in batches, so the last lines can
        arrive after the run reaches its final state.
        """
        deadline = time.monotonic() + timeout
        logs = self.logs(flow_run_id)
        while text not in logs and time.monotonic() < deadline:
            time.sleep(0.5)
            logs = self.logs(flow_run_id)
        return logs

    def variable(self, name: str) -> Any:
        response = self.api("GET", f"/variables/name/{name}")
        return response.json()["value"] if response.status_code == 200 else None

    def reset_records(self) -> None:
        """Give every environment an empty release record."""
        for environment in ENVIRONMENTS:
            name = f"release-record-{environment}"
            self.api(
                "PATCH",
                f"/variables/name/{name}",
                json={"value": {"environment": environment}},
            ).raise_for_status()

    def bundle_dir(self, name: str, elf: bytes, image: str | None = None) -> Path:
        """Write a bundle source directory holding ``elf`` as the program."""
        directory = self.workspace / "sources" / name
        write_program_so(elf, directory / "programs" / "slop_registry.so")
        if image is not None:
            (directory / "mcp-image.txt").write_text(image + "\n")
        return directory


def write_profiles(
    config_dir: Path,
    workspace: Path,
    urls: dict[str, str],
    fleets: dict[str, str] | None = None,
    arweave_url: str | None = None,
) -> None:
    """Copy the simulation profiles, pointed at the test services and workspace.

    ``fleets`` maps an environment to TOML ``[fleet]`` and ``[mcp]`` tables
    that replace the profile's.
    """
    config_dir.mkdir(parents=True, exist_ok=True)
    for environment in ENVIRONMENTS:
        text = (SIMULATION_DIR / f"{environment}.toml").read_text()
        if fleets and environment in fleets:
            text = re.sub(
                r"(?ms)^\[fleet\]\n.*?(?=^\[mem0\])", fleets[environment], text
            )
        else:
            # The profile's own nodes are the demo stack's; the tests start theirs.
            text = re.sub(r"(?ms)^\[\[fleet\.nodes\]\]\n.*?(?=^\[)", "", text)
        text = re.sub(
            r'(?m)^url = "http://127\.0\.0\.1:\d+"$',
            f'url = "{urls[environment]}"',
            text,
        )
        text = text.replace('workspace_dir = "."', f'workspace_dir = "{workspace}"')
        if arweave_url is not None:
            text = text.replace(
                'gateway_url = "http://127.0.0.1:1984"',
                f'gateway_url = "{arweave_url}"',
            )
        (config_dir / f"{environment}.toml").write_text(text)


def create_keys(workspace: Path, chains: dict[str, Any]) -> None:
    """Create the simulation keys and fund payer and authority on every chain."""
    keys = {name: Keypair() for name in KEY_NAMES}
    for name, keypair in keys.items():
        save_keypair(workspace / ".state/simulation/keys" / f"{name}.json", keypair)
    for chain in chains.values():
        chain.airdrop(keys["payer"].pubkey(), FUND_LAMPORTS)
        chain.airdrop(keys["authority"].pubkey(), FUND_LAMPORTS)


@pytest.fixture(scope="session")
def simulation_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the workspace of keys, profiles and the bundle store."""
    return tmp_path_factory.mktemp("workspace")


@pytest.fixture(scope="session")
def simulation_chains(
    session_localnet_factory: Callable[..., Any], simulation_workspace: Path
) -> dict[str, Any]:
    """Start one chain per environment and fund the simulation keys on each."""
    chains = {env: session_localnet_factory(env) for env in ENVIRONMENTS}
    create_keys(simulation_workspace, chains)
    return chains


@pytest.fixture(scope="session")
def prefect_config_dir(
    simulation_workspace: Path,
    simulation_chains: dict[str, Any],
    simulation_fleet: LocalFleet,
    arlocal: str,
) -> Path:
    """Write the simulation profiles, pointed at this session's services."""
    config_dir = simulation_workspace / "config"
    urls = {env: chain.url.rstrip("/") for env, chain in simulation_chains.items()}
    fleets = {"devnet": fleet_table(simulation_fleet)}
    write_profiles(config_dir, simulation_workspace, urls, fleets, arlocal)
    wallet = generate_wallet(simulation_workspace / ARWEAVE_WALLET)
    mint(arlocal, wallet.address, 10**15)
    return config_dir


@pytest.fixture(scope="session")
def simulation_fleet() -> Iterator[LocalFleet]:
    """Start three nodes (sshd and PM2) that only the devnet profile lists.

    The first two are agent nodes and the third runs the local MCP app.
    """
    lab = LocalFleet()
    try:
        for _ in range(3):
            lab.add_node()
        yield lab
    finally:
        lab.close()


def fleet_table(lab: LocalFleet) -> str:
    """Return ``[fleet]`` of the first two lab nodes and ``[mcp]`` of the third."""
    lines = [
        "[fleet]",
        f'ssh_key_path = "{lab.key_path}"',
        f'known_hosts_file = "{lab.known_hosts}"',
        'batch_size = "1"',
        "max_failure_percent = 0",
        "health_timeout_seconds = 15",
        "connect_timeout_seconds = 5",
        "",
    ]
    for local in lab.nodes[:2]:
        lines += ["[[fleet.nodes]]", *_toml_values(local.settings), ""]
    lines += ["[mcp]", 'mode = "local"', "", "[mcp.local_node]"]
    lines += [*_toml_values(lab.nodes[2].settings), ""]
    return "\n".join(lines) + "\n"


def _toml_values(node: Any) -> list[str]:
    values = node.model_dump(exclude_none=True).items()
    return [f"{key} = {json.dumps(value)}" for key, value in values]


@pytest.fixture(scope="session")
def simulation(
    prefect_stack: PrefectStack,
    simulation_workspace: Path,
    simulation_chains: dict[str, Any],
    arlocal: str,
) -> Simulation:
    """Return the e2e world: Prefect with a worker, the chains and the workspace."""
    return Simulation(prefect_stack, simulation_workspace, simulation_chains, arlocal)


@pytest.fixture(scope="session")
def good_elf() -> bytes:
    """Return the SPL Memo v3 ELF: deploys and runs."""
    return memo_v3_elf()


@pytest.fixture(scope="session")
def bad_elf() -> bytes:
    """Return the associated-token ELF: deploys, but memo transactions fail."""
    return associated_token_elf()
