"""Upload a file as one Arweave transaction, resumable from a state file.

Write order: check price and balance, sign, save the signed transaction in
the state file, post it, then post each chunk in order and record the next
chunk index after each one. A resumed upload reuses the saved transaction,
so the reward is paid once. Chunks go one at a time and in order because
arlocal (1.1.66) stores chunks in arrival order.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slopops.arweave.errors import InsufficientBalanceError, UploadStateError
from slopops.arweave.gateway import Gateway
from slopops.arweave.transactions import (
    ChunkLayout,
    b64url_encode,
    iter_chunk_payloads,
    layout_file,
    sign_transaction,
)
from slopops.arweave.wallet import Wallet

logger = logging.getLogger(__name__)

# Called with (bytes uploaded so far, total bytes).
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class UploadResult:
    """A finished upload: the transaction and what it cost."""

    transaction_id: str
    data_root: str
    size_bytes: int
    reward_winston: int
    chunk_count: int
    resumed: bool


def upload_file(
    gateway: Gateway,
    wallet: Wallet,
    path: Path,
    *,
    tags: Mapping[str, str],
    state_path: Path,
    on_progress: ProgressCallback | None = None,
    keep_state: bool = False,
) -> UploadResult:
    """Upload ``path`` with ``tags``, resuming from ``state_path`` if it exists.

    The state file is deleted once every chunk is accepted, unless
    ``keep_state`` is set. A caller that verifies the upload afterwards keeps
    it until then, so that a retry after a failed check reuses the paid
    transaction instead of signing a new one.

    Raises:
        InsufficientBalanceError: the wallet cannot pay the price (before any
            upload).
        UploadStateError: the state file belongs to other data.
        GatewayUnavailableError: a request failed through every retry; the
            state file keeps the position for the next call.
        GatewayRejectedError: the gateway rejected the transaction or a chunk.
    """
    layout = layout_file(path)
    state = _load_state(state_path, layout)
    resumed = state is not None
    if state is None:
        state = _new_state(gateway, wallet, layout, tags)
        _save_state(state_path, state)
    transaction = state["transaction"]
    transaction_id = transaction["id"]
    if resumed:
        logger.info(
            "resuming upload of %s at chunk %d of %d",
            transaction_id,
            state["next_chunk"],
            len(layout.ranges),
        )
    if not state["posted"]:
        # A crash between posting and saving leaves "posted" false, so ask first.
        if gateway.status(transaction_id) is None:
            gateway.post_transaction(transaction)
        state["posted"] = True
        _save_state(state_path, state)
    _upload_chunks(gateway, path, layout, state, state_path, on_progress)
    if not keep_state:
        state_path.unlink(missing_ok=True)
    logger.info(
        "uploaded %s: %d bytes in %d chunks",
        transaction_id,
        layout.data_size,
        len(layout.ranges),
    )
    return UploadResult(
        transaction_id=transaction_id,
        data_root=transaction["data_root"],
        size_bytes=layout.data_size,
        reward_winston=int(transaction["reward"]),
        chunk_count=len(layout.ranges),
        resumed=resumed,
    )


def check_funds(gateway: Gateway, wallet: Wallet, size_bytes: int) -> tuple[int, int]:
    """Return ``(price, balance)`` in winston, raising if the balance is short.

    Raises:
        InsufficientBalanceError: the balance is below the price.
    """
    price = gateway.price_winston(size_bytes)
    balance = gateway.balance_winston(wallet.address)
    if balance < price:
        raise InsufficientBalanceError(wallet.address, balance, price)
    return price, balance


def _new_state(
    gateway: Gateway, wallet: Wallet, layout: ChunkLayout, tags: Mapping[str, str]
) -> dict[str, Any]:
    price, _ = check_funds(gateway, wallet, layout.data_size)
    transaction = sign_transaction(
        wallet, layout=layout, tags=tags, reward_winston=price, anchor=gateway.anchor()
    )
    logger.info(
        "signed transaction %s for %d bytes, reward %d winston",
        transaction["id"],
        layout.data_size,
        price,
    )
    return {"transaction": transaction, "posted": False, "next_chunk": 0}


def _upload_chunks(
    gateway: Gateway,
    path: Path,
    layout: ChunkLayout,
    state: dict[str, Any],
    state_path: Path,
    on_progress: ProgressCallback | None,
) -> None:
    for index, body in iter_chunk_payloads(path, layout, state["next_chunk"]):
        gateway.post_chunk(body)
        state["next_chunk"] = index + 1
        _save_state(state_path, state)
        if on_progress is not None:
            on_progress(layout.ranges[index][1], layout.data_size)


def _load_state(state_path: Path, layout: ChunkLayout) -> dict[str, Any] | None:
    try:
        state = json.loads(state_path.read_text())
        transaction = state["transaction"]
        data_root = transaction["data_root"]
        data_size = int(transaction["data_size"])
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        raise UploadStateError(str(state_path), f"it is unreadable ({exc})") from exc
    if data_root != b64url_encode(layout.data_root) or data_size != layout.data_size:
        raise UploadStateError(
            str(state_path), f"it is for data root {data_root!r}, not this file"
        )
    return dict(state)


def _save_state(state_path: Path, state: dict[str, Any]) -> None:
    # Write then rename, so a crash leaves the old or the new state, never half.
    state_path.parent.mkdir(parents=True, exist_ok=True)
    temporary = state_path.with_name(state_path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(state, handle)
    os.replace(temporary, state_path)
