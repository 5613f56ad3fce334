"""Objects a backup or restore needs, built from one environment's settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from config import secrets
from config.settings import Settings
from slopops.arweave import Gateway, RetryPolicy, Wallet, load_wallet
from slopops.backups.allocator import limit_arenas
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
        KeyStorePermissionError: the key store is open to group or others.
        WalletError: the wallet file is missing or unsafe.
    """
    check_encryption(settings)
    # Before the upload and download threads start; see allocator.py.
    limit_arenas()
    arweave = settings.arweave
    wallet = load_wallet(settings.resolve(arweave.wallet_path))
    key_store = (
        KeyStore(settings.resolve(arweave.key_store_dir))
        if arweave.key_store_dir
        else None
    )
    if key_store is not None:
        key_store.check_permissions()
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

    The DSN comes from ``mem0.dsn``, ``mem0.dsn_file`` or the embedded
    PostgreSQL of ``mem0.embedded_dir``, as :func:`config.secrets.mem0_dsn`
    resolves them.

    Raises:
        SecretError: no DSN is set and no embedded server runs, or the DSN
            file is missing, empty or readable by others.
    """
    return secrets.mem0_dsn(settings)
