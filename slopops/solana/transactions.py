"""Send many transactions with a bounded number in flight, and confirm them.

A transaction is re-sent only after ``getSignatureStatuses`` reported it
unknown: the same signed bytes while its blockhash is still valid, or a fresh
signature on a new blockhash once the block height has passed its
``last_valid_block_height`` (from then on the old one can never land).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from solders.compute_budget import set_compute_unit_price
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import Transaction

from slopops.errors import SlopopsError, TransientError
from slopops.solana.errors import RpcResponseError
from slopops.solana.rpc import LatestBlockhash, RpcClient, SignatureStatus

logger = logging.getLogger(__name__)

# Largest serialized transaction a node accepts (IPv6 MTU minus headers).
PACKET_DATA_SIZE = 1232
_COMMITMENT_RANK = {"processed": 0, "confirmed": 1, "finalized": 2}


class TransactionFailedError(SlopopsError):
    """A transaction landed with an error.

    Attributes:
        label: What the transaction did, such as ``write 12``.
        signature: The transaction signature.
        err: The transaction error object from the node.
    """

    def __init__(self, label: str, signature: str, err: Any) -> None:
        self.label = label
        self.signature = signature
        self.err = err
        super().__init__(
            f"transaction {label!r} ({signature}) failed on chain with {err!r}; "
            "read its logs with getTransaction"
        )


class ConfirmationTimeoutError(TransientError):
    """Transactions were not confirmed within the allowed time.

    Attributes:
        labels: The transactions still unconfirmed.
    """

    def __init__(self, labels: list[str], timeout_seconds: float) -> None:
        self.labels = labels
        super().__init__(
            f"{len(labels)} transactions, first {labels[:3]!r}, were not confirmed "
            f"within {timeout_seconds} s; retry, the finished ones are kept"
        )


@dataclass
class PendingTransaction:
    """A transaction to send: its instructions, signers and send history."""

    label: str
    instructions: list[Instruction]
    signers: list[Keypair]
    wire: bytes = b""
    signature: Signature | None = None
    last_valid_block_height: int = 0
    signed_at: float = 0.0
    sent_at: float = 0.0
    sends: int = 0
    signings: int = 0
    slot: int | None = None
    tags: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendStats:
    """Cost of a batch: signed transactions, HTTP sends and elapsed time."""

    transactions: int
    signings: int
    sends: int
    elapsed_seconds: float


def build_transaction(
    instructions: Sequence[Instruction],
    signers: Sequence[Keypair],
    blockhash: Hash,
) -> Transaction:
    """Sign a legacy transaction; the first signer pays the fee."""
    unique, payer = _unique(signers)
    message = Message.new_with_blockhash(list(instructions), payer, blockhash)
    return Transaction(unique, message, blockhash)


def with_compute_unit_price(
    instructions: Sequence[Instruction], micro_lamports: int
) -> list[Instruction]:
    """Prepend a compute-unit price instruction when the price is not zero."""
    if micro_lamports <= 0:
        return list(instructions)
    return [set_compute_unit_price(micro_lamports), *instructions]


class TransactionSender:
    """Sign, send and confirm transactions with at most ``max_in_flight`` pending.

    Args:
        rpc: The RPC client.
        max_in_flight: Transactions sent but not yet confirmed, at most.
        poll_interval_seconds: Pause between status polls when nothing changed.
        resend_interval_seconds: Age after which an unconfirmed transaction's
            bytes are sent again (while its blockhash is valid).
        timeout_seconds: Give up on a batch after this long.
        skip_preflight: Skip the node's simulation before it forwards.
        blockhash_max_age_seconds: Fetch a new blockhash for new transactions
            once the current one is this old. A blockhash is valid for 150
            blocks, about 60 s at 400 ms per slot.
    """

    def __init__(
        self,
        rpc: RpcClient,
        *,
        max_in_flight: int = 32,
        poll_interval_seconds: float = 0.02,
        resend_interval_seconds: float = 2.0,
        timeout_seconds: float = 300.0,
        skip_preflight: bool = False,
        blockhash_max_age_seconds: float = 20.0,
    ) -> None:
        self.rpc = rpc
        self.max_in_flight = max_in_flight
        self.poll_interval_seconds = poll_interval_seconds
        self.resend_interval_seconds = resend_interval_seconds
        self.timeout_seconds = timeout_seconds
        self.skip_preflight = skip_preflight
        self.blockhash_max_age_seconds = blockhash_max_age_seconds
        self._blockhash: LatestBlockhash | None = None
        self._blockhash_fetched_at = 0.0

    async def send_one(
        self, pending: PendingTransaction, *, skip_preflight: bool | None = None
    ) -> PendingTransaction:
        """Send one transaction and wait for its confirmation."""
        await self.send_all([pending], skip_preflight=skip_preflight)
        return pending

    async def send_all(
        self,
        transactions: Sequence[PendingTransaction],
        on_confirmed: Callable[[PendingTransaction], None] | None = None,
        *,
        skip_preflight: bool | None = None,
    ) -> SendStats:
        """Send ``transactions`` and return when every one is confirmed.

        Args:
            transactions: The transactions, sent in this order.
            on_confirmed: Called once per transaction when it is confirmed.
            skip_preflight: Overrides the sender's ``skip_preflight``.

        Raises:
            TransactionFailedError: A transaction landed with an error; the
                others already sent may still land.
            ConfirmationTimeoutError: ``timeout_seconds`` passed first.
        """
        started = time.monotonic()
        skip = self.skip_preflight if skip_preflight is None else skip_preflight
        queue = list(reversed(transactions))
        in_flight: list[PendingTransaction] = []
        while queue or in_flight:
            if time.monotonic() - started > self.timeout_seconds:
                labels = [p.label for p in in_flight + queue]
                raise ConfirmationTimeoutError(labels, self.timeout_seconds)
            fresh: list[PendingTransaction] = []
            while queue and len(in_flight) + len(fresh) < self.max_in_flight:
                fresh.append(queue.pop())
            if fresh:
                await self._sign_all(fresh)
            in_flight.extend(fresh)
            # One round trip sends the fresh transactions and reads the status
            # of all in flight. The next wave is signed while it is on the wire.
            round_trip = asyncio.ensure_future(
                self._send_and_read(fresh, in_flight, skip)
            )
            if fresh:
                await self._sign_all(queue[-self.max_in_flight :])
            statuses = await round_trip
            confirmed = await self._settle(in_flight, statuses, skip)
            for pending in confirmed:
                in_flight.remove(pending)
                if on_confirmed is not None:
                    on_confirmed(pending)
            if not confirmed and not (queue and len(in_flight) < self.max_in_flight):
                await asyncio.sleep(self.poll_interval_seconds)
        return SendStats(
            transactions=len(transactions),
            signings=sum(p.signings for p in transactions),
            sends=sum(p.sends for p in transactions),
            elapsed_seconds=time.monotonic() - started,
        )

    async def _sign_all(self, batch: list[PendingTransaction]) -> None:
        """Sign the transactions not signed yet or signed on an old blockhash."""
        now = time.monotonic()
        unsigned = [
            p
            for p in batch
            if not p.wire or now - p.signed_at > self.blockhash_max_age_seconds
        ]
        if not unsigned:
            return
        blockhash = await self._current_blockhash()
        for pending in unsigned:
            _sign(pending, blockhash)

    async def _current_blockhash(self, refresh: bool = False) -> LatestBlockhash:
        age = time.monotonic() - self._blockhash_fetched_at
        if self._blockhash is None or refresh or age > self.blockhash_max_age_seconds:
            self._blockhash = await self.rpc.latest_blockhash()
            self._blockhash_fetched_at = time.monotonic()
        return self._blockhash

    async def _send(
        self, batch: list[PendingTransaction], skip_preflight: bool
    ) -> None:
        """Send ``batch`` in one JSON-RPC batch request.

        An endpoint that does not take batches gets one request per item.
        """
        await self._send_and_read(batch, [], skip_preflight)

    async def _send_and_read(
        self,
        batch: list[PendingTransaction],
        in_flight: list[PendingTransaction],
        skip_preflight: bool,
    ) -> list[SignatureStatus | None] | None:
        """Send ``batch``, then read the status of each of ``in_flight``.

        Returns:
            One status per ``in_flight`` transaction, or None when the
            statuses could not be read (so nothing is known this round).

        Raises:
            RpcUnavailableError: ``batch`` is empty and the status read failed.
        """
        now = time.monotonic()
        for pending in batch:
            pending.sends += 1
            pending.sent_at = now
        try:
            outcomes, statuses = await self.rpc.send_transactions_with_statuses(
                [p.wire for p in batch],
                [p.signature for p in in_flight if p.signature is not None],
                skip_preflight=skip_preflight,
            )
        except TransientError as exc:
            if not batch:
                raise
            # The status is unknown: the next read decides whether to send again.
            logger.debug("sending %d transactions failed: %s", len(batch), exc)
            return None
        for pending, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, SlopopsError):
                self._check_send_error(pending, outcome)
        return statuses

    def _check_send_error(self, pending: PendingTransaction, exc: SlopopsError) -> None:
        if isinstance(exc, TransientError):
            logger.debug("send of %s failed: %s", pending.label, exc)
            return
        message = exc.rpc_message.lower() if isinstance(exc, RpcResponseError) else ""
        if "already been processed" in message:
            return
        if "blockhash not found" in message:
            # Unknown to this node yet, or expired: the poll loop signs again
            # once the block height shows that it expired.
            logger.debug("blockhash of %s not found", pending.label)
            return
        raise exc

    async def _settle(
        self,
        in_flight: list[PendingTransaction],
        statuses: list[SignatureStatus | None] | None,
        skip_preflight: bool,
    ) -> list[PendingTransaction]:
        """Return the newly confirmed transactions; re-send the unknown ones.

        ``statuses`` has one entry per ``in_flight`` transaction, or is None
        when they could not be read; then nothing is confirmed or re-sent.
        """
        if not in_flight or statuses is None:
            return []
        found = dict(zip((id(p) for p in in_flight), statuses, strict=True))
        unknown = [p for p in in_flight if found[id(p)] is None]
        if unknown:
            found.update(await self._resend_unknown(unknown, skip_preflight))
        confirmed = []
        for pending in in_flight:
            status = found[id(pending)]
            if status is None:
                continue
            if status.err is not None:
                raise TransactionFailedError(
                    pending.label, str(pending.signature), status.err
                )
            if _reached(status.confirmation_status, self.rpc.commitment):
                pending.slot = status.slot
                confirmed.append(pending)
        return confirmed

    async def _resend_unknown(
        self, unknown: list[PendingTransaction], skip_preflight: bool
    ) -> dict[int, SignatureStatus]:
        """Re-send transactions not seen for ``resend_interval_seconds``.

        Returns:
            Statuses, keyed by ``id(pending)``, of expired transactions that
            the ledger shows as landed after all; these are not sent again.
        """
        now = time.monotonic()
        stale = [p for p in unknown if now - p.sent_at >= self.resend_interval_seconds]
        if not stale:
            return {}
        height = await self.rpc.block_height()
        landed = await self._landed(
            [p for p in stale if height > p.last_valid_block_height]
        )
        stale = [p for p in stale if id(p) not in landed]
        expired = [p for p in stale if height > p.last_valid_block_height]
        if expired:
            blockhash = await self._current_blockhash(refresh=True)
            for pending in expired:
                logger.debug("blockhash of %s expired; signing again", pending.label)
                _sign(pending, blockhash)
        for pending in stale:
            logger.debug("re-sending %s (%s)", pending.label, pending.signature)
        if stale:
            await self._send(stale, skip_preflight)
        return landed

    async def _landed(
        self, expired: list[PendingTransaction]
    ) -> dict[int, SignatureStatus]:
        """Look up expired transactions in the ledger, beyond the status cache.

        A transaction that landed and then left the recent status cache must
        not be signed again, or it would run twice.
        """
        if not expired:
            return {}
        statuses = await self.rpc.signature_statuses(
            [p.signature for p in expired if p.signature is not None],
            search_history=True,
        )
        return {
            id(p): s for p, s in zip(expired, statuses, strict=True) if s is not None
        }


def _sign(pending: PendingTransaction, blockhash: LatestBlockhash) -> None:
    transaction = build_transaction(
        pending.instructions, pending.signers, blockhash.blockhash
    )
    pending.wire = bytes(transaction)
    pending.signature = transaction.signatures[0]
    pending.last_valid_block_height = blockhash.last_valid_block_height
    pending.signed_at = time.monotonic()
    pending.signings += 1


def _reached(status: str | None, commitment: str) -> bool:
    if status is None:
        return False
    return _COMMITMENT_RANK.get(status, -1) >= _COMMITMENT_RANK.get(commitment, 1)


def _unique(signers: Sequence[Keypair]) -> tuple[list[Keypair], Pubkey]:
    """Return the signers without repeats, and the first signer's public key.

    ``Keypair.pubkey()`` takes about 20 us in solders 0.29 because it derives
    the key, so each signer's is computed once. Five calls a transaction cost
    about 9 ms of CPU in a 104-write buffer phase (cProfile, one run).
    """
    pubkeys = [signer.pubkey() for signer in signers]
    seen = set()
    unique = []
    for signer, pubkey in zip(signers, pubkeys, strict=True):
        if pubkey not in seen:
            seen.add(pubkey)
            unique.append(signer)
    return unique, pubkeys[0]
