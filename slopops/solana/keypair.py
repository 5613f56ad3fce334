"""Read and write Solana keypair files: a JSON array of 64 bytes, mode 0600."""

from __future__ import annotations

import json
import os
from pathlib import Path

from solders.keypair import Keypair

from slopops.solana.errors import KeypairError


def load_keypair(path: Path) -> Keypair:
    """Load a keypair file written by ``solana-keygen`` or :func:`save_keypair`.

    Raises:
        KeypairError: The file is missing or does not contain 64 bytes.
    """
    try:
        values = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise KeypairError(str(path), "not found") from exc
    except (OSError, ValueError) as exc:
        raise KeypairError(str(path), f"is not readable JSON ({exc})") from exc
    if (
        not isinstance(values, list)
        or len(values) != 64
        or not all(isinstance(v, int) and 0 <= v < 256 for v in values)
    ):
        raise KeypairError(str(path), "does not contain a JSON array of 64 bytes")
    try:
        return Keypair.from_bytes(bytes(values))
    except ValueError as exc:
        raise KeypairError(
            str(path), f"contains an invalid ed25519 key ({exc})"
        ) from exc


def save_keypair(path: Path, keypair: Keypair) -> None:
    """Write ``keypair`` to a new file readable by its owner only.

    The file is created with mode 0600 and fsynced before this returns, so a
    caller may move lamports to the key right after.

    Raises:
        FileExistsError: ``path`` exists; a key file is never overwritten.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(list(bytes(keypair))).encode()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(descriptor, payload)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
