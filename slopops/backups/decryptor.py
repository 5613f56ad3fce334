"""Decrypt an age stream to a file while its ciphertext is still arriving.

The ``age`` binary does the decryption in its own process, fed through a
pipe, so it overlaps the download that writes to it. pyrage.decrypt_io
(pyrage 1.4.0) holds the GIL while it decrypts: a spinning Python thread made
it 3.7 times slower on 256 MiB. In a thread it would stall the download.

A thread reads the plaintext from age's stdout, decompresses it when the
backup was gzipped, hashes it and writes it to a mode-0600 file. The secret
key reaches age through a pipe, never a file.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
import threading
import zlib
from pathlib import Path
from types import TracebackType

import pyrage

from slopops.backups.errors import AgeNotFoundError
from slopops.backups.pipeline import GZIP, HashingWriter

logger = logging.getLogger(__name__)

_GZIP_WBITS = 31  # zlib with a gzip header and trailer
_READ_BYTES = 1024 * 1024
# Pipe capacity asked of Linux (F_SETPIPE_SZ) so that age and the download
# exchange 1 MiB at a time instead of the default 64 KiB.
_PIPE_BYTES = 1024 * 1024
_STDERR_CHARS = 800


class DecryptionError(Exception):
    """A failed decryption: a wrong key, damaged data or invalid gzip."""


class _GunzipWriter:
    """Decompress gzip data written to it, passing plaintext on."""

    def __init__(self, target: HashingWriter) -> None:
        self._target = target
        self._decompressor = zlib.decompressobj(_GZIP_WBITS)

    def write(self, data: bytes | memoryview) -> int:
        self._target.write(self._decompressor.decompress(data))
        return len(data)

    def flush(self) -> None:
        self._target.write(self._decompressor.flush())
        self._target.flush()


def find_age() -> Path:
    """Return the path of the ``age`` binary.

    Raises:
        AgeNotFoundError: ``age`` is not on PATH.
    """
    found = shutil.which("age")
    if found is None:
        raise AgeNotFoundError()
    return Path(found)


class StreamDecryptor:
    """Decrypt ciphertext passed to :meth:`write` into ``destination``.

    Use it as a context manager: leaving the block with an exception, or
    without :meth:`finish`, stops age and deletes ``destination``.
    """

    def __init__(
        self,
        identity: pyrage.x25519.Identity,
        destination: Path,
        *,
        compression: str | None,
        age_path: Path,
    ) -> None:
        self.destination = destination
        self._failed = False
        self._written = 0
        self._reader_error: OSError | zlib.error | None = None
        self._finished = False

        destination.touch(mode=0o600)
        self._handle = destination.open("wb")
        self._plaintext = HashingWriter(self._handle)
        self._writer: HashingWriter | _GunzipWriter = self._plaintext
        if compression == GZIP:
            self._writer = _GunzipWriter(self._plaintext)

        try:
            self._process = _start_age(age_path, identity)
        except OSError:
            self._handle.close()
            destination.unlink(missing_ok=True)
            raise

        assert self._process.stdin is not None and self._process.stdout is not None
        self._stdin = self._process.stdin
        self._stdout = self._process.stdout
        _grow_pipe(self._stdin.fileno())
        _grow_pipe(self._stdout.fileno())

        self._reader = threading.Thread(
            target=self._copy_plaintext, name="age-plaintext", daemon=True
        )
        self._reader.start()
        logger.info(
            "started %s (pid %d) to decrypt into %s",
            age_path,
            self._process.pid,
            destination,
        )

    def __enter__(self) -> StreamDecryptor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self._finished:
            self.abort()

    def write(self, data: bytes) -> None:
        """Pass ciphertext to age, or drop it once age has exited.

        age exits at the first bad header or damaged 64 KiB block, so writes
        after that fail with a broken pipe. The data is dropped so that the
        download can finish and check its sha256, and :meth:`finish` raises.

        Raises:
            OSError: writing the plaintext failed (a full disk, say). The
                download stops at once, and its partial file stays for a
                resume, because fetching the rest would be wasted.
        """
        self._raise_write_error()
        if self._failed:
            return
        view = memoryview(data)
        try:
            while view:
                written = self._stdin.write(view)
                view = view[written:]
                self._written += written
        except BrokenPipeError:
            # The reader thread stops age when the plaintext write fails.
            self._raise_write_error()
            self._failed = True
            logger.warning(
                "age (pid %d) stopped reading at ciphertext byte %d, so the "
                "rest of the download is not decrypted",
                self._process.pid,
                self._written,
            )

    def _raise_write_error(self) -> None:
        if isinstance(self._reader_error, OSError):
            raise self._reader_error

    def finish(self) -> tuple[int, str]:
        """Wait for age to exit and return the plaintext's size and sha256.

        Raises:
            DecryptionError: age failed (wrong key, damaged data) or the
                plaintext is not valid gzip; the plaintext file is deleted.
            OSError: writing the plaintext failed; the file is deleted.
        """
        try:
            self._stdin.close()
        except BrokenPipeError:
            self._failed = True
        self._reader.join()
        returncode = self._process.wait()
        assert self._process.stderr is not None
        stderr = self._process.stderr.read().decode(errors="replace").strip()
        for stream in (self._stdout, self._process.stderr):
            stream.close()
        self._handle.close()
        self._finished = True
        error = self._reader_error
        if error is None and returncode == 0 and not self._failed:
            return self._plaintext.size, self._plaintext.digest.hexdigest()
        self.destination.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise error
        if error is not None:
            raise DecryptionError(f"the plaintext is not valid gzip ({error})")
        raise DecryptionError(
            stderr[-_STDERR_CHARS:] or f"age exited with code {returncode}"
        )

    def abort(self) -> None:
        """Stop age, close the plaintext file and delete it."""
        self._finished = True
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        # age is gone, so the reader thread gets end-of-file and returns.
        self._reader.join()
        for stream in (self._stdin, self._stdout, self._process.stderr):
            if stream is not None:
                stream.close()
        self._handle.close()
        self.destination.unlink(missing_ok=True)

    def _copy_plaintext(self) -> None:
        # One reused buffer: a new 1 MiB bytes object per read costs page faults.
        buffer = bytearray(_READ_BYTES)
        view = memoryview(buffer)
        try:
            while True:
                length = self._stdout.readinto(buffer)
                if not length:
                    break
                self._writer.write(view[:length])
            self._writer.flush()
        except (OSError, zlib.error) as exc:
            if not self._finished:
                logger.error(
                    "writing the plaintext to %s failed: %s", self.destination, exc
                )
                self._reader_error = exc
            # Stop age so that write() does not block on a full pipe.
            self._process.kill()


def _start_age(
    age_path: Path, identity: pyrage.x25519.Identity
) -> subprocess.Popen[bytes]:
    """Start ``age --decrypt`` reading the identity from a pipe."""
    key_read, key_write = os.pipe()
    try:
        # The key line is under 100 bytes, so it fits the pipe buffer and
        # this write does not block before age reads it.
        os.write(key_write, f"{identity}\n".encode())
    finally:
        os.close(key_write)
    try:
        return subprocess.Popen(
            [str(age_path), "--decrypt", "--identity", f"/dev/fd/{key_read}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
            pass_fds=(key_read,),
        )
    finally:
        os.close(key_read)


def _grow_pipe(fd: int) -> None:
    # F_SETPIPE_SZ exists on Linux only (Python 3.10+). Elsewhere, and where
    # the system limit is lower, the pipe keeps its default size.
    option = getattr(fcntl, "F_SETPIPE_SZ", None)
    if option is None:
        return
    try:
        fcntl.fcntl(fd, option, _PIPE_BYTES)
    except OSError:
        pass
