"""Benchmark mem0 backups and restores against plain pg_dump and pg_restore.

``python -m bench backups [--size-mb 1024] [--small-mb 100]`` generates two
mem0-shaped databases (embeddings of 384 dimensions, an ivfflat index) on an
embedded PostgreSQL 18, then measures in one run:

* backup wall time against ``pg_dump -Fc > /dev/null`` of the same database;
* restore wall time against ``pg_restore -j2`` from a local dump file;
* the peak RSS of the backup and restore process at both sizes.

Uploads go to a local gateway on 127.0.0.1 (bench/_backups_gateway.py) that
confirms at once and keeps chunks in files, so that the read-back and the
restore can download them. Each backup and restore runs in a child process
so that its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg

from bench.measure import figure, mebibytes, seconds
from slopops.arweave import generate_wallet
from slopops.backups import sample
from slopops.stack.postgres import start_postgres
from slopops.stack.process import ServiceProcess, free_port, spawn

DIMENSIONS = 384
TEXT_BYTES = 200
BACKUP_RATIO_GOAL = 1.3
RESTORE_RATIO_GOAL = 1.3
RSS_GOAL_BYTES = 150 * 1024 * 1024
REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    """Run the benchmark, or one child measurement with ``--child``."""
    parser = argparse.ArgumentParser(prog="python -m bench backups")
    parser.add_argument("--size-mb", type=int, default=1024, help="Large database, MB.")
    parser.add_argument("--small-mb", type=int, default=100, help="Small database, MB.")
    parser.add_argument(
        "--child", choices=["backup", "restore"], help=argparse.SUPPRESS
    )
    parser.add_argument("--config-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child, args.config_dir)
    root = Path(tempfile.mkdtemp(prefix="slopops-bench-backups-"))
    try:
        _run(root, args.size_mb, args.small_mb)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


def _child(action: str, config_dir: Path) -> int:
    """Run one backup or restore and print its time and peak RSS as JSON."""
    from config import load_settings
    from slopops.backups import RestoreRequest, restore_backup, run_backup

    settings = load_settings("local", config_dir)
    started = time.monotonic()
    if action == "backup":
        report = run_backup(settings, force=True, poll_seconds=0.05)
        size = report.ciphertext_bytes
    else:
        restored = restore_backup(settings, RestoreRequest(jobs=2))
        size = restored.ciphertext_bytes
    elapsed = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": elapsed, "peak_rss_bytes": peak, "bytes": size}))
    return 0


def _run(root: Path, size_mb: int, small_mb: int) -> None:
    server = start_postgres(data_dir=root / "postgres", port=free_port())
    gateway = _start_gateway(root)
    try:
        small = _measure_size(root, server, gateway.url, small_mb, baselines=False)
        large = _measure_size(root, server, gateway.url, size_mb, baselines=True)
    finally:
        gateway.stop()
        server.stop()
    _print_figures(small, large, size_mb, small_mb)


def _print_figures(small: dict, large: dict, size_mb: int, small_mb: int) -> None:
    backup_ratio = large["backup"]["seconds"] / large["pg_dump_seconds"]
    restore_ratio = large["restore"]["seconds"] / large["pg_restore_seconds"]
    figure(
        f"database size ({size_mb} MB asked)", mebibytes(large["database_bytes"]), "-"
    )
    figure("pg_dump -Fc > /dev/null", seconds(large["pg_dump_seconds"]), "baseline")
    figure(
        "backup (dump, encrypt, upload, read back)",
        seconds(large["backup"]["seconds"]),
        "baseline x 1.3",
    )
    figure("backup / pg_dump", f"{backup_ratio:.2f}x", f"<= {BACKUP_RATIO_GOAL}x")
    figure(
        "pg_restore -j2 from a local file",
        seconds(large["pg_restore_seconds"]),
        "baseline",
    )
    figure(
        "restore (download, decrypt, pg_restore -j2)",
        seconds(large["restore"]["seconds"]),
        "baseline x 1.3",
    )
    figure("restore / pg_restore", f"{restore_ratio:.2f}x", f"<= {RESTORE_RATIO_GOAL}x")
    # Generation overshoots the asked size, so label with the measured one.
    for result in (small, large):
        label = f"{mebibytes(result['database_bytes'])} database"
        for action in ("backup", "restore"):
            figure(
                f"peak RSS of {action} at {label}",
                mebibytes(result[action]["peak_rss_bytes"]),
                "<= 150.0 MiB, flat",
            )


def _start_gateway(root: Path) -> ServiceProcess:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    return spawn(
        "bench-gateway",
        [
            sys.executable,
            "-m",
            "bench._backups_gateway",
            "--port",
            str(port),
            "--data-dir",
            str(root / "gateway"),
        ],
        url=url,
        log_path=root / "gateway.log",
        ready=lambda: _answers(f"{url}/info"),
        cwd=REPO,
    )


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _measure_size(root, server, gateway_url, size_mb, *, baselines: bool) -> dict:
    name = f"mem0_{size_mb}mb"
    dsn = server.dsn(name)
    database_bytes = _generate(server, name, size_mb)
    config_dir = _write_profile(root / name, dsn, gateway_url, server.bin_dir)
    result: dict = {"database_bytes": database_bytes}
    if baselines:
        result["pg_dump_seconds"] = _time_pg_dump(server, dsn)
    result["backup"] = _run_child("backup", config_dir)
    if baselines:
        result["pg_restore_seconds"] = _time_pg_restore(root, server, dsn)
    result["restore"] = _run_child("restore", config_dir)
    return result


def _generate(server, name: str, size_mb: int) -> int:
    sample.create_database(server.dsn(), name)
    dsn = server.dsn(name)
    sample.create_schema(dsn, DIMENSIONS, index=None)
    target = size_mb * 1024 * 1024
    empty = _database_bytes(dsn)
    inserted = 0
    batch = 5_000
    current = empty
    # NOTE: the result overshoots the asked size, with 1,723 MiB for 1,024 MB
    # and 167 MiB for 100 MB in the recorded run. The cause is not found yet.
    while current < target:
        sample.insert_memories(dsn, batch, DIMENSIONS, text_bytes=TEXT_BYTES)
        inserted += batch
        current = _database_bytes(dsn)
        # Size per row so far, history included, sets the next batch.
        per_row = max(1, (current - empty) // inserted)
        batch = max(1000, min(100_000, (target - current) // per_row))
    sample.create_vector_index(dsn, "ivfflat")
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
    return _database_bytes(dsn)


def _database_bytes(dsn: str) -> int:
    with psycopg.connect(dsn) as connection:
        row = connection.execute(
            "SELECT pg_database_size(current_database())"
        ).fetchone()
    return int(row[0])


def _time_pg_dump(server, dsn: str) -> float:
    started = time.monotonic()
    with open("/dev/null", "wb") as sink:
        subprocess.run(
            [str(server.bin_dir / "pg_dump"), "-Fc", "--dbname", dsn],
            stdout=sink,
            check=True,
        )
    return time.monotonic() - started


def _time_pg_restore(root: Path, server, dsn: str) -> float:
    dump = root / "baseline.dump"
    subprocess.run(
        [str(server.bin_dir / "pg_dump"), "-Fc", "-f", str(dump), "--dbname", dsn],
        check=True,
    )
    target = "baseline_restore"
    sample.create_database(server.dsn(), target)
    started = time.monotonic()
    subprocess.run(
        [
            str(server.bin_dir / "pg_restore"),
            "-j",
            "2",
            "--no-owner",
            "--exit-on-error",
            "--dbname",
            server.dsn(target),
            str(dump),
        ],
        check=True,
    )
    elapsed = time.monotonic() - started
    sample.drop_database(server.dsn(), target)
    dump.unlink()
    return elapsed


def _run_child(action: str, config_dir: Path) -> dict:
    output = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "backups",
            "--child",
            action,
            "--config-dir",
            str(config_dir),
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
    ).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


def _write_profile(directory: Path, dsn: str, gateway_url: str, bin_dir: Path) -> Path:
    base = (REPO / "config" / "local.toml").read_text()
    base = re.sub(r"(?ms)^\[(mem0|arweave)\]\n.*?(?=^\[|\Z)", "", base)
    base = re.sub(r"(?m)^state_dir = .*$", f'state_dir = "{directory / "state"}"', base)
    wallet = directory / "wallet.json"
    generate_wallet(wallet)
    text = (
        f'{base}\n[mem0]\nkind = "postgresql"\ndsn = "{dsn}"\n'
        f'pg_bin_dir = "{bin_dir}"\n\n[arweave]\ngateway_url = "{gateway_url}"\n'
        f'wallet_path = "{wallet}"\nkey_store_dir = "{directory / "keys"}"\n'
    )
    config_dir = directory / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "local.toml").write_text(text)
    return config_dir
