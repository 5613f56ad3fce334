"""Errors of the Solana JSON-RPC client and keypair files.

::

    SlopopsError
    ├── RpcResponseError          the endpoint returned a JSON-RPC error object
    │   └── PreflightFailedError  sendTransaction's simulation failed (-32002)
    ├── KeypairError              a keypair file is missing or invalid
    └── TransientError
        └── RpcUnavailableError   every endpoint timed out, failed or rate-limited
"""

from __future__ import annotations

from typing import Any

from slopops.errors import SlopopsError, TransientError


class RpcUnavailableError(TransientError):
    """Every endpoint failed a call: timeouts, HTTP 5xx, 429 or refused connections.

    Attributes:
        method: The JSON-RPC method.
        endpoints: The endpoints tried, without query strings.
        reason: The last failure seen.
    """

    def __init__(self, method: str, endpoints: list[str], reason: str) -> None:
        self.method = method
        self.endpoints = endpoints
        self.reason = reason
        super().__init__(
            f"RPC call {method!r} failed on every endpoint {endpoints!r} "
            f"(last: {reason}); check the endpoints or retry later"
        )


class RpcResponseError(SlopopsError):
    """The endpoint returned a JSON-RPC error object.

    Attributes:
        method: The JSON-RPC method.
        code: The JSON-RPC error code.
        rpc_message: The error message from the endpoint.
        data: The error's ``data`` member, if any.
    """

    def __init__(
        self, method: str, code: int, rpc_message: str, data: Any = None
    ) -> None:
        self.method = method
        self.code = code
        self.rpc_message = rpc_message
        self.data = data
        super().__init__(
            f"RPC call {method!r} returned error {code}: {rpc_message!r}; "
            "check the request parameters and the cluster state"
        )


class PreflightFailedError(RpcResponseError):
    """sendTransaction's preflight simulation failed (JSON-RPC error -32002).

    Attributes:
        logs: Program log lines of the simulation.
        err: The transaction error object of the simulation.
    """

    def __init__(
        self, method: str, code: int, rpc_message: str, data: Any = None
    ) -> None:
        super().__init__(method, code, rpc_message, data)
        value = data if isinstance(data, dict) else {}
        self.logs: list[str] = list(value.get("logs") or [])
        self.err: Any = value.get("err")


class KeypairError(SlopopsError):
    """A keypair file is missing, unreadable or not a JSON array of 64 bytes.

    Attributes:
        path: The keypair file.
    """

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        super().__init__(
            f"keypair file {path!r} {problem}; write it as a JSON array of 64 "
            "bytes (`solana-keygen new -o FILE`)"
        )
