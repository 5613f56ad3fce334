"""Arweave wallets: RSA-4096 keys stored as JWK files.

Signing uses arweave-python-client's ``Wallet`` (RSA-PSS over SHA-256, as the
network expects); this module adds key generation and safe file handling.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from slopops.arweave.errors import WalletError

logger = logging.getLogger(__name__)

# Arweave wallets are RSA keys with a 4096-bit modulus and exponent 65537.
KEY_BITS = 4096
PUBLIC_EXPONENT = 65537
_JWK_FIELDS = ("n", "e", "d", "p", "q", "dp", "dq", "qi")


@dataclass(frozen=True)
class Wallet:
    """An Arweave wallet: its address, public modulus and signer."""

    address: str
    owner: str
    _signer: Any

    def sign(self, message: bytes) -> bytes:
        """Return the RSA-PSS signature of ``message``."""
        return bytes(self._signer.sign(message))


def _b64url(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def generate_jwk() -> dict[str, str]:
    """Generate a new RSA-4096 key as an Arweave JWK dictionary."""
    key = rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=KEY_BITS)
    private = key.private_numbers()
    public = private.public_numbers
    numbers = {
        "n": public.n,
        "e": public.e,
        "d": private.d,
        "p": private.p,
        "q": private.q,
        "dp": private.dmp1,
        "dq": private.dmq1,
        "qi": private.iqmp,
    }
    return {"kty": "RSA", **{name: _b64url(numbers[name]) for name in _JWK_FIELDS}}


def generate_wallet(path: Path, *, overwrite: bool = False) -> Wallet:
    """Write a new wallet to ``path`` with mode 0600 and return it.

    Raises:
        WalletError: ``path`` exists and ``overwrite`` is false.
    """
    if path.exists() and not overwrite:
        raise WalletError(str(path), "the file already exists; choose another path")
    path.parent.mkdir(parents=True, exist_ok=True)
    jwk = generate_jwk()
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(jwk, handle)
    os.replace(temporary, path)
    wallet = wallet_from_jwk(jwk, source=str(path))
    logger.info("generated wallet %s at %s", wallet.address, path)
    return wallet


def load_wallet(path: Path) -> Wallet:
    """Read the JWK at ``path``, which group and others must not read.

    Raises:
        WalletError: the file is missing, readable by others, or not an RSA JWK.
    """
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        text = path.read_text()
    except OSError as exc:
        raise WalletError(str(path), f"cannot read it ({exc.strerror})") from exc
    if mode & 0o077:
        raise WalletError(
            str(path), f"mode {mode:04o} lets others read it; run `chmod 600 {path}`"
        )
    try:
        jwk = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WalletError(str(path), "it is not JSON") from exc
    return wallet_from_jwk(jwk, source=str(path))


def wallet_from_jwk(jwk: dict[str, str], *, source: str = "<memory>") -> Wallet:
    """Build a :class:`Wallet` from a JWK dictionary.

    Raises:
        WalletError: fields are missing or the key is not RSA.
    """
    missing = [name for name in _JWK_FIELDS if not jwk.get(name)]
    if jwk.get("kty") != "RSA" or missing:
        raise WalletError(source, f"not an RSA JWK (missing fields: {missing})")
    from arweave.arweave_lib import Wallet as _LibraryWallet

    try:
        signer = _LibraryWallet.from_data(dict(jwk))
    except (ValueError, TypeError) as exc:
        raise WalletError(source, f"the key does not load ({exc})") from exc
    return Wallet(address=signer.address, owner=jwk["n"], _signer=signer)
