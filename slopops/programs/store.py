"""The release store: release records and saved ELFs of each program.

:class:`ReleaseStore` is the interface; :class:`FileReleaseStore` keeps one
directory per program under ``settings.state_dir`` (layout and invariants in
docs/release-records.md). Buffer keypairs are secrets and always stay in
files, so they are not part of the interface.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from slopops.programs.elf import sha256_hex
from slopops.programs.errors import ReleaseStoreError

ReleaseKind = Literal["deploy", "upgrade", "rollback"]
BufferRole = Literal["release", "rollback"]


@dataclass(frozen=True)
class ReleaseRecord:
    """One change of a program's bytes on chain, after its verification."""

    program: str
    program_id: str
    kind: ReleaseKind
    sha256: str
    previous_sha256: str | None
    size_bytes: int
    slot: int
    signatures: dict[str, str]
    write_transactions: int
    lamports_spent: int
    recovered_lamports: int = 0
    buffer: str | None = None
    created_at: str = field(
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds")
    )
    sequence: int = 0

    def to_json(self) -> dict[str, Any]:
        """Return the record as a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class SavedElf:
    """A program file kept for rollback: its hash, size and deploy slot."""

    sha256: str
    size_bytes: int
    slot: int | None
    path: str


class ReleaseStore(Protocol):
    """Storage of release records and rollback ELFs."""

    def append(self, record: ReleaseRecord) -> ReleaseRecord:
        """Store ``record`` and return it with its sequence number."""
        ...

    def records(self, program: str) -> list[ReleaseRecord]:
        """Return the program's records, oldest first."""
        ...

    def save_elf(self, program: str, data: bytes, slot: int | None) -> SavedElf:
        """Keep ``data`` (an ELF deployed at ``slot``) and return its entry."""
        ...

    def load_elf(self, program: str, sha256: str) -> bytes | None:
        """Return the saved ELF with ``sha256``, or None when it is not kept."""
        ...


def atomic_write(path: Path, payload: bytes, mode: int = 0o644) -> None:
    """Write ``payload`` to ``path`` so readers see the old or the new file only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class FileReleaseStore:
    """A :class:`ReleaseStore` in ``<state_dir>/programs/<program>/``."""

    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir / "programs"

    def program_dir(self, program: str) -> Path:
        """Return the directory of ``program``'s records, ELFs and buffer keys."""
        return self.root / program

    def buffer_keypair_path(self, program: str, role: BufferRole, sha256: str) -> Path:
        """Return the keypair file of the ``role`` buffer that contains ``sha256``."""
        return self.program_dir(program) / "buffers" / f"{role}-{sha256}.json"

    def buffer_keypair_paths(self, program: str) -> list[Path]:
        """Return every buffer keypair file of ``program``."""
        return sorted((self.program_dir(program) / "buffers").glob("*.json"))

    def write_pending(self, record: ReleaseRecord, payer_balance_lamports: int) -> None:
        """Save the draft record of a deploy or upgrade about to be sent.

        A release interrupted after its upgrade landed finds the draft on its
        next run and records the release instead of treating it as foreign.
        """
        payload = {"record": record.to_json(), "payer_balance": payer_balance_lamports}
        path = self.program_dir(record.program) / "pending.json"
        atomic_write(path, json.dumps(payload, indent=2).encode())

    def read_pending(self, program: str) -> tuple[ReleaseRecord, int] | None:
        """Return the pending draft record and the payer balance before it."""
        path = self.program_dir(program) / "pending.json"
        if not path.exists():
            return None
        try:
            payload = json.loads(path.read_text())
            return ReleaseRecord(**payload["record"]), int(payload["payer_balance"])
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ReleaseStoreError(
                program, str(path), f"is not a valid pending record ({exc})"
            ) from exc

    def clear_pending(self, program: str) -> None:
        """Remove the pending draft record, if any."""
        (self.program_dir(program) / "pending.json").unlink(missing_ok=True)

    def append(self, record: ReleaseRecord) -> ReleaseRecord:
        """Write ``record`` as the next numbered file and return it numbered."""
        directory = self.program_dir(record.program) / "records"
        sequence = len(self.records(record.program)) + 1
        numbered = ReleaseRecord(**{**record.to_json(), "sequence": sequence})
        path = directory / f"{sequence:06d}-{record.kind}.json"
        if path.exists():
            raise ReleaseStoreError(record.program, str(path), "exists already")
        atomic_write(path, json.dumps(numbered.to_json(), indent=2).encode())
        return numbered

    def records(self, program: str) -> list[ReleaseRecord]:
        """Return the program's records in sequence order."""
        directory = self.program_dir(program) / "records"
        records = []
        for path in sorted(directory.glob("[0-9]*.json")):
            try:
                records.append(ReleaseRecord(**json.loads(path.read_text())))
            except (OSError, ValueError, TypeError) as exc:
                raise ReleaseStoreError(
                    program, str(path), f"is not a valid release record ({exc})"
                ) from exc
        return records

    def save_elf(self, program: str, data: bytes, slot: int | None) -> SavedElf:
        """Write the ELF and its metadata (sha256, size, slot) once."""
        sha256 = sha256_hex(data)
        directory = self.program_dir(program) / "elfs"
        path = directory / f"{sha256}.elf"
        if not path.exists():
            atomic_write(path, data)
        saved = SavedElf(sha256, len(data), slot, str(path))
        atomic_write(directory / f"{sha256}.json", json.dumps(asdict(saved)).encode())
        return saved

    def load_elf(self, program: str, sha256: str) -> bytes | None:
        """Return the saved ELF after checking its hash, or None if absent."""
        path = self.program_dir(program) / "elfs" / f"{sha256}.elf"
        if not path.exists():
            return None
        data = path.read_bytes()
        if sha256_hex(data) != sha256:
            raise ReleaseStoreError(
                program, str(path), f"does not hash to {sha256!r}; it is corrupt"
            )
        return data


def rollback_target(records: list[ReleaseRecord], current_sha256: str) -> str | None:
    """Return the sha256 to roll back to from ``current_sha256``, if any.

    The target is the ``previous_sha256`` of the latest deploy or upgrade that
    put ``current_sha256`` on chain. Rollback records are skipped, so repeated
    rollbacks walk back through the release history.
    """
    for record in reversed(records):
        if record.kind != "rollback" and record.sha256 == current_sha256:
            return record.previous_sha256
    return None
