"""Every RPC method of the local chain, parsed by solana-py 0.41 and solders."""

from __future__ import annotations

import base64

import httpx
import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.core import RPCException
from solana.rpc.models import DataSliceOpts, MemcmpOpts
from solders.account_decoder import UiDataSliceConfig
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import CompiledInstruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.rpc.responses import (
    GetBlockTimeResp,
    GetEpochScheduleResp,
    GetRecentPrioritizationFeesResp,
    GetTransactionCountResp,
    IsBlockhashValidResp,
)
from solders.transaction import Transaction
from solders.transaction_status import TransactionErrorInstructionError

from tests.localnet import loader_v3
from tests.localnet.chain import MEMO_V3_PROGRAM_ID, memo, rpc, send, sign
from tests.localnet.test_transactions import LAMPORTS_PER_SOL, transfer_from


async def test_cluster_info_methods(localnet):
    async with AsyncClient(localnet.url) as client:
        assert await client.is_connected()
        genesis = (await client.get_genesis_hash()).value
        version = (await client.get_version()).value
        slot = (await client.get_slot()).value
        height = (await client.get_block_height()).value
        epoch = (await client.get_epoch_info()).value
        latest = (await client.get_latest_blockhash()).value
        fees = (await client.get_recent_prioritization_fees()).value
    assert str(genesis) == localnet.genesis_hash
    assert version.solana_core == "2.1.0"
    assert height == slot
    assert epoch.absolute_slot == slot
    assert epoch.slot_index < epoch.slots_in_epoch
    assert epoch.transaction_count >= slot
    assert latest.last_valid_block_height == height + 150
    assert fees == []


def test_raw_only_methods_parse(localnet):
    blockhash = rpc(localnet.url, "getLatestBlockhash")["result"]["value"]["blockhash"]
    checks = [
        (IsBlockhashValidResp, "isBlockhashValid", [blockhash]),
        (GetBlockTimeResp, "getBlockTime", [0]),
        (GetTransactionCountResp, "getTransactionCount", []),
        (GetEpochScheduleResp, "getEpochSchedule", []),
        (GetRecentPrioritizationFeesResp, "getRecentPrioritizationFees", [[]]),
    ]
    for parser, method, params in checks:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        raw = httpx.post(localnet.url, json=body, timeout=10.0).text
        parsed = parser.from_json(raw)
        assert isinstance(parsed, parser), f"{method}: {raw}"
    valid = IsBlockhashValidResp.from_json(
        httpx.post(
            localnet.url,
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "isBlockhashValid",
                "params": [blockhash],
            },
        ).text
    )
    assert valid.value is True


async def test_account_methods(localnet, funded_payer):
    missing = Keypair().pubkey()
    async with AsyncClient(localnet.url) as client:
        info = (await client.get_account_info(funded_payer.pubkey())).value
        absent = (await client.get_account_info(missing)).value
        program = (await client.get_account_info(MEMO_V3_PROGRAM_ID)).value
        sliced = (
            await client.get_account_info(
                MEMO_V3_PROGRAM_ID, data_slice=DataSliceOpts(offset=1, length=3)
            )
        ).value
        many = (
            await client.get_multiple_accounts([funded_payer.pubkey(), missing])
        ).value
        balance = (await client.get_balance(funded_payer.pubkey())).value
        rent = (await client.get_minimum_balance_for_rent_exemption(100)).value
    assert info.lamports == balance == 100 * LAMPORTS_PER_SOL
    assert info.owner == Pubkey.default()
    assert absent is None
    assert program.executable
    assert program.data[:4] == b"\x7fELF"
    assert sliced.data == b"ELF"
    assert many[0].lamports == balance
    assert many[1] is None
    assert rent == (128 + 100) * 6_960


async def test_program_accounts_filters(localnet, funded_payer):
    authority = funded_payer.pubkey()
    buffers = [Keypair(), Keypair()]
    async with AsyncClient(localnet.url) as client:
        for buffer in buffers:
            await send(
                client,
                [funded_payer, buffer],
                loader_v3.create_buffer(
                    authority, buffer.pubkey(), authority, 10, 10**7
                ),
            )
        ours = (
            await client.get_program_accounts(
                loader_v3.LOADER_V3_ID,
                filters=[
                    loader_v3.BUFFER_HEADER_BYTES + 10,
                    MemcmpOpts(offset=5, bytes=str(authority)),
                ],
            )
        ).value
        by_size_only = (
            await client.get_program_accounts(
                loader_v3.LOADER_V3_ID, filters=[loader_v3.BUFFER_HEADER_BYTES + 10]
            )
        ).value
        stranger = (
            await client.get_program_accounts(
                loader_v3.LOADER_V3_ID,
                filters=[MemcmpOpts(offset=5, bytes=str(Keypair().pubkey()))],
                data_slice=UiDataSliceConfig(offset=0, length=0),
            )
        ).value
    assert {entry.pubkey for entry in ours} == {b.pubkey() for b in buffers}
    assert len(by_size_only) >= 2
    assert stranger == []


