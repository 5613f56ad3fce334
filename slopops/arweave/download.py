"""Download a transaction's data chunk by chunk, resumable and hash-checked.

Bytes go to ``<destination>.part``. A second file, ``<destination>.part.json``,
records how many bytes are complete, so an interrupted download continues
from there. The file is renamed to its destination only when its size and
sha256 match the expected values.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from pathlib import Path

from slopops.arweave.errors import ConfirmationTimeoutError, DataMismatchError
from slopops.arweave.gateway import Gateway, TransactionStatus
from slopops.arweave.transactions import chunk_ranges
from slopops.arweave.upload import ProgressCallback

logger = logging.getLogger(__name__)

_HASH_READ_BYTES = 1024 * 1024
# Chunk requests kept in flight during a download.
PREFETCH_CHUNKS = 4
# Minimum seconds between writes of the resume record. Each write truncates and
# rewrites a small file, which took about 1 ms on ext4, a third of a 256 KiB
# chunk's fetch from a local gateway. The record is also written when the
# download stops, so only a killed process refetches up to this much.
_PROGRESS_INTERVAL_SECONDS = 1.0

# Receives every byte of a download in order; see download_file.
DataSink = Callable[[bytes], None]


def download_file(
    gateway: Gateway,
    transaction_id: str,
    destination: Path,
    *,
    expected_sha256: str,
    on_progress: ProgressCallback | None = None,
    sink: DataSink | None = None,
) -> Path:
    """Download a transaction's data to ``destination`` and check its sha256.

    Args:
        sink: Called with every byte of the data in order, from the first,
            also when the download resumes: the bytes already in the part
            file are read back and passed first. It receives the data before the
            sha256 is checked, so its output must not be used unless this
            function returns.

    Raises:
        TransactionNotFoundError: the gateway has no such transaction.
        DataMismatchError: the data's sha256 differs; the partial file is
            deleted so the next attempt starts over.
        GatewayUnavailableError: a chunk failed through every retry; the
            partial file is kept for the next attempt.
    """
    start, size = gateway.data_offset(transaction_id)
    part = destination.with_name(destination.name + ".part")
    progress = destination.with_name(destination.name + ".part.json")
    done = _resume_position(part, progress, transaction_id)
    digest = _read_prefix(part, done, sink)
    if done:
        logger.info("resuming download of %s at byte %d", transaction_id, done)
    with part.open("r+b" if part.exists() else "wb") as handle:
        handle.seek(done)
        handle.truncate()
        recorded_at = time.monotonic()
        try:
            for chunk in _iter_chunks(gateway, start, size, done):
                handle.write(chunk)
                digest.update(chunk)
                if sink is not None:
                    sink(chunk)
                done += len(chunk)
                if time.monotonic() - recorded_at >= _PROGRESS_INTERVAL_SECONDS:
                    handle.flush()
                    _write_progress(progress, transaction_id, done)
                    recorded_at = time.monotonic()
                if on_progress is not None:
                    on_progress(done, size)
        finally:
            handle.flush()
            _write_progress(progress, transaction_id, done)
    actual = digest.hexdigest()
    if actual != expected_sha256:
        part.unlink(missing_ok=True)
        progress.unlink(missing_ok=True)
        raise DataMismatchError(transaction_id, expected_sha256, actual)
    os.replace(part, destination)
    progress.unlink(missing_ok=True)
    logger.info("downloaded %s: %d bytes, sha256 matches", transaction_id, size)
    return destination


def verify_data(
    gateway: Gateway,
    transaction_id: str,
    *,
    expected_sha256: str,
    on_progress: ProgressCallback | None = None,
) -> None:
    """Download a transaction's data chunk by chunk and compare its sha256.

    Nothing is written to disk, so an interrupted check starts over.

    Raises:
        TransactionNotFoundError: the gateway has no such transaction.
        DataMismatchError: the data's sha256 differs.
        GatewayUnavailableError: a chunk failed through every retry.
    """
    start, size = gateway.data_offset(transaction_id)
    digest = hashlib.sha256()
    done = 0
    for chunk in _iter_chunks(gateway, start, size, 0):
        digest.update(chunk)
        done += len(chunk)
        if on_progress is not None:
            on_progress(done, size)
    actual = digest.hexdigest()
    if actual != expected_sha256:
        raise DataMismatchError(transaction_id, expected_sha256, actual)
    logger.info("verified %s: %d bytes, sha256 matches", transaction_id, size)


def _iter_chunks(gateway: Gateway, start: int, size: int, done: int) -> Iterator[bytes]:
    """Yield the data from byte ``done`` on, fetching chunks ahead in threads.

    Requests go to the chunk starts that :func:`chunk_ranges` gives, which are
    the starts of data uploaded by this package. If the gateway returns a
    chunk of another length, the rest is read one chunk at a time.
    """
    ranges = [item for item in chunk_ranges(size) if item[0] >= done]
    if not ranges or ranges[0][0] != done:
        yield from _iter_sequential(gateway, start, size, done)
        return
    remaining = iter(ranges)
    with ThreadPoolExecutor(max_workers=PREFETCH_CHUNKS) as pool:
        window: deque[tuple[tuple[int, int], Future[bytes]]] = deque()
        for first, last in islice(remaining, PREFETCH_CHUNKS):
            window.append(((first, last), pool.submit(gateway.chunk, start + first)))
        while window:
            (first, last), future = window.popleft()
            chunk = future.result()
            if len(chunk) < last - first:
                for _, pending in window:
                    pending.cancel()
                yield chunk
                yield from _iter_sequential(gateway, start, size, first + len(chunk))
                return
            yield chunk[: last - first]
            following = next(remaining, None)
            if following is not None:
                window.append(
                    (following, pool.submit(gateway.chunk, start + following[0]))
                )


def _iter_sequential(
    gateway: Gateway, start: int, size: int, done: int
) -> Iterator[bytes]:
    while done < size:
        chunk = gateway.chunk(start + done)[: size - done]
        done += len(chunk)
        yield chunk


def _resume_position(part: Path, progress: Path, transaction_id: str) -> int:
    try:
        record = json.loads(progress.read_text())
    except (FileNotFoundError, ValueError):
        return 0
    if record.get("transaction_id") != transaction_id or not part.exists():
        return 0
    return min(int(record.get("bytes", 0)), part.stat().st_size)


def _read_prefix(path: Path, length: int, sink: DataSink | None) -> hashlib._Hash:
    """Hash the first ``length`` bytes of ``path``, passing them to ``sink``."""
    digest = hashlib.sha256()
    if length == 0:
        return digest
    with path.open("rb") as handle:
        remaining = length
        while remaining > 0:
            block = handle.read(min(_HASH_READ_BYTES, remaining))
            digest.update(block)
            if sink is not None:
                sink(block)
            remaining -= len(block)
    return digest


def _write_progress(progress: Path, transaction_id: str, done: int) -> None:
    progress.write_text(json.dumps({"transaction_id": transaction_id, "bytes": done}))


def wait_for_confirmation(
    gateway: Gateway,
    transaction_id: str,
    *,
    timeout_seconds: float,
    poll_seconds: float = 5.0,
) -> TransactionStatus:
    """Poll until the transaction is mined into a block.

    Raises:
        ConfirmationTimeoutError: it was still pending (or unknown) at the end.
    """
    deadline = time.monotonic() + timeout_seconds
    while True:
        status = gateway.status(transaction_id)
        if status is not None and status.confirmed:
            logger.info(
                "transaction %s confirmed at height %s",
                transaction_id,
                status.block_height,
            )
            return status
        if time.monotonic() + poll_seconds > deadline:
            raise ConfirmationTimeoutError(transaction_id, timeout_seconds)
        time.sleep(poll_seconds)
