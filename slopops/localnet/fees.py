"""Transaction fees as LiteSVM (solders 0.29) charges them, for getFeeForMessage.

fee = 5,000 lamports per signature
    + ceil(compute unit price in micro-lamports x compute unit limit / 10^6)

The compute unit limit is the SetComputeUnitLimit value. Without one, it is
3,000 units per builtin-program instruction plus 200,000 per other
instruction, capped at 1,400,000, as in agave's compute budget rules. The
tests compare these fees with LiteSVM's for memo and transfer transactions.
"""

from __future__ import annotations

import math
import struct
from typing import Any

from solders.pubkey import Pubkey

LAMPORTS_PER_SIGNATURE = 5_000
MICRO_LAMPORTS_PER_LAMPORT = 1_000_000
DEFAULT_INSTRUCTION_COMPUTE_UNIT_LIMIT = 200_000
MAX_BUILTIN_ALLOCATION_COMPUTE_UNIT_LIMIT = 3_000
MAX_COMPUTE_UNIT_LIMIT = 1_400_000

COMPUTE_BUDGET_PROGRAM_ID = Pubkey.from_string(
    "ComputeBudget111111111111111111111111111111"
)
# NOTE: the precompiles (ed25519, secp256k1, secp256r1) are left out and
# their signatures are not counted, so fees of transactions using them may
# be quoted too low.
BUILTIN_PROGRAM_IDS = frozenset(
    Pubkey.from_string(address)
    for address in (
        "11111111111111111111111111111111",
        "Vote111111111111111111111111111111111111111",
        "Stake11111111111111111111111111111111111111",
        "Config1111111111111111111111111111111111111",
        "BPFLoader1111111111111111111111111111111111",
        "BPFLoader2111111111111111111111111111111111",
        "BPFLoaderUpgradeab1e11111111111111111111111",
        "LoaderV411111111111111111111111111111111111",
        "AddressLookupTab1e1111111111111111111111111",
        "ComputeBudget111111111111111111111111111111",
        "ZkE1Gama1Proof11111111111111111111111111111",
    )
)

_SET_COMPUTE_UNIT_LIMIT = 2
_SET_COMPUTE_UNIT_PRICE = 3


def transaction_fee(message: Any) -> int:
    """Return the fee in lamports of a legacy or v0 ``message``."""
    keys = list(message.account_keys)
    unit_limit: int | None = None
    unit_price = 0
    default_limit = 0
    for instruction in message.instructions:
        program_id = keys[instruction.program_id_index]
        data = bytes(instruction.data)
        if program_id == COMPUTE_BUDGET_PROGRAM_ID and data:
            if data[0] == _SET_COMPUTE_UNIT_LIMIT and len(data) >= 5:
                (unit_limit,) = struct.unpack_from("<I", data, 1)
            elif data[0] == _SET_COMPUTE_UNIT_PRICE and len(data) >= 9:
                (unit_price,) = struct.unpack_from("<Q", data, 1)
        if program_id in BUILTIN_PROGRAM_IDS:
            default_limit += MAX_BUILTIN_ALLOCATION_COMPUTE_UNIT_LIMIT
        else:
            default_limit += DEFAULT_INSTRUCTION_COMPUTE_UNIT_LIMIT
    limit = min(
        default_limit if unit_limit is None else unit_limit, MAX_COMPUTE_UNIT_LIMIT
    )
    priority_fee = math.ceil(unit_price * limit / MICRO_LAMPORTS_PER_LAMPORT)
    signatures = message.header.num_required_signatures
    return LAMPORTS_PER_SIGNATURE * signatures + priority_fee
