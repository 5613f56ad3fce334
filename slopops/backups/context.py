"""Objects a backup or restore needs, built from one environment's settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from config.settings import Settings, check_private_file
from slopops.arweave import Gateway, RetryPolicy, Wallet, load_wallet
from slopops.backups.errors import EncryptionNotConfiguredError
from slopops.backups.keys import KeyStore


@dataclass(frozen=True)
class BackupContext:
    """The gateway, wallet, keys and spool directory of one environment."""

    settings: Settings
    gateway: Gateway
    wallet: Wallet
    key_store: KeyStore | None
    recipient: str | None
    spool_dir: Path

    @property
    def environment(self) -> str:
        """The environment name, as in the tags."""
        return self.settings.environment

    def close(self) -> None:
        """Close the gateway's connections."""
        self.gateway.close()


def check_encryption(settings: Settings) -> None:
    """Raise unless a key store or a recipient is configured.

    Raises:
        EncryptionNotConfiguredError: neither is set.
    """
    if (
        settings.arweave.key_store_dir is None
        and settings.arweave.age_recipient is None
    ):
        raise EncryptionNotConfiguredError(settings.environment)


def open_context(
    settings: Settings, *, retry: RetryPolicy | None = None
) -> BackupContext:
    """Load the wallet and open the gateway for ``settings``.

    Raises:
        EncryptionNotConfiguredError: no key store and no recipient.
        WalletError: the wallet file is missing or unsafe.
    """
    check_encryption(settings)
    arweave = settings.arweave
    wallet = load_wallet(settings.resolve(arweave.wallet_path))
    key_store = (
        KeyStore(settings.resolve(arweave.key_store_dir))
        if arweave.key_store_dir
        else None
    )
    gateway = Gateway(
        str(arweave.gateway_url),
        timeout_seconds=arweave.chunk_timeout_seconds,
        retry=retry,
    )
    spool_dir = settings.resolve(settings.state_dir) / "backups" / settings.environment
    return BackupContext(
        settings, gateway, wallet, key_store, arweave.age_recipient, spool_dir
    )


def mem0_dsn(settings: Settings) -> str:
    """Return the libpq DSN of the mem0 PostgreSQL database.

    Raises:
        ValueError: no DSN is configured, or its file is readable by others.
    """
    mem0 = settings.mem0
    if mem0.dsn is not None:
        return mem0.dsn.get_secret_value()
    if mem0.dsn_file is not None:
        path = settings.resolve(mem0.dsn_file)
        check_private_file(path, "mem0.dsn_file")
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise ValueError(
                f"mem0.dsn_file {str(path)!r} cannot be read: {exc}"
            ) from exc
    if mem0.embedded_dir is not None:
        from slopops.stack.postgres import running_server

        server = running_server(settings.resolve(mem0.embedded_dir))
        if server is None:
            raise ValueError(
                f"the embedded PostgreSQL in {str(mem0.embedded_dir)!r} is not "
                "running; start it with `slopops stack up`"
            )
        return server.dsn("mem0")
    raise ValueError("mem0 has no dsn, dsn_file or embedded_dir; set one of them")
