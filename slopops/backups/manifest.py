"""The backup manifest and the tags of uploaded objects.

A backup is two Arweave transactions: the encrypted dump and the encrypted
manifest. Tags are public, so they carry identifiers, dates, formats and
hashes of ciphertext only. Row counts, versions and plaintext hashes stay in
the encrypted manifest.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from slopops.backups.errors import ManifestError

APP_NAME = "slopmachine-ops"
BACKUP_OF = "mem0"
MANIFEST_VERSION = 1
MANIFEST_FORMAT = "manifest-json"
ENCRYPTION = "age"
OBJECT_DUMP = "dump"
OBJECT_MANIFEST = "manifest"
TIMESTAMP_TAG = "Unix-Time-Ms"


@dataclass(frozen=True)
class DumpRecord:
    """The uploaded dump: its transaction, sizes and digests."""

    transaction_id: str
    plaintext_bytes: int
    plaintext_sha256: str
    ciphertext_bytes: int
    ciphertext_sha256: str


@dataclass(frozen=True)
class Manifest:
    """Everything a restore and a drill check, uploaded encrypted."""

    backup_id: str
    environment: str
    created_at: str
    unix_time_ms: int
    key_id: str
    source: dict[str, Any]
    dump: DumpRecord
    manifest_version: int = MANIFEST_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def row_counts(self) -> dict[str, int]:
        """Rows per table at the time of the dump."""
        return {str(k): int(v) for k, v in self.source.get("row_counts", {}).items()}

    def to_json(self) -> bytes:
        """Serialise the manifest as UTF-8 JSON."""
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes, backup_id: str) -> Manifest:
        """Parse a manifest.

        Raises:
            ManifestError: the JSON is invalid or of an unknown version.
        """
        try:
            raw = json.loads(data)
            if raw.get("manifest_version") != MANIFEST_VERSION:
                raise ManifestError(
                    backup_id,
                    f"unknown manifest_version {raw.get('manifest_version')!r}",
                )
            raw["dump"] = DumpRecord(**raw["dump"])
            return cls(**raw)
        except (ValueError, TypeError, KeyError) as exc:
            raise ManifestError(backup_id, f"invalid JSON ({exc})") from exc


def base_tags(environment: str) -> dict[str, str]:
    """Return the tags every object of this app and environment carries."""
    return {"App-Name": APP_NAME, "Backup-Of": BACKUP_OF, "Environment": environment}


def object_tags(
    *,
    environment: str,
    object_kind: str,
    backup_id: str,
    date: str,
    unix_time_ms: int,
    data_format: str,
    key_id: str,
    ciphertext_sha256: str,
    dump_transaction_id: str | None = None,
) -> dict[str, str]:
    """Return the public tags of a dump or manifest object."""
    tags = {
        **base_tags(environment),
        "Content-Type": "application/octet-stream",
        "Object": object_kind,
        "Backup-Id": backup_id,
        "Backup-Date": date,
        TIMESTAMP_TAG: str(unix_time_ms),
        "Format": data_format,
        "Encryption": ENCRYPTION,
        "Key-Id": key_id,
        "Ciphertext-SHA256": ciphertext_sha256,
    }
    if dump_transaction_id is not None:
        tags["Dump-Tx"] = dump_transaction_id
    return tags