@pytest.mark.parametrize(
    "budget",
    [
        [],
        [set_compute_unit_price(1_000_000)],
        [set_compute_unit_price(3)],
        [set_compute_unit_price(250_000), set_compute_unit_limit(40_000)],
        [set_compute_unit_price(1_000_000), set_compute_unit_limit(2_000_000)],
    ],
)
async def test_fee_quote_matches_charged_fee(localnet, funded_payer, budget):
    payer = funded_payer.pubkey()
    instructions = [*budget, memo("fee"), *transfer_from(funded_payer, 10**7)]
    async with AsyncClient(localnet.url) as client:
        blockhash = (await client.get_latest_blockhash()).value.blockhash
        message = Message.new_with_blockhash(instructions, payer, blockhash)
        quoted = (await client.get_fee_for_message(message)).value
        signature = await send(client, [funded_payer], instructions)
        charged = (await client.get_transaction(signature)).value
    assert quoted == charged.transaction.meta.fee


async def test_fee_for_unknown_blockhash_is_null(localnet, funded_payer):
    message = Message.new_with_blockhash(
        [memo("fee")], funded_payer.pubkey(), Hash.new_unique()
    )
    async with AsyncClient(localnet.url) as client:
        assert (await client.get_fee_for_message(message)).value is None


async def test_simulate_transaction(localnet, funded_payer):
    async with AsyncClient(localnet.url) as client:
        blockhash = (await client.get_latest_blockhash()).value.blockhash
        good = sign([funded_payer], [memo("simulated")], blockhash)
        bad = sign(
            [funded_payer],
            transfer_from(funded_payer, 10**6 * LAMPORTS_PER_SOL),
            blockhash,
        )
        ok = (await client.simulate_transaction(good, sig_verify=True)).value
        failed = (await client.simulate_transaction(bad)).value
        replaced = (
            await client.simulate_transaction(good, replace_recent_blockhash=True)
        ).value
        with_accounts = (
            await client.simulate_transaction(
                good, accounts_addresses=[funded_payer.pubkey()]
            )
        ).value
        balance = (await client.get_balance(funded_payer.pubkey())).value
        status = (await client.get_signature_statuses([good.signatures[0]])).value
    assert ok.err is None
    assert any("simulated" in line for line in ok.logs)
    assert ok.units_consumed > 0
    assert isinstance(failed.err, TransactionErrorInstructionError)
    assert replaced.replacement_blockhash is not None
    assert with_accounts.accounts[0].lamports == balance - 5_000
    assert status == [None], "a simulation must not land"


async def test_unknown_signature_returns_null(localnet):
    signature = Keypair().sign_message(b"never sent")
    async with AsyncClient(localnet.url) as client:
        status = (await client.get_signature_statuses([signature])).value
        transaction = (await client.get_transaction(signature)).value
    assert status == [None]
    assert transaction is None


def test_account_info_base58(localnet, funded_payer):
    address = str(funded_payer.pubkey())
    small = rpc(localnet.url, "getAccountInfo", [address, {"encoding": "base58"}])
    program = str(MEMO_V3_PROGRAM_ID)
    large = rpc(localnet.url, "getAccountInfo", [program, {"encoding": "base58"}])
    assert small["result"]["value"]["data"] == ["", "base58"]
    assert large["error"]["code"] == -32602
    assert "Base64" in large["error"]["message"]


async def test_min_context_slot_ahead_returns_32016(localnet):
    unused = Keypair().pubkey()
    async with AsyncClient(localnet.url) as client:
        slot = (await client.get_slot()).value
        with pytest.raises(RPCException, match="Minimum context slot"):
            await client.get_signatures_for_address(
                unused, min_context_slot=slot + 1_000
            )
        reached = await client.get_signatures_for_address(unused, min_context_slot=slot)
    assert reached.value == []


def test_unknown_method_returns_32601(localnet):
    response = rpc(localnet.url, "getEverything")
    assert response["error"]["code"] == -32601
    assert response["id"] == 7


