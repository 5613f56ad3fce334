"""Confirmation and re-sends through a proxy in front of the local chain."""

from __future__ import annotations

from typing import Any

import httpx
from solders.keypair import Keypair
from solders.system_program import TransferParams, transfer

from slopops.solana import PendingTransaction, RpcClient, TransactionSender
from tests.fixtures.localnet import Localnet
from tests.solana.servers import Reply, forward, scripted_server


def payment(payer: Keypair, label: str = "pay") -> PendingTransaction:
    instruction = transfer(
        TransferParams(
            from_pubkey=payer.pubkey(), to_pubkey=Keypair().pubkey(), lamports=1_000_000
        )
    )
    return PendingTransaction(label, [instruction], [payer])


def gateway_timeout(request: dict[str, Any]) -> Reply:
    return Reply(status=504, body={"error": "gateway timeout"})


async def test_many_transactions_confirmed(
    localnet: Localnet, funded_payer: Keypair
) -> None:
    batch = [payment(funded_payer, f"pay {i}") for i in range(40)]
    confirmed: list[str] = []

    async with RpcClient([localnet.url]) as rpc:
        sender = TransactionSender(rpc, max_in_flight=8)
        stats = await sender.send_all(batch, lambda p: confirmed.append(p.label))

    assert sorted(confirmed) == sorted(p.label for p in batch)
    assert stats.transactions == 40
    assert stats.sends == 40
    assert all(p.slot is not None for p in batch)


async def test_wave_confirmed_in_its_send_batch(
    localnet: Localnet, funded_payer: Keypair
) -> None:
    batch = [payment(funded_payer, f"pay {i}") for i in range(40)]

    with scripted_server(forward(localnet.url)) as proxy:
        async with RpcClient([proxy.url]) as rpc:
            sender = TransactionSender(rpc, max_in_flight=8)
            stats = await sender.send_all(batch)

    batches = [r for r in proxy.requests if isinstance(r, list)]
    singles = [r["method"] for r in proxy.requests if not isinstance(r, list)]
    # The local chain runs batch items in order, so the status read after a
    # wave's sends returns them confirmed. Each wave takes one round trip.
    assert stats.sends == 40
    assert len(batches) == 5
    for request in batches:
        methods = [item["method"] for item in request]
        assert methods == ["sendTransaction"] * 8 + ["getSignatureStatuses"]
    assert singles == ["getLatestBlockhash"]


async def test_landed_send_with_lost_answer_not_resent(
    localnet: Localnet, funded_payer: Keypair
) -> None:
    upstream = forward(localnet.url)

    def lose_answer(request: dict[str, Any]) -> Reply:
        reply = upstream(request)
        if request["method"] == "sendTransaction":
            return gateway_timeout(request)
        return reply

    pending = payment(funded_payer)
    with scripted_server(lose_answer) as proxy:
        async with RpcClient([proxy.url]) as rpc:
            sender = TransactionSender(rpc, resend_interval_seconds=0.05)
            await sender.send_one(pending)

    assert pending.sends == 1
    assert pending.signings == 1
    assert proxy.methods().count("sendTransaction") == 1
    assert "getSignatureStatuses" in proxy.methods()


async def test_dropped_send_resent_same_bytes(
    localnet: Localnet, funded_payer: Keypair
) -> None:
    upstream = forward(localnet.url)
    dropped = []

    def drop_first_send(request: dict[str, Any]) -> Reply:
        if request["method"] == "sendTransaction" and not dropped:
            dropped.append(request["params"][0])
            return gateway_timeout(request)
        return upstream(request)

    pending = payment(funded_payer)
    with scripted_server(drop_first_send) as proxy:
        async with RpcClient([proxy.url]) as rpc:
            sender = TransactionSender(rpc, resend_interval_seconds=0.05)
            await sender.send_one(pending)

    sends = [r for r in proxy.requests if r["method"] == "sendTransaction"]
    assert pending.signings == 1
    assert pending.sends == 2
    assert sends[1]["params"][0] == dropped[0]


async def test_expired_blockhash_signs_again(
    localnet: Localnet, funded_payer: Keypair
) -> None:
    upstream = forward(localnet.url)
    dropped = []

    def expire_fast(request: dict[str, Any]) -> Reply:
        if request["method"] == "getLatestBlockhash":
            reply = upstream(request)
            height = httpx.post(
                localnet.url,
                json={"jsonrpc": "2.0", "id": 1, "method": "getBlockHeight"},
            ).json()["result"]
            # The blockhash is valid only at the current height.
            reply.body["result"]["value"]["lastValidBlockHeight"] = height
            return reply
        if request["method"] == "sendTransaction" and not dropped:
            dropped.append(request["params"][0])
            # Another transaction lands, so the block height moves past it.
            localnet.airdrop(Keypair().pubkey(), 1_000_000)
            return gateway_timeout(request)
        return upstream(request)

    pending = payment(funded_payer)
    with scripted_server(expire_fast) as proxy:
        async with RpcClient([proxy.url]) as rpc:
            sender = TransactionSender(rpc, resend_interval_seconds=0.05)
            await sender.send_one(pending)

    sends = [r for r in proxy.requests if r["method"] == "sendTransaction"]
    assert pending.signings == 2
    assert len(sends) == 2
    assert sends[1]["params"][0] != dropped[0]


async def test_landed_beyond_status_cache_not_signed_again(
    localnet: Localnet, funded_payer: Keypair
) -> None:
    upstream = forward(localnet.url)

    def forgetful_cache(request: dict[str, Any]) -> Reply:
        reply = upstream(request)
        if request["method"] == "getLatestBlockhash":
            # Valid only at the current height: the landing moves past it.
            value = reply.body["result"]["value"]
            value["lastValidBlockHeight"] = reply.body["result"]["context"]["slot"]
        if request["method"] == "getSignatureStatuses":
            history = request["params"][1]["searchTransactionHistory"]
            if not history:
                statuses = reply.body["result"]["value"]
                reply.body["result"]["value"] = [None] * len(statuses)
        return reply

    pending = payment(funded_payer)
    with scripted_server(forgetful_cache) as proxy:
        async with RpcClient([proxy.url]) as rpc:
            sender = TransactionSender(
                rpc, resend_interval_seconds=0.05, timeout_seconds=10
            )
            await sender.send_one(pending)

    assert pending.signings == 1
    assert pending.sends == 1
    assert proxy.methods().count("sendTransaction") == 1
