"""The chain's transaction history: every landed transaction, kept in memory.

LiteSVM keeps only a few dozen transactions, so the server keeps its own
record of each one for getSignatureStatuses, getSignaturesForAddress and
getTransaction, for as long as the server runs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import InnerInstruction
from solders.transaction_status import TransactionErrorType, TransactionReturnData


@dataclass(frozen=True)
class TransactionRecord:
    """One landed transaction, successful or failed, with its status meta."""

    signature: Signature
    slot: int
    block_time: int
    transaction: VersionedTransaction
    err: TransactionErrorType | None
    fee_lamports: int
    pre_balances: list[int]
    post_balances: list[int]
    logs: list[str]
    compute_units_consumed: int
    inner_instructions: list[list[InnerInstruction]]
    return_data: TransactionReturnData | None


class Ledger:
    """Landed transactions by signature and by the addresses they touch."""

    def __init__(self) -> None:
        self._by_signature: dict[Signature, TransactionRecord] = {}
        self._by_address: defaultdict[Pubkey, list[Signature]] = defaultdict(list)

    def __len__(self) -> int:
        return len(self._by_signature)

    def add(self, record: TransactionRecord) -> None:
        """Store ``record`` and index it under each of its account keys."""
        self._by_signature[record.signature] = record
        for key in dict.fromkeys(record.transaction.message.account_keys):
            self._by_address[key].append(record.signature)

    def get(self, signature: Signature) -> TransactionRecord | None:
        """Return the record of ``signature``, or None if it never landed."""
        return self._by_signature.get(signature)

    def signatures_for_address(
        self,
        address: Pubkey,
        *,
        limit: int,
        before: Signature | None = None,
        until: Signature | None = None,
    ) -> list[TransactionRecord]:
        """Return the address's transactions, newest first.

        Args:
            address: Any account key of the transactions.
            limit: The maximum number of records returned.
            before: Start after this signature (exclusive).
            until: Stop before this signature (exclusive).
        """
        records: list[TransactionRecord] = []
        started = before is None
        for signature in reversed(self._by_address.get(address, [])):
            if not started:
                started = signature == before
                continue
            if signature == until or len(records) == limit:
                break
            records.append(self._by_signature[signature])
        return records
