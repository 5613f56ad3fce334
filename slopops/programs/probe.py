"""Failure rate of a program's recent transactions."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from solders.pubkey import Pubkey

from slopops.solana.rpc import RpcClient

logger = logging.getLogger(__name__)

# getSignaturesForAddress returns at most 1,000 signatures per call.
_PAGE_LIMIT = 1_000


@dataclass(frozen=True)
class FailureRate:
    """The share of failed transactions in a sample, with error kinds."""

    program_id: str
    samples: int
    failed: int
    error_kinds: dict[str, int]
    window_seconds: int | None
    limit: int | None

    @property
    def rate(self) -> float | None:
        """Failed over sampled transactions; None when there is no sample."""
        return self.failed / self.samples if self.samples else None


def error_kind(err: Any) -> str:
    """Name a transaction error: ``InstructionError:InvalidInstructionData``.

    Custom program errors read ``InstructionError:Custom(6000)``.
    """
    if isinstance(err, str):
        return err
    if isinstance(err, dict) and len(err) == 1:
        ((name, value),) = err.items()
        if name == "InstructionError" and isinstance(value, list) and len(value) == 2:
            detail = value[1]
            if isinstance(detail, dict) and len(detail) == 1:
                ((key, number),) = detail.items()
                return f"{name}:{key}({number})"
            return f"{name}:{detail}"
        return str(name)
    return json.dumps(err, sort_keys=True)


async def failure_rate(
    rpc: RpcClient,
    program_id: Pubkey,
    *,
    limit: int | None = None,
    window_seconds: int | None = None,
) -> FailureRate:
    """Measure the failure rate of the last ``limit`` signatures or a time window.

    With both, the newest ``limit`` signatures inside the window count.
    With a window, signatures without a block time are skipped.

    Raises:
        ValueError: Neither ``limit`` nor ``window_seconds`` is given.
    """
    if limit is None and window_seconds is None:
        raise ValueError("give limit or window_seconds, or both")
    since = time.time() - window_seconds if window_seconds is not None else None
    entries = await _recent_signatures(rpc, program_id, limit, since)
    kinds = Counter(error_kind(e["err"]) for e in entries if e.get("err") is not None)
    result = FailureRate(
        program_id=str(program_id),
        samples=len(entries),
        failed=sum(kinds.values()),
        error_kinds=dict(kinds),
        window_seconds=window_seconds,
        limit=limit,
    )
    logger.info(
        "failure rate of %s: %d of %d failed", program_id, result.failed, result.samples
    )
    return result


async def _recent_signatures(
    rpc: RpcClient, program_id: Pubkey, limit: int | None, since: float | None
) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    before = None
    while limit is None or len(entries) < limit:
        page_size = (
            _PAGE_LIMIT if limit is None else min(_PAGE_LIMIT, limit - len(entries))
        )
        page = await rpc.signatures_for_address(
            program_id, limit=page_size, before=before
        )
        for entry in page:
            if since is not None:
                block_time = entry.get("blockTime")
                if block_time is None:
                    continue
                if block_time < since:
                    return entries
            entries.append(entry)
        if len(page) < page_size:
            break
        before = page[-1]["signature"]
    return entries
