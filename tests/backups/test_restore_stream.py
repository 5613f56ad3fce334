"""Restores that decrypt the dump while it downloads, on arlocal and PostgreSQL."""

from __future__ import annotations

import errno
import hashlib
import os
import time
from pathlib import Path

import psycopg
import pyrage
import pytest

from slopops.arweave import RetryPolicy
from slopops.arweave.errors import DataMismatchError
from slopops.arweave.transactions import chunk_ranges
from slopops.backups import (
    RestoreRequest,
    open_context,
    restore_backup,
    run_backup,
    sample,
)
from slopops.backups.decryptor import DecryptionError, StreamDecryptor, find_age
from slopops.backups.errors import AgeNotFoundError, ManifestError
from slopops.backups.restore import (
    _download_and_decrypt,
    fetch_manifest,
    load_identity,
    select_backup,
)
from tests.arweave.faults import Fault, fault_proxy
from tests.fixtures.postgres import MEM0_DIMENSIONS

FAST = RetryPolicy(attempts=3, backoff_seconds=0.01, max_backoff_seconds=0.05)


class _Interrupted(Exception):
    """Raised by a progress callback to stop a download part-way."""


def _backup(settings):
    return run_backup(settings, retry=FAST, poll_seconds=0.05)


def _restore_dir(profile) -> Path:
    return profile.state_dir / "backups" / "local" / "restore"


def _chunk_reads(proxy) -> list[str]:
    return [path for method, path in proxy.requests if path.startswith("/chunk/")]


def test_resumed_download_restores_rows(
    make_profile, mem0_database, postgres, arlocal
) -> None:
    # About 3,000 more rows make the dump span several 256 KiB chunks.
    sample.insert_memories(mem0_database.dsn, 3000, MEM0_DIMENSIONS, text_bytes=300)
    with fault_proxy(arlocal) as proxy:
        profile = make_profile(dsn=mem0_database.dsn, gateway_url=proxy.url)
        _backup(profile.settings)
        sizes: list[int] = []

        def stop_after_two_chunks(done: int, size: int) -> None:
            sizes.append(size)
            if done >= 2 * 256 * 1024:
                raise _Interrupted(done)

        with pytest.raises(_Interrupted):
            restore_backup(
                profile.settings,
                RestoreRequest(),
                retry=FAST,
                on_progress=stop_after_two_chunks,
            )
        work = _restore_dir(profile)
        parts = list(work.glob("*.dump.age.part"))
        assert len(parts) == 1
        kept_bytes = parts[0].stat().st_size
        assert kept_bytes == 2 * 256 * 1024
        assert not list(work.glob("*.dump"))
        chunk_count = len(chunk_ranges(sizes[0]))
        assert chunk_count > 3

        proxy.requests.clear()
        restored = restore_backup(profile.settings, RestoreRequest(), retry=FAST)
        # One chunk for the manifest, then only the dump chunks not kept.
        kept_chunks = kept_bytes // (256 * 1024)
        assert len(_chunk_reads(proxy)) == 1 + chunk_count - kept_chunks
    # insert_memories adds one memory_history row per memory.
    assert restored.row_counts == {
        table: count + 3000 for table, count in mem0_database.row_counts.items()
    }
    assert not list(work.iterdir())
    sample.drop_database(postgres.dsn(), restored.database)


def test_damaged_dump_fails_without_plaintext(
    make_profile, mem0_database, postgres, arlocal
) -> None:
    with fault_proxy(arlocal) as proxy:
        profile = make_profile(dsn=mem0_database.dsn, gateway_url=proxy.url)
        _backup(profile.settings)
        databases_before = _databases(postgres)
        # Skip the manifest's chunk, then damage the dump's first chunk, which
        # contains the age header, so age fails before the download ends.
        proxy.faults = [Fault("GET", "/chunk/", "corrupt", skip=1, times=1)]
        with pytest.raises(DataMismatchError, match="is corrupt"):
            restore_backup(profile.settings, RestoreRequest(), retry=FAST)
    assert not list(_restore_dir(profile).iterdir())
    assert _databases(postgres) == databases_before


