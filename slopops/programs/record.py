"""The record of one program change: its pending draft, then its store entry.

A release and a rollback each write a draft record before they send the
deploy or Upgrade transaction, so an interrupted run can record a change that
landed. Once the change is verified on chain, the draft becomes a numbered
record in the release store.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from slopops.programs.deploy import DeployOutcome, VerifiedProgram
from slopops.programs.errors import DeployRejectedError
from slopops.programs.store import ReleaseRecord, ReleaseStore
from slopops.programs.target import Session

UNKNOWN_SIGNATURE = "unknown: sent by an interrupted run"


@contextmanager
def pending_draft(
    session: Session, draft: ReleaseRecord, payer_balance_lamports: int
) -> Iterator[None]:
    """Keep ``draft`` as the program's pending record while its change is sent.

    A rejected transaction changed nothing, so its draft is removed. Any other
    error leaves the draft for the next run to check against the chain.
    """
    files = session.target.store()
    files.write_pending(draft, payer_balance_lamports)
    try:
        yield
    except DeployRejectedError:
        files.clear_pending(draft.program)
        raise


async def append_landed(
    session: Session,
    store: ReleaseStore,
    draft: ReleaseRecord,
    verified: VerifiedProgram,
    balance_before_lamports: int,
    outcome: DeployOutcome | None,
    transaction: str,
    recovered_lamports: int = 0,
) -> ReleaseRecord:
    """Append the record of a verified change and remove its pending draft.

    Call it after every transaction of the change, so that the fees and rent
    they cost count in ``lamports_spent``.

    Args:
        session: The signing session; its fee payer's balance is read.
        store: The release store that gets the record.
        draft: The pending draft of the change.
        verified: The on-chain program after the change.
        balance_before_lamports: The fee payer's balance before the change.
        outcome: The sent transactions, or None when an interrupted run sent
            them, so their signature is unknown.
        transaction: The signature key of the transaction that changed the
            program (``deploy`` or ``upgrade``), for an unknown signature.
        recovered_lamports: Lamports returned by closed buffers.
    """
    balance = await session.rpc.balance(session.payer.pubkey())
    signatures = dict(draft.signatures)
    if outcome is None:
        signatures[transaction] = UNKNOWN_SIGNATURE
    else:
        signatures.update(outcome.signatures)
    record = store.append(
        replace(
            draft,
            size_bytes=verified.size_bytes,
            slot=verified.slot,
            signatures=signatures,
            lamports_spent=balance_before_lamports - balance,
            recovered_lamports=recovered_lamports,
        )
    )
    session.target.store().clear_pending(draft.program)
    return record
