"""Errors of the local chain.

SlopopsError
└── LocalnetError
    ├── RpcError               a JSON-RPC request failed; sent back as its error object
    └── ProgramNotFoundError   a built-in program is missing from LiteSVM
"""

from __future__ import annotations

from typing import Any

from slopops.errors import SlopopsError

# JSON-RPC 2.0 error codes, and the Solana server codes from agave's
# rpc-client-api `custom_error.rs`.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SEND_TRANSACTION_PREFLIGHT_FAILURE = -32002
TRANSACTION_SIGNATURE_VERIFICATION_FAILURE = -32003
UNSUPPORTED_TRANSACTION_VERSION = -32015
MIN_CONTEXT_SLOT_NOT_REACHED = -32016


class LocalnetError(SlopopsError):
    """The local chain failed."""


class RpcError(LocalnetError):
    """A JSON-RPC request failed; the server sends it back as the error object."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        self.code = code
        self.message = message
        self.data = data
        super().__init__(message)

    def to_json(self) -> dict[str, Any]:
        """Return the JSON-RPC error object."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


class ProgramNotFoundError(LocalnetError):
    """A program that LiteSVM should carry is missing from it."""

    def __init__(self, program_id: str) -> None:
        self.program_id = program_id
        super().__init__(
            f"program {program_id!r} is not loaded in LiteSVM; check that the "
            f"installed solders version still ships it"
        )
