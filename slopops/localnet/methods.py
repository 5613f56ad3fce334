"""The JSON-RPC methods: one handler per method, taking the bank and params.

Commitment is accepted and ignored, because every slot of this chain is
final as soon as it exists. The server checks minContextSlot before calling
a handler.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import solders.message
from solders.account import Account

from slopops.localnet import encoding, params
from slopops.localnet.bank import Bank, Simulation, TransactionRejected
from slopops.localnet.errors import (
    INTERNAL_ERROR,
    SEND_TRANSACTION_PREFLIGHT_FAILURE,
    TRANSACTION_SIGNATURE_VERIFICATION_FAILURE,
    UNSUPPORTED_TRANSACTION_VERSION,
    RpcError,
)

logger = logging.getLogger(__name__)

Handler = Callable[[Bank, list[Any]], Any]
METHODS: dict[str, Handler] = {}

# Limits of agave's RPC server.
MAX_MULTIPLE_ACCOUNTS = 100
MAX_SIGNATURE_STATUSES = 256
MAX_SIGNATURES_FOR_ADDRESS = 1_000
MAX_GET_PROGRAM_ACCOUNT_FILTERS = 4
# A stable stand-in for the feature set id that getVersion reports.
FEATURE_SET_ID = 0


def rpc_method(name: str) -> Callable[[Handler], Handler]:
    """Register a handler under its JSON-RPC method name."""

    def register(handler: Handler) -> Handler:
        METHODS[name] = handler
        return handler

    return register


@rpc_method("getHealth")
def get_health(bank: Bank, _params: list[Any]) -> str:
    return "ok"


@rpc_method("getVersion")
def get_version(bank: Bank, _params: list[Any]) -> dict[str, Any]:
    return {
        "solana-core": encoding.SOLANA_CORE_VERSION,
        "feature-set": FEATURE_SET_ID,
    }


@rpc_method("getGenesisHash")
def get_genesis_hash(bank: Bank, _params: list[Any]) -> str:
    return str(bank.genesis_hash)


@rpc_method("getSlot")
def get_slot(bank: Bank, _params: list[Any]) -> int:
    return bank.slot


@rpc_method("getBlockHeight")
def get_block_height(bank: Bank, _params: list[Any]) -> int:
    return bank.block_height


@rpc_method("getTransactionCount")
def get_transaction_count(bank: Bank, _params: list[Any]) -> int:
    return bank.transaction_count


@rpc_method("getFirstAvailableBlock")
def get_first_available_block(bank: Bank, _params: list[Any]) -> int:
    return 0


@rpc_method("minimumLedgerSlot")
def minimum_ledger_slot(bank: Bank, _params: list[Any]) -> int:
    return 0


@rpc_method("getEpochInfo")
def get_epoch_info(bank: Bank, _params: list[Any]) -> dict[str, Any]:
    schedule = bank.svm.get_epoch_schedule()
    epoch, slot_index = schedule.get_epoch_and_slot_index(bank.slot)
    return {
        "absoluteSlot": bank.slot,
        "blockHeight": bank.block_height,
        "epoch": epoch,
        "slotIndex": slot_index,
        "slotsInEpoch": schedule.get_slots_in_epoch(epoch),
        "transactionCount": bank.transaction_count,
    }


@rpc_method("getEpochSchedule")
def get_epoch_schedule(bank: Bank, _params: list[Any]) -> dict[str, Any]:
    schedule = bank.svm.get_epoch_schedule()
    return {
        "slotsPerEpoch": schedule.slots_per_epoch,
        "leaderScheduleSlotOffset": schedule.leader_schedule_slot_offset,
        "warmup": schedule.warmup,
        "firstNormalEpoch": schedule.first_normal_epoch,
        "firstNormalSlot": schedule.first_normal_slot,
    }


@rpc_method("getLatestBlockhash")
def get_latest_blockhash(bank: Bank, _params: list[Any]) -> dict[str, Any]:
    blockhash = bank.latest_blockhash
    return encoding.with_context(
        bank,
        {
            "blockhash": str(blockhash),
            "lastValidBlockHeight": bank.last_valid_block_height(blockhash),
        },
    )


@rpc_method("isBlockhashValid")
def is_blockhash_valid(bank: Bank, rpc_params: list[Any]) -> dict[str, Any]:
    text = params.positional(rpc_params, 0, "blockhash")
    blockhash = params.hash_value(text)
    return encoding.with_context(bank, bank.is_blockhash_valid(blockhash))


@rpc_method("getFeeForMessage")
def get_fee_for_message(bank: Bank, rpc_params: list[Any]) -> dict[str, Any]:
    raw = params.decode_bytes(params.positional(rpc_params, 0, "message"), "base64")
    try:
        message = solders.message.from_bytes_versioned(raw)
    except ValueError as exc:
        raise params.invalid("failed to deserialize the message") from exc
    if not bank.is_blockhash_valid(message.recent_blockhash):
        return encoding.with_context(bank, None)
    return encoding.with_context(bank, bank.fee_for_message(message))


@rpc_method("getRecentPrioritizationFees")
def get_recent_prioritization_fees(bank: Bank, _params: list[Any]) -> list[Any]:
    # No transaction here competes for block space, so no fee is ever needed.
    return []


@rpc_method("getMinimumBalanceForRentExemption")
def get_minimum_balance_for_rent_exemption(bank: Bank, rpc_params: list[Any]) -> int:
    size = params.integer(params.positional(rpc_params, 0, "data size"), "data size")
    return bank.svm.minimum_balance_for_rent_exemption(size)


@rpc_method("getBalance")
def get_balance(bank: Bank, rpc_params: list[Any]) -> dict[str, Any]:
    address = params.pubkey(params.positional(rpc_params, 0, "address"))
    return encoding.with_context(bank, bank.svm.get_balance(address) or 0)


@rpc_method("getAccountInfo")
def get_account_info(bank: Bank, rpc_params: list[Any]) -> dict[str, Any]:
    address = params.pubkey(params.positional(rpc_params, 0, "address"))
    options = params.config(rpc_params, 1)
    account = _account_json(bank.svm.get_account(address), options)
    return encoding.with_context(bank, account)


@rpc_method("getMultipleAccounts")
def get_multiple_accounts(bank: Bank, rpc_params: list[Any]) -> dict[str, Any]:
    texts = params.string_list(
        params.positional(rpc_params, 0, "addresses"),
        "addresses",
        max_length=MAX_MULTIPLE_ACCOUNTS,
    )
    options = params.config(rpc_params, 1)
    accounts = [
        _account_json(bank.svm.get_account(params.pubkey(text)), options)
        for text in texts
    ]
    return encoding.with_context(bank, accounts)


@rpc_method("getProgramAccounts")
def get_program_accounts(bank: Bank, rpc_params: list[Any]) -> Any:
    program_id = params.pubkey(params.positional(rpc_params, 0, "program id"))
    options = params.config(rpc_params, 1)
    filters = _program_account_filters(options.get("filters") or [])
    matches = [
        {"pubkey": str(address), "account": _account_json(account, options)}
        for address, account in bank.svm.get_program_accounts(program_id)
        if all(accepts(bytes(account.data)) for accepts in filters)
    ]
    if options.get("withContext"):
        return encoding.with_context(bank, matches)
    return matches


@rpc_method("requestAirdrop")
def request_airdrop(bank: Bank, rpc_params: list[Any]) -> str:
    address = params.pubkey(params.positional(rpc_params, 0, "address"))
    lamports = params.integer(params.positional(rpc_params, 1, "lamports"), "lamports")
    try:
        record = bank.airdrop(address, lamports)
    except TransactionRejected as exc:
        raise RpcError(
            INTERNAL_ERROR,
            f"airdrop request failed: {encoding.describe_error(exc.simulation.err)}",
        ) from exc
    logger.info("airdrop of %d lamports to %s: %s", lamports, address, record.signature)
    return str(record.signature)


@rpc_method("sendTransaction")
def send_transaction(bank: Bank, rpc_params: list[Any]) -> str:
    options = params.config(rpc_params, 1)
    transaction = params.transaction(
        params.positional(rpc_params, 0, "transaction"),
        options.get("encoding", "base58"),
    )
    if not all(transaction.verify_with_results()):
        raise RpcError(
            TRANSACTION_SIGNATURE_VERIFICATION_FAILURE,
            "Transaction signature verification failure",
        )
    if not options.get("skipPreflight", False):
        simulation = bank.simulate(transaction)
        if simulation.err is not None:
            raise _preflight_failure(simulation)
    try:
        record = bank.process(transaction)
    except TransactionRejected as exc:
        # A validator would drop such a transaction silently, but this chain
        # makes no blocks while idle, so a client waiting for the blockhash
        # to expire would wait forever: it gets the error at once instead.
        raise _preflight_failure(
            exc.simulation, "Transaction rejected before execution: "
        ) from exc
    return str(record.signature)


@rpc_method("simulateTransaction")
def simulate_transaction(bank: Bank, rpc_params: list[Any]) -> dict[str, Any]:
    options = params.config(rpc_params, 1)
    transaction = params.transaction(
        params.positional(rpc_params, 0, "transaction"),
        options.get("encoding", "base58"),
    )
    sig_verify = bool(options.get("sigVerify", False))
    replace_blockhash = bool(options.get("replaceRecentBlockhash", False))
    if sig_verify and replace_blockhash:
        raise params.invalid("sigVerify may not be used with replaceRecentBlockhash")
    simulation = bank.simulate(
        transaction, sig_verify=sig_verify, check_blockhash=not replace_blockhash
    )
    replacement = None
    if replace_blockhash:
        blockhash = bank.latest_blockhash
        replacement = {
            "blockhash": str(blockhash),
            "lastValidBlockHeight": bank.last_valid_block_height(blockhash),
        }
    result = encoding.simulation_json(
        simulation,
        replacement,
        inner_instructions=bool(options.get("innerInstructions", False)),
    )
    result["accounts"] = _simulated_accounts(bank, simulation, options)
    return encoding.with_context(bank, result)


@rpc_method("getSignatureStatuses")
def get_signature_statuses(bank: Bank, rpc_params: list[Any]) -> dict[str, Any]:
    texts = params.string_list(
        params.positional(rpc_params, 0, "signatures"),
        "signatures",
        max_length=MAX_SIGNATURE_STATUSES,
    )
    statuses = []
    for text in texts:
        record = bank.ledger.get(params.signature(text))
        statuses.append(
            None if record is None else encoding.signature_status_json(record)
        )
    return encoding.with_context(bank, statuses)


@rpc_method("getSignaturesForAddress")
def get_signatures_for_address(bank: Bank, rpc_params: list[Any]) -> list[Any]:
    address = params.pubkey(params.positional(rpc_params, 0, "address"))
    options = params.config(rpc_params, 1)
    limit = params.integer(
        options.get("limit", MAX_SIGNATURES_FOR_ADDRESS), "limit", minimum=1
    )
    if limit > MAX_SIGNATURES_FOR_ADDRESS:
        raise params.invalid(f"limit {limit} exceeds {MAX_SIGNATURES_FOR_ADDRESS}")
    before, until = options.get("before"), options.get("until")
    records = bank.ledger.signatures_for_address(
        address,
        limit=limit,
        before=None if before is None else params.signature(before),
        until=None if until is None else params.signature(until),
    )
    return [encoding.signature_info_json(record) for record in records]


@rpc_method("getTransaction")
def get_transaction(bank: Bank, rpc_params: list[Any]) -> dict[str, Any] | None:
    signature = params.signature(params.positional(rpc_params, 0, "signature"))
    # The second param is a config object, or the encoding alone (older form).
    options = rpc_params[1] if len(rpc_params) > 1 else None
    if isinstance(options, str):
        options = {"encoding": options}
    options = params.mapping(options or {}, "configuration")
    record = bank.ledger.get(signature)
    if record is None:
        return None
    version = record.transaction.version()
    max_version = options.get("maxSupportedTransactionVersion")
    if isinstance(version, int) and (max_version is None or version > max_version):
        raise RpcError(
            UNSUPPORTED_TRANSACTION_VERSION,
            f"Transaction version ({version}) is not supported by the requesting "
            f"client. Please try the request again with the following configuration "
            f'parameter: "maxSupportedTransactionVersion": {version}',
        )
    return encoding.transaction_json(record, options.get("encoding", "json"))


@rpc_method("getBlockTime")
def get_block_time(bank: Bank, rpc_params: list[Any]) -> int:
    slot = params.integer(params.positional(rpc_params, 0, "slot"), "slot")
    block_time = bank.block_time(slot)
    if block_time is None:
        raise RpcError(-32004, f"Block not available for slot {slot}")
    return block_time


def _account_json(account: Account | None, options: dict[str, Any]) -> Any:
    data_slice = options.get("dataSlice")
    if data_slice is not None:
        data_slice = params.mapping(data_slice, "dataSlice")
        data_slice = {
            "offset": params.integer(data_slice.get("offset"), "dataSlice.offset"),
            "length": params.integer(data_slice.get("length"), "dataSlice.length"),
        }
    return encoding.account_json(account, options.get("encoding", "base64"), data_slice)


def _program_account_filters(filters: Any) -> list[Callable[[bytes], bool]]:
    if not isinstance(filters, list) or len(filters) > MAX_GET_PROGRAM_ACCOUNT_FILTERS:
        raise params.invalid(
            f"filters must be a list of at most {MAX_GET_PROGRAM_ACCOUNT_FILTERS}"
        )
    return [_program_account_filter(spec) for spec in filters]


def _program_account_filter(spec: Any) -> Callable[[bytes], bool]:
    if isinstance(spec, dict) and "dataSize" in spec:
        size = params.integer(spec["dataSize"], "dataSize")
        return lambda data: len(data) == size
    if isinstance(spec, dict) and isinstance(spec.get("memcmp"), dict):
        memcmp = spec["memcmp"]
        offset = params.integer(memcmp.get("offset"), "memcmp.offset")
        expected = params.decode_bytes(
            memcmp.get("bytes"), memcmp.get("encoding") or "base58"
        )
        return lambda data: data[offset : offset + len(expected)] == expected
    raise params.invalid(f"unsupported filter {spec!r}; use dataSize or memcmp")


def _simulated_accounts(
    bank: Bank, simulation: Simulation, options: dict[str, Any]
) -> Any:
    requested = options.get("accounts")
    if not requested:
        return None
    requested = params.mapping(requested, "accounts")
    texts = params.string_list(
        requested.get("addresses"),
        "accounts.addresses",
        max_length=MAX_MULTIPLE_ACCOUNTS,
    )
    account_options = {"encoding": requested.get("encoding", "base64")}
    accounts = []
    for text in texts:
        address = params.pubkey(text)
        account = simulation.post_accounts.get(address, bank.svm.get_account(address))
        accounts.append(_account_json(account, account_options))
    return accounts


def _preflight_failure(
    simulation: Simulation, prefix: str = "Transaction simulation failed: "
) -> RpcError:
    return RpcError(
        SEND_TRANSACTION_PREFLIGHT_FAILURE,
        prefix + encoding.describe_error(simulation.err),
        encoding.simulation_json(simulation),
    )
