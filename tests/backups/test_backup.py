"""Backups and restores of mem0 on real PostgreSQL, SQLite and arlocal."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pyrage
import pytest

from slopops.arweave import RetryPolicy
from slopops.arweave.errors import (
    DataMismatchError,
    GatewayUnavailableError,
    InsufficientBalanceError,
)
from slopops.backups import (
    RestoreRequest,
    list_backups,
    open_context,
    restore_backup,
    run_backup,
    run_drill,
    sample,
)
from slopops.backups.errors import (
    ArchiveVersionError,
    BackupError,
    EncryptionNotConfiguredError,
    ExtensionUnavailableError,
    KeyExpiredError,
)
from slopops.backups.keys import KeyStore
from tests.arweave.faults import Fault, fault_proxy
from tests.fixtures.postgres import MEM0_DIMENSIONS, PLAINTEXT_MARKER

FAST = RetryPolicy(attempts=3, backoff_seconds=0.01, max_backoff_seconds=0.05)
SYSTEM_PG_RESTORE = Path("/usr/lib/postgresql/15/bin/pg_restore")


def _backup(settings, **kwargs):
    return run_backup(settings, retry=FAST, poll_seconds=0.05, **kwargs)


def _rows(dsn: str) -> list[tuple]:
    with psycopg.connect(dsn) as connection:
        memories = connection.execute(
            "SELECT id, user_id, agent_id, text, metadata, created_at, "
            "embedding::text FROM memories ORDER BY id"
        ).fetchall()
        history = connection.execute(
            "SELECT id, memory_id, event, new_text FROM memory_history ORDER BY id"
        ).fetchall()
    return memories + history


def _databases(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as connection:
        return {row[0] for row in connection.execute("SELECT datname FROM pg_database")}


def _chunk_reads(proxy) -> list[str]:
    return [path for method, path in proxy.requests if path.startswith("/chunk/")]


def test_postgres_round_trip_restores_rows(
    make_profile, mem0_database, postgres
) -> None:
    profile = make_profile(dsn=mem0_database.dsn)
    report = _backup(profile.settings)
    assert not report.existing
    assert report.manifest_transaction_id
    assert report.cost_winston > 0
    assert report.link.endswith(report.dump_transaction_id)

    restored = restore_backup(profile.settings, RestoreRequest(), retry=FAST)
    assert restored.created
    assert restored.dump_transaction_id == report.dump_transaction_id
    assert restored.row_counts == mem0_database.row_counts
    target_name = restored.database
    assert target_name.startswith(f"{mem0_database.name}_restore_")
    assert _rows(postgres.dsn(target_name)) == _rows(mem0_database.dsn)
    with psycopg.connect(postgres.dsn(target_name)) as connection:
        index = connection.execute(
            "SELECT indexdef FROM pg_indexes "
            "WHERE indexname = 'memories_embedding_hnsw'"
        ).fetchone()
    assert index is not None
    assert "hnsw" in index[0]
    sample.drop_database(postgres.dsn(), target_name)
    assert not list((profile.state_dir / "backups" / "local").glob("**/*.dump*"))


def test_uploaded_bytes_are_age_ciphertext(
    make_profile, mem0_database, arlocal, tmp_path
) -> None:
    age = shutil.which("age")
    if age is None:
        pytest.fail(
            "the age CLI is missing; run deployments/install-system-packages.sh"
        )
    profile = make_profile(dsn=mem0_database.dsn)
    report = _backup(profile.settings)
    dump = httpx.get(f"{arlocal}/{report.dump_transaction_id}").content
    manifest = httpx.get(f"{arlocal}/{report.manifest_transaction_id}").content
    assert dump.startswith(b"age-encryption.org/v1\n")
    assert PLAINTEXT_MARKER.encode() not in dump
    assert PLAINTEXT_MARKER.encode() not in manifest
    assert b"memories" not in manifest

    identity = KeyStore(profile.settings.arweave.key_store_dir).identity(report.key_id)
    identity_file = tmp_path / "identity.txt"
    identity_file.write_text(f"{identity}\n")
    (tmp_path / "dump.age").write_bytes(dump)
    subprocess.run(
        [
            age,
            "-d",
            "-i",
            str(identity_file),
            "-o",
            str(tmp_path / "dump"),
            str(tmp_path / "dump.age"),
        ],
        check=True,
    )
    plain = (tmp_path / "dump").read_bytes()
    assert plain.startswith(b"PGDMP")
    listing = subprocess.run(
        [
            str(profile.settings.mem0.pg_bin_dir / "pg_restore"),
            "--list",
            str(tmp_path / "dump"),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "TABLE DATA public memories" in listing


def test_second_backup_same_date_reports_existing(make_profile, mem0_database) -> None:
    profile = make_profile(dsn=mem0_database.dsn)
    first = _backup(profile.settings)
    second = _backup(profile.settings)
    assert second.existing
    assert second.backup_id == first.backup_id
    assert second.dump_transaction_id == first.dump_transaction_id
    forced = _backup(profile.settings, force=True)
    assert not forced.existing
    assert forced.backup_id != first.backup_id


def test_no_encryption_key_fails_before_work(make_profile, mem0_database) -> None:
    profile = make_profile(dsn=mem0_database.dsn, key_store=False)
    with pytest.raises(EncryptionNotConfiguredError, match="age_recipient"):
        _backup(profile.settings)
    assert not (profile.state_dir / "backups").exists()


def test_insufficient_balance_fails_before_upload(
    make_profile, mem0_database, arlocal
) -> None:
    with fault_proxy(arlocal) as proxy:
        profile = make_profile(
            dsn=mem0_database.dsn, funded=False, gateway_url=proxy.url
        )
        with pytest.raises(InsufficientBalanceError, match="has 0 winston but"):
            _backup(profile.settings)
        posts = [path for method, path in proxy.requests if method == "POST"]
    assert not [path for path in posts if path in ("/tx", "/chunk")]


def test_readback_mismatch_fails_backup(make_profile, mem0_database, arlocal) -> None:
    with fault_proxy(arlocal) as proxy:
        proxy.faults = [Fault("GET", "/chunk/", "corrupt", times=1000)]
        profile = make_profile(dsn=mem0_database.dsn, gateway_url=proxy.url)
        with pytest.raises(DataMismatchError, match="is corrupt"):
            _backup(profile.settings)
        # The paid transaction stays in the upload state for the next attempt.
        spool = profile.state_dir / "backups" / "local"
        assert len(list(spool.glob("*.dump.age.upload.json"))) == 1
        context = open_context(profile.settings)
        try:
            assert not [entry for entry in list_backups(context) if entry.complete]
        finally:
            context.close()


def test_interrupted_backup_resumes_same_transaction(
    make_profile, mem0_database, arlocal
) -> None:
    # About 3,000 more rows make the dump span several 256 KiB chunks.
    sample.insert_memories(mem0_database.dsn, 3000, MEM0_DIMENSIONS, text_bytes=300)
    with fault_proxy(arlocal) as proxy:
        proxy.faults = [
            Fault("POST", "/chunk", "status", status=503, skip=1, times=1000)
        ]
        profile = make_profile(dsn=mem0_database.dsn, gateway_url=proxy.url)
        with pytest.raises(GatewayUnavailableError):
            _backup(profile.settings)
        posted = [p for m, p in proxy.requests if m == "POST" and p == "/tx"]
    assert len(posted) == 1
    spool = profile.state_dir / "backups" / "local"
    assert (spool / "pending.json").exists()
    states = list(spool.glob("*.upload.json"))
    assert len(states) == 1
    import json

    first_id = json.loads(states[0].read_text())["transaction"]["id"]

    resumed_profile = make_profile(
        dsn=mem0_database.dsn,
        wallet_path=profile.config_dir.parent / "keys" / "wallet.json",
        name="profile",
    )
    report = _backup(resumed_profile.settings)
    assert report.resumed
    assert report.dump_transaction_id == first_id
    assert not (spool / "pending.json").exists()
    restored = restore_backup(resumed_profile.settings, RestoreRequest(), retry=FAST)
    assert restored.row_counts["public.memories"] == 3300


def test_target_without_pgvector_fails_before_download(
    make_profile, mem0_database, arlocal, system_postgres
) -> None:
    with fault_proxy(arlocal) as proxy:
        profile = make_profile(dsn=mem0_database.dsn, gateway_url=proxy.url)
        report = _backup(profile.settings)
        proxy.requests.clear()
        target = system_postgres.dsn("mem0_restore_no_vector")
        with pytest.raises(ExtensionUnavailableError, match="'vector' extension"):
            restore_backup(
                profile.settings, RestoreRequest(target_dsn=target), retry=FAST
            )
        offsets = [p for m, p in proxy.requests if p.endswith("/offset")]
    assert offsets == [f"/tx/{report.manifest_transaction_id}/offset"]
    assert "mem0_restore_no_vector" not in _databases(system_postgres.dsn())


def test_old_pg_restore_fails_before_download(
    make_profile, mem0_database, arlocal
) -> None:
    if not SYSTEM_PG_RESTORE.exists():
        pytest.skip(f"{SYSTEM_PG_RESTORE} is not installed")
    with fault_proxy(arlocal) as proxy:
        profile = make_profile(dsn=mem0_database.dsn, gateway_url=proxy.url)
        report = _backup(profile.settings)
        proxy.requests.clear()
        request = RestoreRequest(pg_bin_dir=SYSTEM_PG_RESTORE.parent)
        with pytest.raises(ArchiveVersionError, match="cannot read an archive"):
            restore_backup(profile.settings, request, retry=FAST)
        offsets = [p for m, p in proxy.requests if p.endswith("/offset")]
    assert offsets == [f"/tx/{report.manifest_transaction_id}/offset"]


def test_other_wallet_backup_ignored(make_profile, mem0_database) -> None:
    ours = make_profile(dsn=mem0_database.dsn, name="ours")
    theirs = make_profile(dsn=mem0_database.dsn, name="theirs")
    our_report = _backup(ours.settings)
    their_report = _backup(theirs.settings, force=True)
    context = open_context(ours.settings)
    try:
        entries = list_backups(context)
    finally:
        context.close()
    ids = [entry.dump_transaction_id for entry in entries]
    assert our_report.dump_transaction_id in ids
    assert their_report.dump_transaction_id not in ids


def test_expired_key_makes_backup_unreadable(make_profile, mem0_database) -> None:
    profile = make_profile(dsn=mem0_database.dsn, retention_days=30)
    now = datetime.now(UTC)
    old = _backup(profile.settings, now=now - timedelta(days=40))
    new = _backup(profile.settings, now=now)
    context = open_context(profile.settings)
    try:
        statuses = {entry.backup_id: entry.status for entry in list_backups(context)}
    finally:
        context.close()
    assert statuses[old.backup_id] == "expired"
    assert statuses[new.backup_id] == "ok"
    with pytest.raises(KeyExpiredError, match="destroyed by retention"):
        restore_backup(
            profile.settings,
            RestoreRequest(transaction_id=old.dump_transaction_id),
            retry=FAST,
        )


def test_drill_restores_then_drops(make_profile, mem0_database, postgres) -> None:
    profile = make_profile(dsn=mem0_database.dsn)
    _backup(profile.settings)
    report = run_drill(profile.settings, retry=FAST)
    assert report.passed, report.error
    assert report.row_counts == mem0_database.row_counts
    leftovers = [name for name in _databases(postgres.dsn()) if "_drill_" in name]
    assert leftovers == []


def _sqlite_mem0(path: Path, rows: int) -> None:
    connection = sqlite3.connect(path)
    with connection:
        connection.execute(
            "CREATE TABLE memories (id TEXT PRIMARY KEY, user_id TEXT, text TEXT, "
            "embedding BLOB)"
        )
        connection.executemany(
            "INSERT INTO memories VALUES (?, ?, ?, randomblob(128))",
            [
                (f"m{i}", f"user-{i % 5}", f"{PLAINTEXT_MARKER} {i}")
                for i in range(rows)
            ],
        )
    connection.close()


def test_sqlite_round_trip(make_profile, tmp_path, arlocal) -> None:
    source = tmp_path / "mem0.db"
    _sqlite_mem0(source, 500)
    profile = make_profile(sqlite_path=source)
    report = _backup(profile.settings)
    dump = httpx.get(f"{arlocal}/{report.dump_transaction_id}").content
    assert PLAINTEXT_MARKER.encode() not in dump
    target = tmp_path / "restored.db"
    restored = restore_backup(
        profile.settings, RestoreRequest(sqlite_path=target), retry=FAST
    )
    assert restored.row_counts == {"memories": 500}
    original = sqlite3.connect(source)
    copy = sqlite3.connect(target)
    try:
        query = "SELECT * FROM memories ORDER BY id"
        assert copy.execute(query).fetchall() == original.execute(query).fetchall()
    finally:
        original.close()
        copy.close()


def test_single_recipient_mode(make_profile, tmp_path) -> None:
    identity = pyrage.x25519.Identity.generate()
    identity_file = tmp_path / "backup-identity.txt"
    identity_file.write_text(f"# public key: {identity.to_public()}\n{identity}\n")
    identity_file.chmod(0o600)
    source = tmp_path / "mem0.db"
    _sqlite_mem0(source, 50)
    profile = make_profile(
        sqlite_path=source,
        key_store=False,
        recipient=str(identity.to_public()),
        identity_file=identity_file,
    )
    report = _backup(profile.settings)
    assert report.key_id.startswith("recipient-")
    restored = restore_backup(
        profile.settings, RestoreRequest(sqlite_path=tmp_path / "copy.db"), retry=FAST
    )
    assert restored.row_counts == {"memories": 50}


def test_clean_restore_overwrites_target(make_profile, mem0_database) -> None:
    profile = make_profile(dsn=mem0_database.dsn)
    _backup(profile.settings)
    with psycopg.connect(mem0_database.dsn, autocommit=True) as connection:
        connection.execute("DELETE FROM memory_history")
        connection.execute("DELETE FROM memories WHERE user_id = 'user-1'")
    with pytest.raises(BackupError, match="pass --clean"):
        restore_backup(
            profile.settings,
            RestoreRequest(target_dsn=mem0_database.dsn),
            retry=FAST,
        )
    restored = restore_backup(profile.settings, RestoreRequest(clean=True), retry=FAST)
    assert not restored.created
    assert restored.database == mem0_database.name
    assert restored.row_counts == mem0_database.row_counts
