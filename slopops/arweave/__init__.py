"""Arweave client: wallets, signed chunked uploads, downloads and lookup.

Signing and merkle proofs come from arweave-python-client; all HTTP goes
through :class:`~slopops.arweave.gateway.Gateway` (httpx, timeouts, retries).
"""

from slopops.arweave.download import (
    download_file,
    verify_data,
    wait_for_confirmation,
)
from slopops.arweave.gateway import Gateway, RetryPolicy, TransactionStatus
from slopops.arweave.lookup import FoundTransaction, find_transactions
from slopops.arweave.upload import UploadResult, check_funds, upload_file
from slopops.arweave.wallet import Wallet, generate_wallet, load_wallet

__all__ = [
    "FoundTransaction",
    "Gateway",
    "RetryPolicy",
    "TransactionStatus",
    "UploadResult",
    "Wallet",
    "check_funds",
    "download_file",
    "find_transactions",
    "generate_wallet",
    "load_wallet",
    "upload_file",
    "verify_data",
    "wait_for_confirmation",
]
