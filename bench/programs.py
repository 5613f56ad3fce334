"""Benchmark a program deploy: the 105,032-byte associated-token ELF.

Starts a local chain on a free port, deploys the ELF with the release engine
(preflight, buffer write, deploy, verify, record) and, in the same run, writes
the same chunks into fresh buffers two other ways:

- one by one: send a write, poll getSignatureStatuses until it is confirmed,
  then send the next (a deployer without concurrency);
- bare concurrent: sign every write with one blockhash, send them all with
  the same bound on requests in flight, then poll until all are confirmed
  (no resume, no re-sends, no progress).

The ratios compare the engine's buffer-write phase with each baseline. The
payer is also the upgrade authority, so each write carries 1,012 bytes.

The three measurements run twice: straight to the chain, then through
:class:`bench.latency.LatencyProxy`, which adds ``--rtt-ms`` of round-trip
time (default 50 ms, typical of a hosted RPC provider). The local chain
confirms inside sendTransaction and loopback has no latency, so only the
second set shows what round trips cost an operator. One by one costs three
round trips a write, about 17 s a run at 50 ms, so that set has its own
smaller run count, ``--rtt-runs`` (default 1).

Usage: ``python -m bench programs [--runs N] [--rtt-ms MS] [--rtt-runs N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature

from bench.latency import LatencyProxy
from bench.measure import figure, median, seconds, timed
from config.settings import ProgramSettings, RpcSettings
from slopops.localnet import genesis_hash_for, start_localnet
from slopops.localnet.builtin_programs import associated_token_elf, write_program_so
from slopops.programs import ProgramTarget, loader, open_session, release_program
from slopops.programs.buffer import _create_buffer as create_buffer
from slopops.programs.buffer import chunk_bytes, load_or_create_keypair
from slopops.programs.target import Session
from slopops.solana import RpcClient, build_transaction, save_keypair
from slopops.stack.process import free_port

LAMPORTS_PER_SOL = 1_000_000_000
POLL_SECONDS = 0.005


def _target(url: str, seed: str, directory: Path, run: int) -> ProgramTarget:
    payer_path = directory / "payer.json"
    program_path = directory / f"program-{run}.json"
    save_keypair(program_path, Keypair())
    return ProgramTarget(
        environment="local",
        rpc=RpcSettings(url=url, genesis_hash=str(genesis_hash_for(seed))),
        program=ProgramSettings(
            name=f"bench{run}",
            program_keypair=program_path,
            upgrade_authority_keypair=payer_path,
        ),
        payer_keypair=payer_path,
        state_dir=directory / "state",
    )


def _writes(session: Session, buffer: Pubkey, elf: bytes) -> list:
    size = chunk_bytes(session)
    return [
        [
            loader.write(
                buffer, session.authority.pubkey(), offset, elf[offset : offset + size]
            )
        ]
        for offset in range(0, len(elf), size)
    ]


async def _confirmed(rpc: RpcClient, signatures: list[Signature]) -> None:
    pending = list(signatures)
    while pending:
        statuses = await rpc.signature_statuses(pending)
        for status in statuses:
            if status is not None and status.err is not None:
                raise RuntimeError(f"write failed: {status.err}")
        pending = [
            signature
            for signature, status in zip(pending, statuses, strict=True)
            if status is None
            or status.confirmation_status not in {"confirmed", "finalized"}
        ]
        if pending:
            await asyncio.sleep(POLL_SECONDS)


async def _fresh_buffer(session: Session, elf: bytes) -> Pubkey:
    keypair = Keypair()
    await create_buffer(session, keypair, len(elf))
    return keypair.pubkey()


async def one_by_one(session: Session, elf: bytes) -> float:
    """Write every chunk, each sent and confirmed before the next."""
    buffer = await _fresh_buffer(session, elf)
    signers = [session.payer]
    with timed() as timer:
        for instructions in _writes(session, buffer, elf):
            blockhash = await session.rpc.latest_blockhash()
            transaction = build_transaction(instructions, signers, blockhash.blockhash)
            signature = await session.rpc.send_transaction(
                bytes(transaction), skip_preflight=True
            )
            await _confirmed(session.rpc, [signature])
    return timer.seconds


async def bare_concurrent(session: Session, elf: bytes, in_flight: int) -> float:
    """Sign all writes with one blockhash, send them concurrently, then confirm."""
    buffer = await _fresh_buffer(session, elf)
    limit = asyncio.Semaphore(in_flight)
    with timed() as timer:
        blockhash = await session.rpc.latest_blockhash()
        transactions = [
            build_transaction(instructions, [session.payer], blockhash.blockhash)
            for instructions in _writes(session, buffer, elf)
        ]

        async def send(wire: bytes) -> Signature:
            async with limit:
                return await session.rpc.send_transaction(wire, skip_preflight=True)

        signatures = await asyncio.gather(*(send(bytes(t)) for t in transactions))
        await _confirmed(session.rpc, list(signatures))
    return timer.seconds


async def _fund(url: str, directory: Path) -> None:
    payer, _ = load_or_create_keypair(directory / "payer.json")
    async with RpcClient([url]) as rpc:
        await rpc.call(
            "requestAirdrop", [str(payer.pubkey()), 1_000 * LAMPORTS_PER_SOL]
        )


async def _measure(
    url: str, seed: str, directory: Path, runs: int, label: str, first_run: int
) -> None:
    """Run the engine and both baselines ``runs`` times via ``url``, print figures."""
    elf = associated_token_elf()
    elf_path = write_program_so(elf, directory / "associated_token.so")
    deploys, writes, sequential, bare, transactions = [], [], [], [], 0
    for run in range(first_run, first_run + runs):
        target = _target(url, seed, directory, run)
        with timed() as timer:
            outcome = await release_program(target, elf_path)
        deploys.append(timer.seconds)
        writes.append(outcome.buffer.elapsed_seconds)
        transactions = (
            len(outcome.record.signatures) + outcome.buffer.write_transactions
        )
        async with open_session(target) as session:
            sequential.append(await one_by_one(session, elf))
            bare.append(
                await bare_concurrent(session, elf, target.program.write_concurrency)
            )

    chunks = outcome.buffer.chunks_total
    plural = "s" if runs != 1 else ""
    print(f"{label} (median of {runs} run{plural}):", flush=True)
    figure("  deploy 105 KB ELF, wall time", seconds(median(deploys)), "report")
    figure("  deploy transactions", f"{transactions} ({chunks} writes)", "report")
    figure(
        f"  engine buffer write ({chunks} writes)", seconds(median(writes)), "report"
    )
    figure(
        "  writes one by one with confirmation",
        seconds(median(sequential)),
        "baseline",
    )
    figure("  bare concurrent writes", seconds(median(bare)), "baseline")
    figure(
        "  speed-up over one by one",
        f"{median(sequential) / median(writes):.1f}x",
        ">= 10x",
    )
    figure(
        "  slow-down against bare concurrent",
        f"{median(writes) / median(bare):.2f}x",
        "<= 1.5x",
    )


async def _run(url: str, seed: str, directory: Path, args: argparse.Namespace) -> None:
    await _fund(url, directory)
    await _measure(
        url, seed, directory, args.runs, "direct to the local chain, --runs", 0
    )
    if args.rtt_ms <= 0:
        return
    upstream = urlsplit(url)
    with LatencyProxy(
        upstream.hostname or "127.0.0.1", upstream.port or 80, args.rtt_ms / 1000
    ) as proxy:
        await _measure(
            proxy.url,
            seed,
            directory,
            args.rtt_runs,
            f"through a proxy adding {args.rtt_ms:g} ms RTT, --rtt-runs",
            args.runs,
        )


def main(argv: list[str]) -> int:
    """Start a local chain, run the measurements, stop the chain."""
    parser = argparse.ArgumentParser(prog="python -m bench programs")
    parser.add_argument(
        "--runs", type=int, default=3, help="Runs per measurement, direct."
    )
    parser.add_argument(
        "--rtt-ms",
        type=float,
        default=50.0,
        help="Round-trip time the latency proxy adds, in ms; 0 skips that set.",
    )
    parser.add_argument(
        "--rtt-runs",
        type=int,
        default=1,
        help="Runs per measurement through the proxy (one by one takes about "
        "17 s a run at 50 ms).",
    )
    args = parser.parse_args(argv)
    for name in ("runs", "rtt_runs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be 1 or more")
    seed = "bench"
    with tempfile.TemporaryDirectory(prefix="bench-programs-") as temporary:
        directory = Path(temporary)
        service = start_localnet(seed=seed, port=free_port(), state_dir=directory)
        try:
            asyncio.run(_run(service.url, seed, directory, args))
        finally:
            service.stop()
    return 0
