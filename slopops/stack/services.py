"""The services of the local stack and how each one starts and is probed.

The default stack, all on 127.0.0.1: a Prefect server (SQLite) and a process
worker, three local chains (seeds local, devnet and mainnet-beta), arlocal,
and an embedded PostgreSQL with pgvector for mem0. Add a service by appending
a :class:`~slopops.stack.manager.Service` in :func:`build_services`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
import psycopg
from pydantic import TypeAdapter, ValidationError

from slopops.localnet.launch import start_localnet
from slopops.stack.arlocal import start_arlocal
from slopops.stack.errors import DuplicateChainError, StackConfigError
from slopops.stack.manager import Service
from slopops.stack.nodes import NodeConfig, node_service
from slopops.stack.postgres import HOST as POSTGRES_HOST
from slopops.stack.postgres import SUPERUSER, start_postgres
from slopops.stack.prefect_server import (
    api_url,
    is_server_healthy,
    is_worker_online,
    start_prefect_server,
    start_prefect_worker,
)

WORKSPACE_DIR = Path(__file__).resolve().parents[2]

# Seed and port of each local chain: one stand-in per environment.
DEFAULT_CHAINS: tuple[tuple[str, int], ...] = (
    ("local", 8899),
    ("devnet", 8999),
    ("mainnet-beta", 9099),
)
PROBE_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class StackConfig:
    """Ports and places of the local stack; a port of None leaves it out."""

    state_dir: Path = Path(".state/stack")
    host: str = "127.0.0.1"
    prefect_port: int = 4200
    # The pool of deployments/prefect.yaml.
    work_pool: str = "slopops-process"
    worker_name: str = "slopops-local"
    chains: tuple[tuple[str, int], ...] = DEFAULT_CHAINS
    arlocal_port: int | None = 1984
    # 5432 is left to a system PostgreSQL.
    postgres_port: int | None = 5433
    # Data directory of the embedded PostgreSQL; None: <state_dir>/postgres/data.
    postgres_data_dir: Path | None = None
    nodes: tuple[NodeConfig, ...] = ()
    workspace_dir: Path = field(default=WORKSPACE_DIR)

    @property
    def prefect_home(self) -> Path:
        """Return the ``PREFECT_HOME`` of the stack's server and worker."""
        return self.state_dir.resolve() / "prefect-server" / "home"

    def __post_init__(self) -> None:
        if not self.host.startswith("127."):
            raise ValueError(
                f"stack host {self.host!r} is not a loopback address; use 127.x"
            )
        ports: dict[str, int] = {}
        for seed, port in self.chains:
            if seed in ports:
                raise DuplicateChainError(seed, (ports[seed], port))
            ports[seed] = port


CONFIG_FILE_NAME = "stack.json"
# Validates a saved stack.json, and runs StackConfig's own checks.
_CONFIG_ADAPTER = TypeAdapter(StackConfig)


def save_config(config: StackConfig) -> None:
    """Write ``config`` to its state directory, for a later status or down."""
    data = asdict(config)
    data["state_dir"] = str(config.state_dir.resolve())
    data["workspace_dir"] = str(config.workspace_dir)
    if config.postgres_data_dir is not None:
        data["postgres_data_dir"] = str(config.postgres_data_dir.resolve())
    config.state_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=2, default=str)
    (config.state_dir / CONFIG_FILE_NAME).write_text(text + "\n")