def test_wrong_key_fails_without_plaintext(make_profile, mem0_database) -> None:
    profile = make_profile(dsn=mem0_database.dsn)
    _backup(profile.settings)
    context = open_context(profile.settings, retry=FAST)
    try:
        entry = select_backup(context, transaction_id=None, date=None)
        manifest = fetch_manifest(context, entry, load_identity(context, entry, None))
        other = pyrage.x25519.Identity.generate()
        with pytest.raises(ManifestError, match="does not decrypt") as raised:
            _download_and_decrypt(context, entry, manifest, other, None)
    finally:
        context.close()
    assert entry.backup_id in str(raised.value)
    assert "no identity matched" in str(raised.value)
    assert not list(_restore_dir(profile).iterdir())


def test_decryptor_rejects_damaged_block(tmp_path) -> None:
    identity = pyrage.x25519.Identity.generate()
    plaintext = os.urandom(200_000)
    ciphertext = bytearray(pyrage.encrypt(plaintext, [identity.to_public()]))
    # A byte of the payload, past the header.
    ciphertext[-70_000] ^= 0x01
    destination = tmp_path / "plain"
    with StreamDecryptor(
        identity, destination, compression=None, age_path=find_age()
    ) as decryptor:
        decryptor.write(bytes(ciphertext))
        with pytest.raises(DecryptionError):
            decryptor.finish()
    assert not destination.exists()


def test_decryptor_writes_private_plaintext(tmp_path) -> None:
    identity = pyrage.x25519.Identity.generate()
    plaintext = os.urandom(3 * 1024 * 1024 + 5)
    ciphertext = pyrage.encrypt(plaintext, [identity.to_public()])
    destination = tmp_path / "plain"
    with StreamDecryptor(
        identity, destination, compression=None, age_path=find_age()
    ) as decryptor:
        for start in range(0, len(ciphertext), 100_000):
            decryptor.write(ciphertext[start : start + 100_000])
        size, digest = decryptor.finish()
    assert size == len(plaintext)
    assert destination.read_bytes() == plaintext
    assert destination.stat().st_mode & 0o777 == 0o600
    assert digest == hashlib.sha256(plaintext).hexdigest()


def test_decryptor_write_stops_on_full_disk(tmp_path) -> None:
    identity = pyrage.x25519.Identity.generate()
    ciphertext = pyrage.encrypt(os.urandom(8 * 1024 * 1024), [identity.to_public()])
    destination = tmp_path / "plain"
    step = 256 * 1024
    accepted = 0

    def full_disk(data: bytes | memoryview) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        with StreamDecryptor(
            identity, destination, compression=None, age_path=find_age()
        ) as decryptor:
            decryptor._plaintext.write = full_disk
            for start in range(0, len(ciphertext), step):
                decryptor.write(ciphertext[start : start + step])
                accepted += 1
                time.sleep(0.01)

    # The download stops early instead of fetching data it cannot keep.
    assert accepted < len(ciphertext) // step
    assert not destination.exists()


def test_decryptor_abort_deletes_plaintext(tmp_path) -> None:
    identity = pyrage.x25519.Identity.generate()
    ciphertext = pyrage.encrypt(os.urandom(500_000), [identity.to_public()])
    destination = tmp_path / "plain"
    with pytest.raises(_Interrupted):
        with StreamDecryptor(
            identity, destination, compression=None, age_path=find_age()
        ) as decryptor:
            decryptor.write(ciphertext[:300_000])
            raise _Interrupted()
    assert not destination.exists()


def test_missing_age_binary_rejected(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AgeNotFoundError, match="install the Debian package age"):
        find_age()


def _databases(postgres) -> set[str]:
    with psycopg.connect(postgres.dsn()) as connection:
        return {row[0] for row in connection.execute("SELECT datname FROM pg_database")}
