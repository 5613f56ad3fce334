"""The chain state: LiteSVM plus slots, blockhashes, a faucet and a ledger.

LiteSVM executes transactions but has no blocks. :class:`Bank` adds what a
validator's RPC clients rely on:

- Every landed transaction gets its own slot, and each slot its own
  blockhash. Blockhashes derive from the genesis hash, so chains of
  different seeds never share one.
- A blockhash stays valid for :data:`MAX_PROCESSING_AGE` blocks, as on a
  validator. LiteSVM itself accepts only its latest blockhash, so its own
  check is off and this class checks instead.
- Airdrops are real transfers from a faucet account, so they have
  signatures and history like any other transaction.
- The :class:`~slopops.localnet.ledger.Ledger` keeps every landed
  transaction for as long as the process lives.

A slot is final as soon as it exists, because the chain has one node and no
forks. The bank is not thread-safe, so the server serializes every call.

NOTE: a validator packs many transactions into one slot, but here each takes
a slot of its own. So a burst of more than 150 transactions signed with one
blockhash expires it midway and the rest fail with BlockhashNotFound. Clients
must sign again with a fresh blockhash, as they must after expiry anywhere.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from solders.account import Account
from solders.hash import Hash
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import Message, VersionedMessage
from solders.pubkey import Pubkey
from solders.system_program import ID as SYSTEM_PROGRAM_ID
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction, VersionedTransaction
from solders.transaction_metadata import (
    FailedTransactionMetadata,
    InnerInstruction,
    TransactionMetadata,
)
from solders.transaction_status import (
    TransactionErrorFieldless,
    TransactionErrorType,
    TransactionReturnData,
)

from slopops.localnet.fees import transaction_fee
from slopops.localnet.ledger import Ledger, TransactionRecord

logger = logging.getLogger(__name__)

# A blockhash is valid for 150 blocks after its own, as agave's
# MAX_PROCESSING_AGE. So lastValidBlockHeight is the blockhash's height + 150.
MAX_PROCESSING_AGE = 150
# 500 million SOL, enough for 5 million airdrops of 100 SOL.
FAUCET_LAMPORTS = 500_000_000 * 1_000_000_000


def genesis_hash_for(seed: str) -> Hash:
    """Return the genesis hash of the chain started with ``seed``.

    The settings profiles pin these values, so the derivation must not change.
    """
    return Hash(hashlib.sha256(b"slopops-localnet:" + seed.encode()).digest())


@dataclass(frozen=True)
class Simulation:
    """The outcome of running a transaction without committing it."""

    err: TransactionErrorType | None
    logs: list[str]
    units_consumed: int
    fee_lamports: int
    return_data: TransactionReturnData | None = None
    # Per top-level instruction, the instructions it invoked (CPI).
    inner_instructions: list[list[InnerInstruction]] = field(default_factory=list)
    # Accounts as the transaction left them. Empty when it failed.
    post_accounts: dict[Pubkey, Account] = field(default_factory=dict)


class TransactionRejected(Exception):
    """A transaction failed before execution, so it did not land.

    Rejected transactions pay no fee and leave no history: a bad signature,
    an unknown blockhash, a duplicate, a fee payer that cannot pay.
    """

    def __init__(self, simulation: Simulation) -> None:
        self.simulation = simulation
        super().__init__(str(simulation.err))


class Bank:
    """One chain: LiteSVM state, its slot clock, blockhash window and ledger."""

    def __init__(self, seed: str, *, max_processing_age: int = MAX_PROCESSING_AGE):
        self.seed = seed
        self.genesis_hash = genesis_hash_for(seed)
        self.max_processing_age = max_processing_age
        self.ledger = Ledger()
        self.slot = 0
        self.transaction_count = 0
        self._svm = LiteSVM().with_blockhash_check(False)
        self._faucet = Keypair.from_seed(
            hashlib.sha256(b"slopops-localnet-faucet:" + seed.encode()).digest()
        )
        self._svm.set_account(
            self._faucet.pubkey(),
            Account(FAUCET_LAMPORTS, b"", SYSTEM_PROGRAM_ID, False, 0),
        )
        # Blockhash to the block height that produced it, oldest first.
        self._blockhashes: OrderedDict[Hash, int] = OrderedDict()
        self._block_times: dict[int, int] = {}
        self._enter_slot(0)

    @property
    def svm(self) -> LiteSVM:
        """The LiteSVM instance, for reads that need no bookkeeping."""
        return self._svm

    @property
    def faucet(self) -> Pubkey:
        """The address airdrops come from."""
        return self._faucet.pubkey()

    @property
    def block_height(self) -> int:
        """The current block height, equal to the slot: every slot has a block."""
        return self.slot

    @property
    def latest_blockhash(self) -> Hash:
        """The blockhash of the current slot."""
        return next(reversed(self._blockhashes))

    def last_valid_block_height(self, blockhash: Hash) -> int | None:
        """Return the last block height at which ``blockhash`` is valid."""
        height = self._blockhashes.get(blockhash)
        return None if height is None else height + self.max_processing_age

    def is_blockhash_valid(self, blockhash: Hash) -> bool:
        """Return whether a transaction with ``blockhash`` can land now."""
        return blockhash in self._blockhashes

    def block_time(self, slot: int) -> int | None:
        """Return the Unix time in seconds of ``slot``, if it exists."""
        return self._block_times.get(slot)

    def fee_for_message(self, message: VersionedMessage) -> int:
        """Return the fee in lamports that ``message`` would pay."""
        return transaction_fee(message)

    def simulate(
        self,
        transaction: VersionedTransaction,
        *,
        sig_verify: bool = True,
        check_blockhash: bool = True,
    ) -> Simulation:
        """Run ``transaction`` against the current state and discard the result."""
        rejection = self._precheck(transaction, check_blockhash=check_blockhash)
        if rejection is not None:
            return rejection
        self._svm.with_sigverify(sig_verify)
        try:
            result = self._svm.simulate_transaction(transaction)
        finally:
            self._svm.with_sigverify(True)
        if isinstance(result, FailedTransactionMetadata):
            return _simulation(result.meta(), result.err())
        simulation = _simulation(result.meta(), None)
        simulation.post_accounts.update(result.post_accounts())
        return simulation

    def process(self, transaction: VersionedTransaction) -> TransactionRecord:
        """Execute ``transaction``, then record it and open a new slot if it lands.

        A transaction that fails during execution still lands: it pays its fee
        and is recorded with its error.

        Raises:
            TransactionRejected: The transaction failed before execution.
        """
        rejection = self._precheck(transaction, check_blockhash=True)
        if rejection is not None:
            raise TransactionRejected(rejection)
        # NOTE: v0 transactions list only their static keys here, so accounts
        # loaded from address lookup tables get no balances in the record.
        keys = list(transaction.message.account_keys)
        pre_balances = [self._balance(key) for key in keys]
        result = self._svm.send_transaction(transaction)
        signature = transaction.signatures[0]
        if isinstance(result, FailedTransactionMetadata):
            meta, err = result.meta(), result.err()
        else:
            meta, err = result, None
        if self._svm.get_transaction(signature) is None:
            raise TransactionRejected(_simulation(meta, err))
        record = TransactionRecord(
            signature=signature,
            slot=self.slot,
            block_time=self._block_times[self.slot],
            transaction=transaction,
            err=err,
            fee_lamports=meta.fee(),
            pre_balances=pre_balances,
            post_balances=[self._balance(key) for key in keys],
            logs=list(meta.logs()),
            compute_units_consumed=meta.compute_units_consumed(),
            inner_instructions=list(meta.inner_instructions()),
            return_data=_return_data(meta),
        )
        self.ledger.add(record)
        self.transaction_count += 1
        logger.debug("%s landed in slot %d (err %s)", signature, self.slot, err)
        self._enter_slot(self.slot + 1)
        return record

    def airdrop(self, address: Pubkey, lamports: int) -> TransactionRecord:
        """Transfer ``lamports`` from the faucet to ``address`` in a transaction.

        Raises:
            TransactionRejected: The transfer failed before execution.
        """
        instruction = transfer(
            TransferParams(
                from_pubkey=self.faucet, to_pubkey=address, lamports=lamports
            )
        )
        message = Message([instruction], self.faucet)
        legacy = Transaction([self._faucet], message, self.latest_blockhash)
        return self.process(VersionedTransaction.from_legacy(legacy))

    def _precheck(
        self, transaction: VersionedTransaction, *, check_blockhash: bool
    ) -> Simulation | None:
        # LiteSVM's history keeps only the newest transactions, so duplicates
        # and blockhash age are checked against this bank's own records.
        if self.ledger.get(transaction.signatures[0]) is not None:
            return _rejection(TransactionErrorFieldless.AlreadyProcessed)
        blockhash = transaction.message.recent_blockhash
        if check_blockhash and not self.is_blockhash_valid(blockhash):
            return _rejection(TransactionErrorFieldless.BlockhashNotFound)
        return None

    def _balance(self, address: Pubkey) -> int:
        return self._svm.get_balance(address) or 0

    def _enter_slot(self, slot: int) -> None:
        # Each slot gets a new clock, so LiteSVM allows the next deploy,
        # upgrade or extend of a program (one per program per slot).
        now = int(time.time())
        self.slot = slot
        self._svm.warp_to_slot(slot)
        clock = self._svm.get_clock()
        clock.unix_timestamp = now
        self._svm.set_clock(clock)
        self._block_times[slot] = now
        blockhash = Hash(
            hashlib.sha256(
                bytes(self.genesis_hash) + slot.to_bytes(8, "little")
            ).digest()
        )
        self._blockhashes[blockhash] = slot
        while len(self._blockhashes) > self.max_processing_age + 1:
            self._blockhashes.popitem(last=False)
        logger.debug("slot %d, blockhash %s", slot, blockhash)


def _simulation(
    meta: TransactionMetadata, err: TransactionErrorType | None
) -> Simulation:
    return Simulation(
        err=err,
        logs=list(meta.logs()),
        units_consumed=meta.compute_units_consumed(),
        fee_lamports=meta.fee(),
        return_data=_return_data(meta),
        inner_instructions=list(meta.inner_instructions()),
    )


def _rejection(err: TransactionErrorType) -> Simulation:
    return Simulation(err=err, logs=[], units_consumed=0, fee_lamports=0)


def _return_data(meta: TransactionMetadata) -> TransactionReturnData | None:
    return_data = meta.return_data()
    return return_data if return_data.data else None
