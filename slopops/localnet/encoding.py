"""JSON shapes of the RPC results, as agave's RPC server writes them.

solana-py 0.41 parses results with solders' serde models, so every field
name and nesting here follows agave's `rpc-client-api` and
`transaction-status` crates.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import base58
from solders.account import Account
from solders.pubkey import Pubkey
from solders.rpc.responses import RpcSimulateTransactionResult
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import InnerInstruction
from solders.transaction_status import TransactionErrorType

from slopops.localnet.bank import Bank, Simulation
from slopops.localnet.error_text import describe_transaction_error
from slopops.localnet.errors import INVALID_PARAMS, RpcError
from slopops.localnet.ledger import TransactionRecord

# The agave release whose RPC shapes this server follows.
SOLANA_CORE_VERSION = "2.1.0"
MEMO_PROGRAM_IDS = frozenset(
    Pubkey.from_string(address)
    for address in (
        "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr",
        "Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo",
    )
)


def with_context(bank: Bank, value: Any) -> dict[str, Any]:
    """Wrap ``value`` in the ``{context, value}`` envelope of a slot-bound result."""
    return {
        "context": {"slot": bank.slot, "apiVersion": SOLANA_CORE_VERSION},
        "value": value,
    }


def error_json(err: TransactionErrorType | None) -> Any:
    """Return a transaction error as RPC JSON, e.g. ``{"InstructionError": [0, …]}``."""
    if err is None:
        return None
    return json.loads(RpcSimulateTransactionResult(err=err).to_json())["err"]


def describe_error(err: TransactionErrorType | None) -> str:
    """Return a transaction error as agave's text, e.g. "Blockhash not found"."""
    return describe_transaction_error(error_json(err))


def encode_data(data: bytes, encoding: str) -> list[str]:
    """Encode account data as ``[text, encoding]``.

    Raises:
        RpcError: The encoding is not supported, or base58 data is too long.
    """
    if encoding == "base58":
        # Agave refuses base58 above 128 bytes because it is slow to encode.
        if len(data) > 128:
            raise RpcError(
                INVALID_PARAMS,
                "Encoded binary (base 58) data should be less than 128 bytes, "
                "please use Base64 encoding.",
            )
        return [base58.b58encode(data).decode(), "base58"]
    if encoding in ("base64", "jsonParsed", "binary"):
        # A validator falls back to base64 for accounts without a jsonParsed
        # parser. This server has no parsers, so it always falls back.
        return [base64.b64encode(data).decode(), "base64"]
    raise RpcError(INVALID_PARAMS, f"Invalid params: unsupported encoding {encoding!r}")


def account_json(
    account: Account | None,
    encoding: str = "base64",
    data_slice: dict[str, int] | None = None,
) -> dict[str, Any] | None:
    """Return an account as a UiAccount, or None if it does not exist."""
    if account is None:
        return None
    data = bytes(account.data)
    if data_slice is not None:
        offset = data_slice["offset"]
        data = data[offset : offset + data_slice["length"]]
    return {
        "lamports": account.lamports,
        "data": encode_data(data, encoding),
        "owner": str(account.owner),
        "executable": account.executable,
        "rentEpoch": account.rent_epoch,
        "space": len(account.data),
    }


def simulation_json(
    simulation: Simulation,
    replacement: dict[str, Any] | None = None,
    *,
    inner_instructions: bool = False,
) -> dict[str, Any]:
    """Return a simulation as an RpcSimulateTransactionResult."""
    inner = None
    if inner_instructions:
        inner = _inner_instructions_json(simulation.inner_instructions)
    return {
        "err": error_json(simulation.err),
        "logs": simulation.logs,
        "accounts": None,
        "unitsConsumed": simulation.units_consumed,
        "returnData": _return_data_json(simulation.return_data),
        "innerInstructions": inner,
        "replacementBlockhash": replacement,
    }


def signature_status_json(record: TransactionRecord) -> dict[str, Any]:
    """Return a landed transaction's status, which is always finalized."""
    err = error_json(record.err)
    return {
        "slot": record.slot,
        "confirmations": None,
        "err": err,
        "status": {"Ok": None} if err is None else {"Err": err},
        "confirmationStatus": "finalized",
    }


def signature_info_json(record: TransactionRecord) -> dict[str, Any]:
    """Return one entry of getSignaturesForAddress."""
    return {
        "signature": str(record.signature),
        "slot": record.slot,
        "err": error_json(record.err),
        "memo": _memos(record.transaction),
        "blockTime": record.block_time,
        "confirmationStatus": "finalized",
    }


