"""Encryption keys of backups: a key store of per-backup age identities.

Arweave keeps data forever, so a backup's retention ends when its key is
destroyed. Each backup gets its own X25519 age identity, stored as
``<key_id>.json`` (mode 0600) in the key store directory (mode 0700).
Destroying the file makes that backup unreadable. The key store must be kept
safe and backed up by other means, because anyone who reads it can decrypt
every backup still inside the retention.

In single-recipient mode (``arweave.age_recipient``), every backup is
encrypted to one public key, and its secret key stays with the operator.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyrage

from slopops.backups.errors import KeyNotFoundError, KeyStorePermissionError

logger = logging.getLogger(__name__)

RECIPIENT_KEY_PREFIX = "recipient-"


@dataclass(frozen=True)
class EncryptionKey:
    """The key a new backup is encrypted to."""

    key_id: str
    recipient: pyrage.x25519.Recipient


def recipient_key_id(recipient: str) -> str:
    """Return the key id of a fixed recipient: a hash of its public key."""
    return RECIPIENT_KEY_PREFIX + hashlib.sha256(recipient.encode()).hexdigest()[:16]


def fixed_recipient_key(recipient: str) -> EncryptionKey:
    """Return the single-recipient key for the public key ``recipient``."""
    return EncryptionKey(
        recipient_key_id(recipient), pyrage.x25519.Recipient.from_str(recipient)
    )


def read_identity_file(path: Path) -> pyrage.x25519.Identity:
    """Read an age identity file as written by ``age-keygen``.

    Raises:
        KeyNotFoundError: the file is missing or has no secret key line.
    """
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise KeyNotFoundError(str(path), f"the file {str(path)!r}") from exc
    for line in lines:
        if line.startswith("AGE-SECRET-KEY-"):
            return pyrage.x25519.Identity.from_str(line.strip())
    raise KeyNotFoundError(
        str(path), f"the file {str(path)!r} (no AGE-SECRET-KEY line)"
    )


class KeyStore:
    """A directory of per-backup age identities."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def check_permissions(self) -> None:
        """Reject a key store directory that group or others can access.

        A missing directory passes, because :meth:`create` makes it with
        mode 0700.

        Raises:
            KeyStorePermissionError: its mode has any group or other bit.
        """
        try:
            mode = self.directory.stat().st_mode & 0o777
        except FileNotFoundError:
            return
        if mode & 0o077:
            raise KeyStorePermissionError(str(self.directory), mode)

    def create(self, now: datetime) -> EncryptionKey:
        """Generate and store a new identity; return its id and recipient.

        Raises:
            KeyStorePermissionError: the directory is open to group or others.
        """
        self.check_permissions()
        if not self.directory.exists():
            self.directory.parent.mkdir(parents=True, exist_ok=True)
            # mkdir's mode is reduced by the umask; chmod sets it exactly.
            self.directory.mkdir(mode=0o700, exist_ok=True)
            self.directory.chmod(0o700)
        key_id = f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"
        identity = pyrage.x25519.Identity.generate()
        record = {
            "key_id": key_id,
            "created_at": now.astimezone(UTC).isoformat(),
            "identity": str(identity),
        }
        path = self._path(key_id)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(record, handle)
        logger.info("created backup key %s in %s", key_id, self.directory)
        return EncryptionKey(key_id, identity.to_public())

    def discard(self, key_id: str) -> None:
        """Destroy the key ``key_id`` that no backup was encrypted to."""
        path = self._path(key_id)
        if path.exists():
            _destroy(path)
            logger.info("discarded unused backup key %s", key_id)

    def exists(self, key_id: str) -> bool:
        """Return whether the identity of ``key_id`` is still stored."""
        return self._path(key_id).exists()

    def identity(self, key_id: str) -> pyrage.x25519.Identity:
        """Return the stored identity of ``key_id``.

        Raises:
            KeyNotFoundError: no such key file.
        """
        try:
            record = json.loads(self._path(key_id).read_text())
        except FileNotFoundError as exc:
            raise KeyNotFoundError(
                key_id, f"the key store {str(self.directory)!r}"
            ) from exc
        return pyrage.x25519.Identity.from_str(record["identity"])

    def expire(self, retention_days: int, now: datetime) -> list[str]:
        """Destroy keys created more than ``retention_days`` before ``now``.

        Returns:
            The ids of the destroyed keys.
        """
        cutoff = now.astimezone(UTC) - timedelta(days=retention_days)
        destroyed = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                created = datetime.fromisoformat(
                    json.loads(path.read_text())["created_at"]
                )
            except (ValueError, KeyError, OSError) as exc:
                logger.warning("skipping unreadable key file %s: %s", path, exc)
                continue
            if created < cutoff:
                _destroy(path)
                destroyed.append(path.stem)
                logger.info("destroyed backup key %s created %s", path.stem, created)
        return destroyed

    def _path(self, key_id: str) -> Path:
        if "/" in key_id or key_id.startswith("."):
            raise KeyNotFoundError(key_id, "the key store (invalid key id)")
        return self.directory / f"{key_id}.json"


def _destroy(path: Path) -> None:
    # Overwrite before unlinking. NOTE: on copy-on-write or journalled file
    # systems, and in file system backups, old blocks may survive this.
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.write(secrets.token_bytes(size))
        handle.flush()
        os.fsync(handle.fileno())
    path.unlink()