def load_config(state_dir: Path) -> StackConfig:
    """Return the configuration saved in ``state_dir``, or the default one.

    Raises:
        StackConfigError: The file is not valid JSON, lacks a key, or has a
            value of the wrong type.
    """
    path = state_dir / CONFIG_FILE_NAME
    try:
        text = path.read_text()
    except FileNotFoundError:
        return StackConfig(state_dir=state_dir)
    except OSError as exc:
        raise StackConfigError(path, f"unreadable ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise StackConfigError(path, f"not valid JSON ({exc})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StackConfigError(path, f"not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise StackConfigError(path, f"not a JSON object but {type(data).__name__}")
    # Fields added later (nodes, postgres_data_dir, ...) take their defaults
    # when older files lack them, but these three were always written.
    for key in ("state_dir", "workspace_dir", "chains"):
        if key not in data:
            raise StackConfigError(path, f"missing key {key!r}")
    try:
        # Strict, but JSON mode still turns strings into paths and arrays into
        # tuples.
        return _CONFIG_ADAPTER.validate_json(text, strict=True)
    except ValidationError as exc:
        raise StackConfigError(path, _validation_reason(exc)) from exc
    except DuplicateChainError as exc:
        raise StackConfigError(path, str(exc)) from exc


def _validation_reason(error: ValidationError) -> str:
    """Return each invalid field as ``field.index: message``."""
    reasons = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"])
        reasons.append(f"{where}: {item['msg']}" if where else item["msg"])
    return ", ".join(reasons)


def build_services(config: StackConfig) -> list[Service]:
    """Return the services of ``config`` in start order."""
    services = _prefect_services(config)
    for seed, port in config.chains:
        services.append(_chain_service(config.host, seed, port))
    if config.arlocal_port is not None:
        services.append(_arlocal_service(config.host, config.arlocal_port))
    services.extend(node_service(node) for node in config.nodes)
    if config.postgres_port is not None:
        services.append(
            _postgres_service(config.postgres_port, config.postgres_data_dir)
        )
    return services


def _prefect_services(config: StackConfig) -> list[Service]:
    url = api_url(config.host, config.prefect_port)
    server = Service(
        name="prefect-server",
        host=config.host,
        port=config.prefect_port,
        url=url,
        start=lambda directory: (
            start_prefect_server(
                state_dir=directory, port=config.prefect_port, host=config.host
            ).pid
        ),
        ready=lambda: is_server_healthy(url),
    )
    worker = Service(
        name="prefect-worker",
        host=config.host,
        # The worker listens on no port; it is checked through the server.
        port=None,
        url=f"pool {config.work_pool}",
        start=lambda directory: (
            start_prefect_worker(
                state_dir=directory,
                # The server's, so both read the same Prefect profile.
                prefect_home=config.prefect_home,
                server_api_url=url,
                pool=config.work_pool,
                name=config.worker_name,
                cwd=config.workspace_dir,
                env={"SLOPOPS_WORKSPACE": str(config.workspace_dir)},
            ).pid
        ),
        ready=lambda: is_worker_online(url, config.work_pool, config.worker_name),
        after=("prefect-server",),
    )
    return [server, worker]


def _chain_service(host: str, seed: str, port: int) -> Service:
    url = f"http://{host}:{port}"
    return Service(
        name=f"localnet-{seed}",
        host=host,
        port=port,
        url=url,
        start=lambda directory: (
            start_localnet(seed=seed, port=port, host=host, state_dir=directory).pid
        ),
        ready=lambda: _rpc_healthy(url),
    )


def _arlocal_service(host: str, port: int) -> Service:
    url = f"http://{host}:{port}"
    return Service(
        name="arlocal",
        host=host,
        port=port,
        url=url,
        start=lambda directory: (
            start_arlocal(state_dir=directory, port=port, host=host).pid
        ),
        ready=lambda: _http_ok(f"{url}/info"),
    )


def _postgres_service(port: int, data_dir: Path | None) -> Service:
    # start_postgres always binds 127.0.0.1.
    dsn = f"postgresql://{SUPERUSER}@{POSTGRES_HOST}:{port}/postgres"
    return Service(
        name="postgres",
        host=POSTGRES_HOST,
        port=port,
        url=dsn,
        start=lambda directory: (
            start_postgres(data_dir=data_dir or directory / "data", port=port).pid
        ),
        ready=lambda: _postgres_accepts(dsn),
    )


def _http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=PROBE_TIMEOUT_SECONDS).status_code == 200
    except httpx.HTTPError:
        return False


def _rpc_healthy(url: str) -> bool:
    request = {"jsonrpc": "2.0", "id": 1, "method": "getHealth"}
    try:
        response = httpx.post(url, json=request, timeout=PROBE_TIMEOUT_SECONDS)
        return response.status_code == 200 and response.json().get("result") == "ok"
    except (httpx.HTTPError, ValueError):
        return False


def _postgres_accepts(dsn: str) -> bool:
    try:
        with psycopg.connect(dsn, connect_timeout=int(PROBE_TIMEOUT_SECONDS)):
            return True
    except psycopg.OperationalError:
        return False
