"""The streaming part of a backup: compress, encrypt, spool and hash.

Plaintext never reaches the disk: the dump is read from a pipe (or a file
that is itself temporary), compressed when its format is not, encrypted with
age, and only the ciphertext is written to the spool file. Both sides are
hashed on the way through.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

import pyrage

# Compression applied before encryption for formats that are not compressed.
GZIP = "gzip"
_GZIP_WBITS = 31  # zlib with a gzip header and trailer
_HEADER_BYTES = 16


@dataclass(frozen=True)
class SpoolResult:
    """Sizes and sha256 digests of one spooled backup."""

    plaintext_bytes: int
    plaintext_sha256: str
    ciphertext_bytes: int
    ciphertext_sha256: str
    header: bytes


class _HashingReader:
    """Read from a stream while counting and hashing, keeping the first bytes."""

    def __init__(self, source: IO[bytes]) -> None:
        self._source = source
        self.digest = hashlib.sha256()
        self.size = 0
        self.header = b""

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        self.digest.update(data)
        self.size += len(data)
        if len(self.header) < _HEADER_BYTES:
            self.header = (self.header + data)[:_HEADER_BYTES]
        return data


class _GzipReader:
    """Return gzip-compressed bytes of a stream as it is read."""

    def __init__(self, source: _HashingReader, level: int = 6) -> None:
        self._source = source
        self._compressor = zlib.compressobj(level, zlib.DEFLATED, _GZIP_WBITS)
        self._buffer = bytearray()
        self._done = False

    def read(self, size: int = -1) -> bytes:
        length = size if size > 0 else 1 << 20
        while len(self._buffer) < length and not self._done:
            data = self._source.read(1 << 20)
            if data:
                self._buffer += self._compressor.compress(data)
            else:
                self._buffer += self._compressor.flush()
                self._done = True
        result = bytes(self._buffer[:length])
        del self._buffer[:length]
        return result


class HashingWriter:
    """Write to a file while counting and hashing."""

    def __init__(self, target: BinaryIO) -> None:
        self._target = target
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | memoryview) -> int:
        self._target.write(data)
        self.digest.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        self._target.flush()


def spool_encrypted(
    source: IO[bytes],
    destination: Path,
    recipients: Sequence[pyrage.x25519.Recipient],
    *,
    compression: str | None,
) -> SpoolResult:
    """Encrypt ``source`` to ``destination`` with age, compressing first if asked.

    Args:
        source: The plaintext stream, read to its end.
        destination: The spool file; created with mode 0600.
        recipients: age recipients that can decrypt the result.
        compression: ``"gzip"`` or None.
    """
    plaintext = _HashingReader(source)
    reader: _HashingReader | _GzipReader = plaintext
    if compression == GZIP:
        reader = _GzipReader(plaintext)
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.touch(mode=0o600)
    with destination.open("wb") as handle:
        ciphertext = HashingWriter(handle)
        pyrage.encrypt_io(reader, ciphertext, list(recipients))
        handle.flush()
    return SpoolResult(
        plaintext_bytes=plaintext.size,
        plaintext_sha256=plaintext.digest.hexdigest(),
        ciphertext_bytes=ciphertext.size,
        ciphertext_sha256=ciphertext.digest.hexdigest(),
        header=plaintext.header,
    )
