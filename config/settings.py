"""Settings models: one profile per environment.

A profile is a TOML file, ``config/<environment>.toml``, overridden by
environment variables with the ``SLOPOPS_`` prefix and ``__`` between nested
names (``SLOPOPS_RPC__URL``, ``SLOPOPS_MEM0__DSN``). Secrets are ``SecretStr``
and come from a variable, from a file named by a ``*_file`` field, or (in the
Prefect tasks) from a Secret block; they are never printed.
"""

from __future__ import annotations

import ipaddress
import socket
import stat
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

import psutil
from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from solders.hash import Hash, ParseHashError

Environment = Literal["local", "devnet", "mainnet-beta"]
ENVIRONMENTS: tuple[str, ...] = ("local", "devnet", "mainnet-beta")

# Anchor.toml names clusters differently from the Solana CLI; Anchor also
# parses "mainnet-beta" as mainnet, so both spellings are read.
ANCHOR_CLUSTERS: dict[str, tuple[str, ...]] = {
    "local": ("localnet",),
    "devnet": ("devnet",),
    "mainnet-beta": ("mainnet", "mainnet-beta"),
}

Base58 = Annotated[str, Field(pattern=r"^[1-9A-HJ-NP-Za-km-z]{32,44}$")]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RpcSettings(_Section):
    """Solana JSON-RPC endpoints of one cluster."""

    url: AnyHttpUrl = Field(description="Primary RPC endpoint.")
    fallback_urls: list[AnyHttpUrl] = Field(
        default_factory=list,
        description="Endpoints tried in order when the primary fails.",
    )
    genesis_hash: str = Field(
        description="Expected genesis hash; every run checks it before signing."
    )
    api_key: SecretStr | None = Field(
        None, description="Provider key sent as the api-key query parameter (Helius)."
    )
    api_key_file: Path | None = Field(
        None, description="File holding api_key; used when api_key is not set."
    )
    timeout_seconds: float = Field(10.0, gt=0, le=120, description="Per-call timeout.")
    commitment: Literal["processed", "confirmed", "finalized"] = "confirmed"

    @field_validator("genesis_hash")
    @classmethod
    def _genesis_is_a_hash(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError(
                "genesis_hash is empty; set it to the cluster's hash "
                "(`solana genesis-hash` or the getGenesisHash RPC method)"
            )
        try:
            Hash.from_string(value)
        except (ValueError, ParseHashError):
            raise ValueError(
                f"genesis_hash {value!r} is not a base58 32-byte hash; copy it "
                "from `solana genesis-hash` or the getGenesisHash RPC method"
            ) from None
        return value

    @property
    def urls(self) -> list[str]:
        """Return the primary endpoint followed by the fallbacks."""
        return [str(self.url), *(str(url) for url in self.fallback_urls)]


class ProgramSettings(_Section):
    """One Anchor program released by the pipelines."""

    name: str = Field(pattern=r"^[a-z0-9_][a-z0-9_-]*$")
    program_id: Base58 | None = Field(
        None, description="Program address; taken from Anchor.toml when absent."
    )
    elf_path: Path | None = Field(
        None, description="Program ELF; defaults to target/deploy/<name>.so."
    )
    program_keypair: Path | None = Field(
        None, description="Keypair of the program address, needed for a first deploy."
    )
    upgrade_authority_keypair: Path | None = Field(
        None, description="Keypair that signs upgrades (a JSON array of 64 bytes)."
    )
    upgrade_authority: Base58 | None = Field(
        None, description="Expected upgrade authority when no keypair is configured."
    )
    max_data_len_bytes: int | None = Field(
        None, gt=0, le=10 * 1024 * 1024, description="Programdata size at first deploy."
    )
    compute_unit_price_micro_lamports: int = Field(0, ge=0, le=10_000_000)
    write_concurrency: int = Field(
        32, ge=1, le=256, description="Buffer writes kept in flight at once."
    )


class NodeSettings(_Section):
    """One agent node reached over SSH."""

    name: str
    host: str
    port: int = Field(22, ge=1, le=65535)
    user: str
    host_key: str | None = Field(
        None,
        description="Known host key, as in known_hosts: 'ssh-ed25519 AAAA...'; "
        "when absent the fleet's known_hosts_file must list the host.",
    )
    app_dir: str = Field(description="Directory holding releases/ and current.")
    ecosystem_file: str = Field(
        "ecosystem.config.js", description="PM2 ecosystem file, relative to current/."
    )
    health_url: str = Field(description="Health URL polled from the node itself.")
    pm2_home: str | None = Field(None, description="PM2_HOME on the node.")
    pm2_bin: str = Field(
        "pm2", description="pm2 executable on the node: a path, or a name on PATH."
    )


class FleetSettings(_Section):
    """The agent node inventory and how releases roll across it."""

    nodes: list[NodeSettings] = Field(default_factory=list)
    ssh_key_path: Path | None = Field(None, description="Private key for SSH.")
    known_hosts_file: Path | None = Field(
        None, description="known_hosts file checked with a reject policy."
    )
    batch_size: str = Field(
        "1", pattern=r"^[1-9][0-9]*%?$", description="Nodes per batch: '5' or '25%'."
    )
    max_failure_percent: float = Field(0.0, ge=0, le=100)
    batch_pause_seconds: float = Field(0.0, ge=0, le=3600)
    keep_releases: int = Field(5, ge=2, le=100)
    health_timeout_seconds: float = Field(60.0, gt=0, le=3600)
    connect_timeout_seconds: float = Field(10.0, gt=0, le=300)
    command_timeout_seconds: float = Field(300.0, gt=0, le=7200)
    max_parallel_connections: int = Field(10, ge=1, le=200)

    @model_validator(mode="after")
    def _every_host_key_known(self) -> FleetSettings:
        if self.known_hosts_file is not None:
            return self
        unknown = [node.name for node in self.nodes if not node.host_key]
        if unknown:
            raise ValueError(
                f"nodes {unknown!r} have no host_key and no known_hosts_file is set; "
                "add host_key to each node or set fleet.known_hosts_file"
            )
        return self


class McpSettings(_Section):
    """The MCP server target: Fly Machines, or a PM2 app on this machine."""

    mode: Literal["fly", "local"] = "local"
    fly_app: str | None = None
    # No default: a profile names the API it talks to, so no default ever
    # sends a request off this machine.
    machines_api_url: AnyHttpUrl | None = Field(
        None, description="Fly Machines API base URL; required in fly mode."
    )
    fly_api_token: SecretStr | None = None
    fly_api_token_file: Path | None = Field(
        None, description="File holding fly_api_token; used when it is not set."
    )
    public_health_url: AnyHttpUrl | None = None
    min_running: int = Field(1, ge=0, le=1000)
    health_timeout_seconds: float = Field(120.0, gt=0, le=3600)
    local_node: NodeSettings | None = Field(
        None, description="The PM2 app released through the node code path."
    )

    @model_validator(mode="after")
    def _mode_has_target(self) -> McpSettings:
        if self.mode == "fly" and not self.fly_app:
            raise ValueError("mode is 'fly' but fly_app is missing; set mcp.fly_app")
        if self.mode == "fly" and self.machines_api_url is None:
            raise ValueError(
                "mode is 'fly' but machines_api_url is missing; set "
                "mcp.machines_api_url (https://api.machines.dev for Fly.io)"
            )
        if self.mode == "local" and self.local_node is None:
            raise ValueError(
                "mode is 'local' but local_node is missing; "
                "add an [mcp.local_node] table"
            )
        return self


class Mem0Settings(_Section):
    """The mem0 database that backups read and restores write."""

    kind: Literal["sqlite", "postgresql"] = "sqlite"
    sqlite_path: Path | None = None
    dsn: SecretStr | None = Field(
        None, description="libpq connection string; it may hold a password."
    )
    dsn_file: Path | None = Field(
        None, description="File holding dsn; used when dsn is not set."
    )
    embedded_dir: Path | None = Field(
        None, description="Run an embedded PostgreSQL with pgvector in this directory."
    )
    pg_bin_dir: Path | None = Field(
        None,
        description="Directory of pg_dump and pg_restore; when absent, the embedded "
        "PostgreSQL's, /usr/lib/postgresql/*/bin and PATH are searched.",
    )

    @model_validator(mode="after")
    def _kind_has_target(self) -> Mem0Settings:
        if self.kind == "sqlite" and self.sqlite_path is None:
            raise ValueError("kind is 'sqlite' but sqlite_path is missing")
        if self.kind == "postgresql" and not (
            self.dsn or self.dsn_file or self.embedded_dir
        ):
            raise ValueError(
                "kind is 'postgresql' but none of dsn, dsn_file or embedded_dir is set"
            )
        return self


class ArweaveSettings(_Section):
    """The Arweave gateway, wallet and encryption of backups."""

    gateway_url: AnyHttpUrl
    wallet_path: Path = Field(description="Wallet JWK file (mode 0600).")
    age_recipient: str | None = Field(
        None, pattern=r"^age1[0-9a-z]{58}$", description="age public key of backups."
    )
    key_store_dir: Path | None = Field(
        None, description="Per-backup age keys, one mode-0600 file each."
    )
    age_identity_file: Path | None = Field(
        None,
        description="age identity (secret key) file of age_recipient, read by "
        "restores in single-recipient mode.",
    )
    retention_days: int = Field(30, ge=1, le=36500)
    chunk_timeout_seconds: float = Field(60.0, gt=0, le=600)
    confirmation_timeout_seconds: float = Field(1800.0, gt=0, le=86400)


class MonitorSettings(_Section):
    """When the monitor calls a program release bad."""

    failure_rate_threshold: float = Field(0.10, gt=0, lt=1)
    window_seconds: int = Field(300, ge=1, le=86400)
    min_samples: int = Field(20, ge=1, le=100_000)
    consecutive_bad_windows: int = Field(2, ge=1, le=100)
    interval_seconds: float = Field(60.0, gt=0, le=3600)


class PromotionSettings(_Section):
    """Gates between environments."""

    soak_seconds: int = Field(
        3600, ge=0, le=30 * 86400, description="Time a bundle stays on devnet first."
    )
    approval_timeout_seconds: int = Field(86400, ge=1, le=30 * 86400)
    requires_approval: bool = False


class Settings(BaseSettings):
    """One environment's resolved profile."""

    model_config = SettingsConfigDict(
        env_prefix="SLOPOPS_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    environment: Environment
    simulation: bool = Field(
        False, description="A local stand-in for this cluster, as in the demo."
    )
    workspace_dir: Path = Field(
        Path("."), description="Base of relative paths and of Anchor.toml."
    )
    state_dir: Path = Field(
        Path(".state"), description="Release store, buffer keypairs, spool files."
    )
    anchor_toml: Path | None = None
    payer_keypair: Path | None = Field(None, description="Fee payer keypair file.")
    rpc: RpcSettings
    programs: list[ProgramSettings] = Field(default_factory=list)
    fleet: FleetSettings = Field(default_factory=FleetSettings)
    mcp: McpSettings
    mem0: Mem0Settings
    arweave: ArweaveSettings
    monitor: MonitorSettings = Field(default_factory=MonitorSettings)
    promotion: PromotionSettings = Field(default_factory=PromotionSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The profile arrives as init values, so variables must come first to win.
        return env_settings, init_settings

    @model_validator(mode="after")
    def _mainnet_not_on_this_machine(self) -> Settings:
        if self.environment != "mainnet-beta" or self.simulation:
            return self
        for field, url in self._endpoints():
            if _is_local_host(AnyHttpUrl(url).host or ""):
                raise ValueError(
                    f"{field}: {url!r} of a mainnet-beta profile points at this "
                    "machine; use the mainnet service, or set simulation = true "
                    "for a local stand-in"
                )
        return self

    @model_validator(mode="after")
    def _simulation_stays_local(self) -> Settings:
        # A simulation profile relaxes the mainnet checks, so it must never
        # reach a real cluster.
        if not self.simulation:
            return self
        for field, url in self._endpoints():
            if not _is_local_host(AnyHttpUrl(url).host or ""):
                raise ValueError(
                    f"{field}: {url!r} of a simulation profile is not on this "
                    "machine; point it at a local service, or remove "
                    "simulation = true"
                )
        return self

    def _endpoints(self) -> list[tuple[str, str]]:
        """Return the RPC and Arweave endpoints with their dotted field names."""
        endpoints = [("rpc.url", str(self.rpc.url))]
        endpoints += [("rpc.fallback_urls", str(url)) for url in self.rpc.fallback_urls]
        endpoints.append(("arweave.gateway_url", str(self.arweave.gateway_url)))
        return endpoints

    def resolve(self, path: Path) -> Path:
        """Return ``path`` made absolute against the workspace directory."""
        path = path.expanduser()
        return path if path.is_absolute() else (self.workspace_dir / path).resolve()

    def program(self, name: str) -> ProgramSettings:
        """Return the program called ``name``, or raise ``KeyError``."""
        for program in self.programs:
            if program.name == name:
                return program
        known = ", ".join(p.name for p in self.programs) or "none"
        raise KeyError(
            f"program {name!r} is not in the {self.environment} profile "
            f"(known: {known})"
        )


def _is_local_host(host: str) -> bool:
    """Return whether ``host`` names this machine: loopback, its name or addresses."""
    host = host.strip("[]").lower()
    if host in {"localhost", "localhost.localdomain"} or host.endswith(".localhost"):
        return True
    if host in _this_machine_names():
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


# NOTE: names are compared as written, without DNS, so a name that only
# resolves to this machine (an /etc/hosts entry) is not caught.
@cache
def _this_machine_names() -> frozenset[str]:
    names = {socket.gethostname().lower(), socket.getfqdn().lower()}
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family in (socket.AF_INET, socket.AF_INET6):
                names.add(address.address.split("%")[0].lower())
    return frozenset(names)


def check_private_file(path: Path, field: str) -> None:
    """Raise ``ValueError`` when ``path`` exists and group or others may read it."""
    if not path.exists():
        return
    if path.is_dir():
        raise ValueError(
            f"{field} {str(path)!r} is a directory; point it at the file itself"
        )
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ValueError(
            f"{field} file {str(path)!r} has mode {mode:04o}, readable by group or "
            f"others; run `chmod 600 {path}`"
        )
