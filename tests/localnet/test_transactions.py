"""Transactions on the local chain, through solana-py's AsyncClient."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.core import RPCException
from solana.rpc.models import TxOpts
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.rpc.errors import SendTransactionPreflightFailureMessage
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction
from solders.transaction_status import (
    TransactionConfirmationStatus,
    TransactionErrorFieldless,
    TransactionErrorInstructionError,
)

from tests.localnet.chain import memo, rpc, send, sign

LAMPORTS_PER_SOL = 1_000_000_000
FEE_LAMPORTS = 5_000


def transfer_from(payer: Keypair, lamports: int) -> list[Instruction]:
    """Return a transfer of ``lamports`` from ``payer`` to a new address."""
    params = TransferParams(
        from_pubkey=payer.pubkey(), to_pubkey=Pubkey.new_unique(), lamports=lamports
    )
    return [transfer(params)]


async def land_airdrops(client: AsyncClient, count: int) -> None:
    """Land ``count`` airdrops, one block each."""
    airdrops = [
        client.request_airdrop(Keypair().pubkey(), LAMPORTS_PER_SOL)
        for _ in range(count)
    ]
    await asyncio.gather(*airdrops)


async def test_airdrop_lands_with_history(localnet):
    recipient = Keypair().pubkey()
    async with AsyncClient(localnet.url) as client:
        signature = (
            await client.request_airdrop(recipient, 3 * LAMPORTS_PER_SOL)
        ).value
        balance = (await client.get_balance(recipient)).value
        status = (await client.get_signature_statuses([signature])).value[0]
        transaction = (await client.get_transaction(signature)).value
        history = (await client.get_signatures_for_address(recipient)).value
    assert balance == 3 * LAMPORTS_PER_SOL
    assert status is not None
    assert status.err is None
    assert status.confirmation_status == TransactionConfirmationStatus.Finalized
    meta = transaction.transaction.meta
    recipient_index = 1
    assert meta.pre_balances[recipient_index] == 0
    assert meta.post_balances[recipient_index] == 3 * LAMPORTS_PER_SOL
    assert [entry.signature for entry in history] == [signature]


async def test_memo_transaction_lands(localnet, funded_payer):
    async with AsyncClient(localnet.url) as client:
        slot_before = (await client.get_slot()).value
        signature = await send(client, [funded_payer], [memo("hello chain")])
        confirmed = await client.confirm_transaction(signature, "finalized")
        transaction = (await client.get_transaction(signature, "json")).value
        raw = (await client.get_transaction(signature, "base64")).value
        balance = (await client.get_balance(funded_payer.pubkey())).value
    assert confirmed.value[0].err is None
    assert transaction.slot == slot_before
    meta = transaction.transaction.meta
    assert meta.err is None
    assert meta.fee == FEE_LAMPORTS
    assert any("hello chain" in line for line in meta.log_messages)
    assert meta.compute_units_consumed > 0
    assert meta.pre_balances[0] - meta.post_balances[0] == FEE_LAMPORTS
    assert balance == meta.post_balances[0]
    assert transaction.block_time is not None
    assert raw.transaction.transaction.signatures[0] == signature


async def test_failed_transaction_lands_and_pays_fee(localnet, funded_payer):
    payer = funded_payer.pubkey()
    async with AsyncClient(localnet.url) as client:
        before = (await client.get_balance(payer)).value
        signature = await send(
            client,
            [funded_payer],
            transfer_from(funded_payer, 1_000 * LAMPORTS_PER_SOL),
            skip_preflight=True,
        )
        after = (await client.get_balance(payer)).value
        status = (await client.get_signature_statuses([signature])).value[0]
        history = (await client.get_signatures_for_address(payer, limit=1)).value
        transaction = (await client.get_transaction(signature)).value
    assert before - after == FEE_LAMPORTS
    assert isinstance(status.err, TransactionErrorInstructionError)
    assert status.err.index == 0
    assert history[0].signature == signature
    assert isinstance(history[0].err, TransactionErrorInstructionError)
    assert history[0].block_time is not None
    assert history[0].slot == status.slot
    meta = transaction.transaction.meta
    assert isinstance(meta.err, TransactionErrorInstructionError)
    assert meta.fee == FEE_LAMPORTS
    assert any("insufficient lamports" in line for line in meta.log_messages)


async def test_preflight_failure_returns_simulation(localnet, funded_payer):
    payer = funded_payer.pubkey()
    async with AsyncClient(localnet.url) as client:
        before = (await client.get_balance(payer)).value
        with pytest.raises(RPCException) as raised:
            await send(
                client,
                [funded_payer],
                transfer_from(funded_payer, 1_000 * LAMPORTS_PER_SOL),
            )
        after = (await client.get_balance(payer)).value
        history = (await client.get_signatures_for_address(payer)).value
    failure = raised.value.args[0]
    assert isinstance(failure, SendTransactionPreflightFailureMessage)
    assert failure.message == (
        "Transaction simulation failed: "
        "Error processing Instruction 0: custom program error: 0x1"
    )
    assert isinstance(failure.data.err, TransactionErrorInstructionError)
    assert any("insufficient lamports" in line for line in failure.data.logs)
    assert failure.data.units_consumed == 150
    assert before == after
    assert len(history) == 1, "only the payer's airdrop should be in its history"


async def test_expired_blockhash_is_rejected(fresh_localnet):
    payer = Keypair()
    fresh_localnet.airdrop(payer.pubkey(), LAMPORTS_PER_SOL)
    async with AsyncClient(fresh_localnet.url) as client:
        old = (await client.get_latest_blockhash()).value
        # Each airdrop lands in its own block; the 150th keeps ``old`` valid.
        await land_airdrops(client, 150)
        height = (await client.get_block_height()).value
        assert height == old.last_valid_block_height
        still_valid = rpc(fresh_localnet.url, "isBlockhashValid", [str(old.blockhash)])
        fresh_localnet.airdrop(Keypair().pubkey(), LAMPORTS_PER_SOL)
        expired = rpc(fresh_localnet.url, "isBlockhashValid", [str(old.blockhash)])
        transaction = sign([payer], [memo("late")], old.blockhash)
        with pytest.raises(RPCException) as preflight:
            await client.send_transaction(transaction)
        with pytest.raises(RPCException) as skipped:
            await client.send_transaction(transaction, TxOpts(skip_preflight=True))
    assert still_valid["result"]["value"] is True
    assert expired["result"]["value"] is False
    for raised in (preflight, skipped):
        failure = raised.value.args[0]
        assert isinstance(failure, SendTransactionPreflightFailureMessage)
        assert failure.data.err == TransactionErrorFieldless.BlockhashNotFound
        assert failure.message.endswith("Blockhash not found")


async def test_each_landed_transaction_gets_a_slot(fresh_localnet):
    payer = Keypair()
    async with AsyncClient(fresh_localnet.url) as client:
        first = (await client.get_latest_blockhash()).value
        await client.request_airdrop(payer.pubkey(), LAMPORTS_PER_SOL)
        second = (await client.get_latest_blockhash()).value
        signature = await send(client, [payer], [memo("slot")])
        slot = (await client.get_slot()).value
        status = (await client.get_signature_statuses([signature])).value[0]
    assert second.blockhash != first.blockhash
    assert second.last_valid_block_height == first.last_valid_block_height + 1
    assert status.slot == 1
    assert slot == 2


async def test_concurrent_sends_all_land(localnet, funded_payer):
    async with AsyncClient(localnet.url) as client:
        sends = [send(client, [funded_payer], [memo(f"memo {i}")]) for i in range(32)]
        signatures = await asyncio.gather(*sends)
        statuses = (await client.get_signature_statuses(signatures)).value
    assert len(set(signatures)) == 32
    assert all(status is not None and status.err is None for status in statuses)
    assert len({status.slot for status in statuses}) == 32


async def test_signatures_for_address_pages(fresh_localnet):
    payer = Keypair()
    fresh_localnet.airdrop(payer.pubkey(), LAMPORTS_PER_SOL)
    async with AsyncClient(fresh_localnet.url) as client:
        sent = [await send(client, [payer], [memo(f"page {i}")]) for i in range(5)]
        newest_first = list(reversed(sent))
        everything = (await client.get_signatures_for_address(payer.pubkey())).value
        first_page = (
            await client.get_signatures_for_address(payer.pubkey(), limit=2)
        ).value
        second_page = (
            await client.get_signatures_for_address(
                payer.pubkey(), before=first_page[-1].signature, limit=2
            )
        ).value
        until = (
            await client.get_signatures_for_address(payer.pubkey(), until=sent[1])
        ).value
    assert [entry.signature for entry in everything][:5] == newest_first
    assert len(everything) == 6
    assert [entry.signature for entry in first_page] == newest_first[:2]
    assert [entry.signature for entry in second_page] == newest_first[2:4]
    assert [entry.signature for entry in until] == newest_first[:3]
    slots = [entry.slot for entry in everything]
    assert slots == sorted(slots, reverse=True)
    assert everything[0].memo == "[6] page 4"
    assert everything[-1].memo is None


async def test_v0_transaction_needs_max_version(localnet, funded_payer):
    async with AsyncClient(localnet.url) as client:
        blockhash = (await client.get_latest_blockhash()).value.blockhash
        message = MessageV0.try_compile(
            funded_payer.pubkey(), [memo("version 0")], [], blockhash
        )
        transaction = VersionedTransaction(message, [funded_payer])
        signature = (await client.send_transaction(transaction)).value
        with pytest.raises(RPCException, match="maxSupportedTransactionVersion"):
            await client.get_transaction(signature)
        fetched = (
            await client.get_transaction(signature, max_supported_transaction_version=0)
        ).value
    assert fetched.transaction.version == 0
    assert fetched.transaction.meta.err is None
    assert fetched.transaction.transaction.signatures[0] == signature


async def test_duplicate_transaction_rejected(fresh_localnet):
    payer = Keypair()
    fresh_localnet.airdrop(payer.pubkey(), LAMPORTS_PER_SOL)
    async with AsyncClient(fresh_localnet.url) as client:
        blockhash = (await client.get_latest_blockhash()).value.blockhash
        transaction = sign([payer], [memo("once")], blockhash)
        await client.send_transaction(transaction)
        # LiteSVM keeps about 32 transactions, so land more than that.
        await land_airdrops(client, 40)
        with pytest.raises(RPCException) as raised:
            await client.send_transaction(transaction, TxOpts(skip_preflight=True))
    failure = raised.value.args[0]
    assert failure.data.err == TransactionErrorFieldless.AlreadyProcessed
    assert "This transaction has already been processed" in failure.message


async def test_bad_signature_rejected(localnet, funded_payer):
    async with AsyncClient(localnet.url) as client:
        blockhash = (await client.get_latest_blockhash()).value.blockhash
    tampered = bytearray(bytes(sign([funded_payer], [memo("tamper")], blockhash)))
    tampered[1] ^= 0xFF
    response = rpc(
        localnet.url,
        "sendTransaction",
        [base64.b64encode(tampered).decode(), {"encoding": "base64"}],
    )
    assert response["error"]["code"] == -32003, json.dumps(response)