def transaction_json(record: TransactionRecord, encoding: str) -> dict[str, Any]:
    """Return a landed transaction as getTransaction's result.

    Raises:
        RpcError: The encoding is not json, base64 or base58.
    """
    transaction = record.transaction
    if encoding in ("json", "jsonParsed"):
        encoded: Any = _ui_transaction(transaction)
    elif encoding == "base64":
        encoded = [base64.b64encode(bytes(transaction)).decode(), "base64"]
    elif encoding == "base58":
        encoded = [base58.b58encode(bytes(transaction)).decode(), "base58"]
    else:
        raise RpcError(
            INVALID_PARAMS, f"Invalid params: unsupported encoding {encoding!r}"
        )
    result: dict[str, Any] = {
        "slot": record.slot,
        "blockTime": record.block_time,
        "transaction": encoded,
        "meta": _meta_json(record),
    }
    version = transaction.version()
    result["version"] = version if isinstance(version, int) else "legacy"
    return result


def _memos(transaction: VersionedTransaction) -> str | None:
    # Agave's format: "[<byte length>] <text>" per memo instruction, joined by "; ".
    message = transaction.message
    keys = list(message.account_keys)
    memos = []
    for instruction in message.instructions:
        if keys[instruction.program_id_index] in MEMO_PROGRAM_IDS:
            data = bytes(instruction.data)
            memos.append(f"[{len(data)}] {data.decode(errors='replace')}")
    return "; ".join(memos) if memos else None


def _meta_json(record: TransactionRecord) -> dict[str, Any]:
    err = error_json(record.err)
    return {
        "err": err,
        "status": {"Ok": None} if err is None else {"Err": err},
        "fee": record.fee_lamports,
        "preBalances": record.pre_balances,
        "postBalances": record.post_balances,
        "innerInstructions": _inner_instructions_json(record.inner_instructions),
        "logMessages": record.logs,
        "preTokenBalances": [],
        "postTokenBalances": [],
        "rewards": [],
        "loadedAddresses": {"writable": [], "readonly": []},
        "returnData": _return_data_json(record.return_data),
        "computeUnitsConsumed": record.compute_units_consumed,
    }


def _inner_instructions_json(
    inner_instructions: list[list[InnerInstruction]],
) -> list[dict[str, Any]]:
    groups = []
    for index, group in enumerate(inner_instructions):
        if not group:
            continue
        instructions = [
            {
                **_compiled_instruction_json(inner.instruction()),
                "stackHeight": inner.stack_height(),
            }
            for inner in group
        ]
        groups.append({"index": index, "instructions": instructions})
    return groups


def _compiled_instruction_json(instruction: Any) -> dict[str, Any]:
    return {
        "programIdIndex": instruction.program_id_index,
        "accounts": list(bytes(instruction.accounts)),
        "data": base58.b58encode(bytes(instruction.data)).decode(),
    }


def _ui_transaction(transaction: VersionedTransaction) -> dict[str, Any]:
    message = transaction.message
    header = message.header
    ui_message: dict[str, Any] = {
        "header": {
            "numRequiredSignatures": header.num_required_signatures,
            "numReadonlySignedAccounts": header.num_readonly_signed_accounts,
            "numReadonlyUnsignedAccounts": header.num_readonly_unsigned_accounts,
        },
        "accountKeys": [str(key) for key in message.account_keys],
        "recentBlockhash": str(message.recent_blockhash),
        "instructions": [
            {**_compiled_instruction_json(instruction), "stackHeight": None}
            for instruction in message.instructions
        ],
    }
    lookups = getattr(message, "address_table_lookups", None)
    if lookups is not None:
        ui_message["addressTableLookups"] = [
            {
                "accountKey": str(lookup.account_key),
                "writableIndexes": list(bytes(lookup.writable_indexes)),
                "readonlyIndexes": list(bytes(lookup.readonly_indexes)),
            }
            for lookup in lookups
        ]
    return {
        "signatures": [str(signature) for signature in transaction.signatures],
        "message": ui_message,
    }


def _return_data_json(return_data: Any) -> dict[str, Any] | None:
    if return_data is None:
        return None
    return {
        "programId": str(return_data.program_id),
        "data": [base64.b64encode(bytes(return_data.data)).decode(), "base64"],
    }
