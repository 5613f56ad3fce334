"""Benchmark the local chain: start-up, buffer writes and transaction rate.

Baseline: the same 105,032-byte buffer (the associated-token ELF, 104
writes) written one transaction at a time, as a deployer without
concurrency does. Each write goes through solana-py's AsyncClient with
preflight, so the server simulates and then executes it.

Usage: ``python -m bench localnet [--transactions N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections.abc import Iterable
from pathlib import Path

from solana.rpc.async_api import AsyncClient
from solana.rpc.models import TxOpts
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.signature import Signature
from solders.system_program import CreateAccountParams, create_account
from solders.transaction import VersionedTransaction

from bench.measure import figure, mebibytes, seconds, timed, tree_rss_bytes
from slopops.localnet import start_localnet
from slopops.localnet.builtin_programs import MEMO_V3_PROGRAM_ID, associated_token_elf
from slopops.programs import loader
from slopops.stack.process import free_port

IN_FLIGHT = 32
# One Write with one signer carries at most 1,012 ELF bytes.
WRITE_BYTES = 1_012
LAMPORTS_PER_SOL = 1_000_000_000


async def _send(
    client: AsyncClient, signers: list[Keypair], instructions: list[Instruction]
) -> Signature:
    blockhash = (await client.get_latest_blockhash()).value.blockhash
    message = Message.new_with_blockhash(instructions, signers[0].pubkey(), blockhash)
    transaction = VersionedTransaction(message, signers)
    options = TxOpts(skip_confirmation=True)
    return (await client.send_transaction(transaction, opts=options)).value


async def _bounded(jobs: Iterable, limit: int) -> None:
    semaphore = asyncio.Semaphore(limit)

    async def run(job) -> None:
        async with semaphore:
            await job

    await asyncio.gather(*(run(job) for job in jobs))


async def _write_buffer(client: AsyncClient, payer: Keypair, in_flight: int) -> None:
    elf = associated_token_elf()
    buffer = Keypair()
    space = loader.BUFFER_HEADER_BYTES + len(elf)
    rent = (await client.get_minimum_balance_for_rent_exemption(space)).value
    create = create_account(
        CreateAccountParams(
            from_pubkey=payer.pubkey(),
            to_pubkey=buffer.pubkey(),
            lamports=rent,
            space=space,
            owner=loader.LOADER_ID,
        )
    )
    initialize = loader.initialize_buffer(buffer.pubkey(), payer.pubkey())
    await _send(client, [payer, buffer], [create, initialize])
    writes = (
        _send(
            client,
            [payer],
            [
                loader.write(
                    buffer.pubkey(),
                    payer.pubkey(),
                    offset,
                    elf[offset : offset + WRITE_BYTES],
                )
            ],
        )
        for offset in range(0, len(elf), WRITE_BYTES)
    )
    await _bounded(writes, in_flight)
    stored = (await client.get_account_info(buffer.pubkey())).value
    if bytes(stored.data[loader.BUFFER_HEADER_BYTES :]) != elf:
        raise RuntimeError("the buffer does not contain the ELF after the writes")


async def _memos(client: AsyncClient, payer: Keypair, count: int) -> None:
    memos = (
        _send(client, [payer], [Instruction(MEMO_V3_PROGRAM_ID, f"m{i}".encode(), [])])
        for i in range(count)
    )
    await _bounded(memos, IN_FLIGHT)


async def _run(url: str, pid: int, transactions: int) -> None:
    async with AsyncClient(url) as client:
        payer = Keypair()
        await client.request_airdrop(payer.pubkey(), 1_000 * LAMPORTS_PER_SOL)
        with timed() as one_at_a_time:
            await _write_buffer(client, payer, in_flight=1)
        figure(
            "write 105 KB buffer, 1 in flight",
            seconds(one_at_a_time.seconds),
            "baseline",
        )
        with timed() as concurrent:
            await _write_buffer(client, payer, in_flight=IN_FLIGHT)
        figure(
            f"write 105 KB buffer, {IN_FLIGHT} in flight",
            seconds(concurrent.seconds),
            "< 2.00 s",
        )
        with timed() as memo_timer:
            await _memos(client, payer, transactions)
        rate = transactions / memo_timer.seconds
        figure(
            f"memo transactions per second, {IN_FLIGHT} in flight",
            f"{rate:.0f}",
            "> 200",
        )
        slot = (await client.get_slot()).value
    figure(
        f"server memory after {slot} transactions",
        mebibytes(tree_rss_bytes([pid])),
        "< 300 MiB",
    )


def main(argv: list[str]) -> int:
    """Start a chain on a free port, measure it and stop it."""
    parser = argparse.ArgumentParser(prog="python -m bench localnet")
    parser.add_argument("--transactions", type=int, default=2_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-localnet-") as state_dir:
        with timed() as start:
            service = start_localnet(
                seed="bench", port=free_port(), state_dir=Path(state_dir)
            )
        try:
            figure("start to getHealth ok", seconds(start.seconds), "< 5.00 s")
            asyncio.run(_run(service.url, service.pid, args.transactions))
        finally:
            service.stop()
    return 0
