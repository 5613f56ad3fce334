"""Helpers of the local chain tests: build, sign and send transactions."""

from __future__ import annotations

from typing import Any

import httpx
from solana.rpc.async_api import AsyncClient
from solana.rpc.models import TxOpts
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

MEMO_V3_PROGRAM_ID = Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr")


def memo(text: str, *signers: Pubkey) -> Instruction:
    """Return an SPL Memo v3 instruction."""
    from solders.instruction import AccountMeta

    accounts = [
        AccountMeta(signer, is_signer=True, is_writable=False) for signer in signers
    ]
    return Instruction(MEMO_V3_PROGRAM_ID, text.encode(), accounts)


def sign(
    signers: list[Keypair], instructions: list[Instruction], blockhash: Hash
) -> VersionedTransaction:
    """Return a legacy transaction paid by ``signers[0]``."""
    message = Message.new_with_blockhash(instructions, signers[0].pubkey(), blockhash)
    return VersionedTransaction(message, signers)


async def send(
    client: AsyncClient,
    signers: list[Keypair],
    instructions: list[Instruction],
    *,
    skip_preflight: bool = False,
) -> Signature:
    """Sign with the latest blockhash and send; the transaction lands at once."""
    blockhash = (await client.get_latest_blockhash()).value.blockhash
    transaction = sign(signers, instructions, blockhash)
    options = TxOpts(skip_preflight=skip_preflight, skip_confirmation=True)
    return (await client.send_transaction(transaction, opts=options)).value


def rpc(url: str, method: str, params: list[Any] | None = None) -> dict[str, Any]:
    """Send one raw JSON-RPC request and return the decoded response object."""
    request = {"jsonrpc": "2.0", "id": 7, "method": method, "params": params or []}
    return httpx.post(url, json=request, timeout=10.0).json()
