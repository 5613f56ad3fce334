"""Parse JSON-RPC params; every invalid value raises error -32602."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import base58
from solders.hash import Hash, ParseHashError
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import SanitizeError, VersionedTransaction

from slopops.localnet.errors import INVALID_PARAMS, RpcError


def invalid(message: str) -> RpcError:
    """Return the -32602 error for one invalid parameter."""
    return RpcError(INVALID_PARAMS, f"Invalid params: {message}")


def positional(params: list[Any], index: int, name: str) -> Any:
    """Return the required parameter at ``index``."""
    if index >= len(params) or params[index] is None:
        raise invalid(f"missing parameter {name!r} at position {index}")
    return params[index]


def config(params: list[Any], index: int) -> dict[str, Any]:
    """Return the configuration object at ``index`` without null options."""
    if index >= len(params) or params[index] is None:
        return {}
    value = params[index]
    if not isinstance(value, dict):
        raise invalid(f"expected a configuration object at position {index}")
    # Clients send unset options as null, meaning the default.
    return {key: option for key, option in value.items() if option is not None}


def mapping(value: Any, name: str) -> dict[str, Any]:
    """Return ``value`` if it is a JSON object."""
    if not isinstance(value, dict):
        raise invalid(f"{name} must be an object, got {value!r}")
    return value


def integer(value: Any, name: str, *, minimum: int = 0) -> int:
    """Return ``value`` as an int of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise invalid(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def pubkey(value: Any) -> Pubkey:
    """Return a base58 address as a Pubkey."""
    try:
        return Pubkey.from_string(value)
    except (TypeError, ValueError) as exc:
        raise invalid(f"invalid address {value!r}") from exc


def signature(value: Any) -> Signature:
    """Return a base58 signature as a Signature."""
    try:
        return Signature.from_string(value)
    except (TypeError, ValueError) as exc:
        raise invalid(f"invalid signature {value!r}") from exc


def string_list(value: Any, name: str, *, max_length: int) -> list[str]:
    """Return a list of at most ``max_length`` strings."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid(f"{name} must be a list of strings")
    if len(value) > max_length:
        raise invalid(f"{name} has {len(value)} entries, more than {max_length}")
    return value


def decode_bytes(value: Any, encoding: str) -> bytes:
    """Decode base58 or base64 text."""
    if not isinstance(value, str):
        raise invalid("encoded data must be a string")
    try:
        if encoding == "base58":
            return base58.b58decode(value)
        if encoding == "base64":
            return base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise invalid(f"invalid {encoding} data") from exc
    raise invalid(f"unsupported encoding {encoding!r}; use base58 or base64")


def transaction(value: Any, encoding: str) -> VersionedTransaction:
    """Decode and sanitize a wire-format transaction."""
    raw = decode_bytes(value, encoding)
    try:
        decoded = VersionedTransaction.from_bytes(raw)
        decoded.sanitize()
    except (TypeError, ValueError, SanitizeError) as exc:
        raise invalid(
            f"failed to deserialize or sanitize the transaction: {exc}"
        ) from exc
    return decoded


def hash_value(value: Any) -> Hash:
    """Return a base58 blockhash as a Hash."""
    try:
        return Hash.from_string(value)
    except (TypeError, ValueError, ParseHashError) as exc:
        raise invalid(f"invalid blockhash {value!r}") from exc