# A legacy transaction whose only instruction names program index 5 of 1 key.
UNSANITARY_TRANSACTION = base64.b64encode(
    bytes(
        Transaction.new_unsigned(
            Message.new_with_compiled_instructions(
                1,
                0,
                0,
                [Pubkey.new_unique()],
                Hash.default(),
                [CompiledInstruction(5, b"", b"")],
            )
        )
    )
).decode()


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("getBalance", ["not-a-key"]),
        ("getBalance", []),
        ("getAccountInfo", [str(Pubkey.default()), {"encoding": "base64+zstd"}]),
        ("getSignatureStatuses", [["bad"]]),
        ("getMinimumBalanceForRentExemption", [-1]),
        ("sendTransaction", ["AAAA", {"encoding": "base64"}]),
        ("sendTransaction", ["AAAA", {"encoding": "hex"}]),
        ("getProgramAccounts", [str(Pubkey.default()), {"filters": [{"bogus": 1}]}]),
        ("getAccountInfo", [str(Pubkey.default()), {"dataSlice": "all"}]),
        ("getTransaction", ["1" * 88]),
        ("sendTransaction", [UNSANITARY_TRANSACTION, {"encoding": "base64"}]),
        ("simulateTransaction", [UNSANITARY_TRANSACTION, {"encoding": "base64"}]),
    ],
)
def test_invalid_params_return_32602(localnet, method, params):
    response = rpc(localnet.url, method, params)
    assert response["error"]["code"] == -32602, response
    assert response["error"]["message"].startswith("Invalid params")


def test_unparsable_body_returns_32700(localnet):
    response = httpx.post(
        localnet.url,
        content=b'{"jsonrpc": "2.0", "method": ',
        headers={"content-type": "application/json"},
    ).json()
    assert response["error"]["code"] == -32700
    assert response["id"] is None


def test_batch_request(localnet):
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "getSlot"},
        {"jsonrpc": "2.0", "id": 2, "method": "getNothing"},
    ]
    responses = httpx.post(localnet.url, json=batch).json()
    assert "result" in responses[0]
    assert responses[1]["error"]["code"] == -32601


async def test_preflight_error_carries_simulation(localnet, funded_payer):
    async with AsyncClient(localnet.url) as client:
        blockhash = (await client.get_latest_blockhash()).value.blockhash
    transaction = sign(
        [funded_payer],
        transfer_from(funded_payer, 10**6 * LAMPORTS_PER_SOL),
        blockhash,
    )
    encoded = base64.b64encode(bytes(transaction)).decode()
    response = rpc(localnet.url, "sendTransaction", [encoded, {"encoding": "base64"}])
    error = response["error"]
    assert error["code"] == -32002
    assert error["data"]["err"] == {"InstructionError": [0, {"Custom": 1}]}
    assert error["data"]["unitsConsumed"] == 150
    assert error["data"]["logs"]


async def test_base58_and_json_encodings(localnet, funded_payer):
    import base58

    async with AsyncClient(localnet.url) as client:
        blockhash = (await client.get_latest_blockhash()).value.blockhash
    transaction = sign([funded_payer], [memo("base58")], blockhash)
    encoded = base58.b58encode(bytes(transaction)).decode()
    sent = rpc(localnet.url, "sendTransaction", [encoded])
    signature = sent["result"]
    as_base58 = rpc(localnet.url, "getTransaction", [signature, "base58"])["result"]
    as_json = rpc(localnet.url, "getTransaction", [signature, {"encoding": "json"}])
    assert signature == str(transaction.signatures[0])
    assert as_base58["transaction"] == [encoded, "base58"]
    assert as_json["result"]["meta"]["status"] == {"Ok": None}
    assert as_json["result"]["version"] == "legacy"


async def test_failed_status_is_err(localnet, funded_payer):
    async with AsyncClient(localnet.url) as client:
        signature = await send(
            client,
            [funded_payer],
            transfer_from(funded_payer, 10**6 * LAMPORTS_PER_SOL),
            skip_preflight=True,
        )
    statuses = rpc(localnet.url, "getSignatureStatuses", [[str(signature)]])
    status = statuses["result"]["value"][0]
    assert status["status"] == {"Err": {"InstructionError": [0, {"Custom": 1}]}}
    assert status["confirmationStatus"] == "finalized"


async def test_block_time_of_unknown_slot(localnet):
    async with AsyncClient(localnet.url) as client:
        with pytest.raises(RPCException):
            await client.get_block_time(10**9)
