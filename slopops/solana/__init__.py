"""Solana JSON-RPC client with failover, transaction sending and keypair files."""

from slopops.solana.errors import (
    KeypairError,
    PreflightFailedError,
    RpcResponseError,
    RpcUnavailableError,
)
from slopops.solana.keypair import load_keypair, save_keypair
from slopops.solana.rpc import AccountInfo, LatestBlockhash, RpcClient, SignatureStatus
from slopops.solana.transactions import (
    ConfirmationTimeoutError,
    PendingTransaction,
    SendStats,
    TransactionFailedError,
    TransactionSender,
    build_transaction,
    with_compute_unit_price,
)

__all__ = [
    "AccountInfo",
    "ConfirmationTimeoutError",
    "KeypairError",
    "LatestBlockhash",
    "PendingTransaction",
    "PreflightFailedError",
    "RpcClient",
    "RpcResponseError",
    "RpcUnavailableError",
    "SendStats",
    "SignatureStatus",
    "TransactionFailedError",
    "TransactionSender",
    "build_transaction",
    "load_keypair",
    "save_keypair",
    "with_compute_unit_price",
]
