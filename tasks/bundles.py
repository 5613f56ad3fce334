"""Publish a bundle's manifest: to Arweave, and its transaction id in a memo.

Optional for a promotion: the manifest on Arweave lets anyone check what a
release contained, and the memo on chain ties the Arweave transaction to the
cluster the release went to.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from solders.instruction import Instruction
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import Transaction

from config import Settings
from slopops.arweave import Gateway, load_wallet, upload_file
from slopops.bundles import Bundle
from slopops.bundles.manifest import MANIFEST_NAME
from slopops.errors import SlopopsError
from slopops.solana.keypair import load_keypair
from slopops.solana.rpc import RpcClient, SignatureStatus

# SPL Memo v3: its address on mainnet-beta and devnet, and built into LiteSVM.
MEMO_PROGRAM_ID = Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr")


class MemoFailedError(SlopopsError):
    """The memo transaction carrying a manifest's Arweave id failed.

    Attributes:
        signature: The transaction signature.
    """

    def __init__(self, signature: str, err: object) -> None:
        self.signature = signature
        super().__init__(
            f"memo transaction {signature!r} failed with {err!r}; check the fee "
            "payer and retry the promotion"
        )


@dataclass(frozen=True)
class PublishedManifest:
    """The Arweave transaction and memo signature of a published manifest."""

    arweave_transaction_id: str
    memo_signature: str


@task(name="publish-manifest", cache_policy=NO_CACHE)
async def publish_manifest(settings: Settings, bundle: Bundle) -> PublishedManifest:
    """Upload the manifest to Arweave and write its id in an on-chain memo."""
    logger = get_run_logger()
    transaction_id = _upload_manifest(settings, bundle)
    logger.info(
        "manifest of bundle %s is Arweave transaction %s",
        bundle.bundle_id,
        transaction_id,
    )

    memo = f"slopmachine-ops bundle {bundle.bundle_id} ar:{transaction_id}"
    signature = await _send_memo(settings, memo)
    logger.info("memo %s records the manifest on %s", signature, settings.environment)
    return PublishedManifest(transaction_id, signature)


def _upload_manifest(settings: Settings, bundle: Bundle) -> str:
    gateway = Gateway(
        str(settings.arweave.gateway_url),
        timeout_seconds=settings.arweave.chunk_timeout_seconds,
    )
    wallet = load_wallet(settings.resolve(settings.arweave.wallet_path))
    state_dir = settings.resolve(settings.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    result = upload_file(
        gateway,
        wallet,
        bundle.path / MANIFEST_NAME,
        tags={
            "App-Name": "slopmachine-ops",
            "Content-Type": "application/json",
            "Bundle-Id": bundle.bundle_id,
            "Environment": settings.environment,
        },
        state_path=state_dir / f"manifest-upload-{bundle.bundle_id[:16]}.json",
    )
    if gateway.is_arlocal():
        gateway.mine()
    return result.transaction_id


async def _wait_for_status(
    rpc: RpcClient, signature: Signature, timeout_seconds: float = 60.0
) -> SignatureStatus | None:
    # A blockhash expires after about 60 s, so a transaction not seen by then
    # will not land.
    deadline = time.monotonic() + timeout_seconds
    while True:
        (status,) = await rpc.signature_statuses([signature])
        if status is not None or time.monotonic() > deadline:
            return status
        await asyncio.sleep(0.5)


async def _send_memo(settings: Settings, text: str) -> str:
    if settings.payer_keypair is None:
        raise SlopopsError(
            f"the {settings.environment!r} profile has no payer_keypair to sign the "
            "manifest memo; set payer_keypair"
        )
    payer = load_keypair(settings.resolve(settings.payer_keypair))
    async with RpcClient.from_settings(settings.rpc) as rpc:
        blockhash = (await rpc.latest_blockhash()).blockhash
        instruction = Instruction(MEMO_PROGRAM_ID, text.encode(), [])
        message = Message.new_with_blockhash([instruction], payer.pubkey(), blockhash)
        transaction = Transaction([payer], message, blockhash)
        signature = await rpc.send_transaction(bytes(transaction))
        status = await _wait_for_status(rpc, signature)
    if status is None or status.err is not None:
        raise MemoFailedError(str(signature), status.err if status else "not found")
    return str(signature)
