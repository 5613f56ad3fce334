"""Send memo transactions to a program: user traffic for the demo and tests.

Against an SPL Memo build each transaction succeeds. Against the
associated-token program deployed at the same address (the demo's bad
release) each one fails with InvalidInstructionData. Transactions skip
preflight, so failed ones still land and count in the failure rate.
"""

from __future__ import annotations

import logging

from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from slopops.solana.rpc import RpcClient

logger = logging.getLogger(__name__)


async def send_memos(
    rpc: RpcClient, program_id: Pubkey, payer: Keypair, count: int, label: str = "memo"
) -> list[str]:
    """Send ``count`` memo transactions to ``program_id``; return the signatures."""
    signatures = []
    for index in range(count):
        blockhash = (await rpc.latest_blockhash()).blockhash
        instruction = Instruction(program_id, f"{label} {index}".encode(), [])
        message = Message.new_with_blockhash([instruction], payer.pubkey(), blockhash)
        transaction = Transaction([payer], message, blockhash)
        signature = await rpc.send_transaction(bytes(transaction), skip_preflight=True)
        signatures.append(str(signature))
    # DEBUG: the demo sends one transaction at a time, several a second.
    logger.debug("sent %d memo transactions to %s", count, program_id)
    return signatures
