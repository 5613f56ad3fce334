"""The file release store: records, saved ELFs and rollback targets."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from slopops.programs import FileReleaseStore, ReleaseRecord, rollback_target
from slopops.programs.errors import ReleaseStoreError
from slopops.programs.store import atomic_write


def record(kind: str, sha256: str, previous: str | None) -> ReleaseRecord:
    return ReleaseRecord(
        program="demo",
        program_id="11111111111111111111111111111111",
        kind=kind,  # type: ignore[arg-type]
        sha256=sha256,
        previous_sha256=previous,
        size_bytes=10,
        slot=1,
        signatures={},
        write_transactions=0,
        lamports_spent=0,
    )


def test_append_numbers_records(tmp_path: Path) -> None:
    store = FileReleaseStore(tmp_path)

    first = store.append(record("deploy", "a", None))
    second = store.append(record("upgrade", "b", "a"))

    assert (first.sequence, second.sequence) == (1, 2)
    assert [r.sha256 for r in store.records("demo")] == ["a", "b"]
    files = sorted(p.name for p in (tmp_path / "programs/demo/records").iterdir())
    assert files == ["000001-deploy.json", "000002-upgrade.json"]


def test_corrupt_record_raises(tmp_path: Path) -> None:
    store = FileReleaseStore(tmp_path)
    store.append(record("deploy", "a", None))
    path = tmp_path / "programs/demo/records/000001-deploy.json"
    path.write_text("{not json")

    with pytest.raises(ReleaseStoreError, match="not a valid release record"):
        store.records("demo")


def test_saved_elf_round_trip(tmp_path: Path) -> None:
    store = FileReleaseStore(tmp_path)

    saved = store.save_elf("demo", b"\x7fELF-bytes", 42)

    assert saved.slot == 42
    assert store.load_elf("demo", saved.sha256) == b"\x7fELF-bytes"
    assert store.load_elf("demo", "0" * 64) is None


def test_corrupt_elf_raises(tmp_path: Path) -> None:
    store = FileReleaseStore(tmp_path)
    saved = store.save_elf("demo", b"\x7fELF-bytes", 42)
    Path(saved.path).write_bytes(b"changed")

    with pytest.raises(ReleaseStoreError, match="corrupt"):
        store.load_elf("demo", saved.sha256)


def test_rollback_target_walks_history() -> None:
    records = [
        record("deploy", "x", None),
        record("upgrade", "a", "x"),
        record("upgrade", "b", "a"),
        record("rollback", "a", "b"),
    ]

    assert rollback_target(records[:3], "b") == "a"
    assert rollback_target(records, "a") == "x"
    assert rollback_target(records, "x") is None
    assert rollback_target(records, "unknown") is None


def test_atomic_write_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "dir" / "file.json"

    atomic_write(path, b"one")
    atomic_write(path, b"two", mode=0o600)

    assert path.read_bytes() == b"two"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.listdir(path.parent) == ["file.json"]
