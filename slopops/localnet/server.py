"""The JSON-RPC 2.0 HTTP server of the local chain (Starlette on uvicorn)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from slopops.localnet.bank import Bank
from slopops.localnet.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    MIN_CONTEXT_SLOT_NOT_REACHED,
    PARSE_ERROR,
    RpcError,
)
from slopops.localnet.methods import METHODS
from slopops.stack.process import check_port_free

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8899
SHUTDOWN_TIMEOUT_SECONDS = 5


class RpcServer:
    """The JSON-RPC dispatcher, running one request at a time on a bank."""

    def __init__(self, bank: Bank) -> None:
        self.bank = bank
        # LiteSVM is not safe for concurrent use: one request at a time.
        self._lock = asyncio.Lock()

    def app(self) -> Starlette:
        """Return the ASGI application: JSON-RPC on POST /, GET /health."""
        return Starlette(
            routes=[
                Route("/", self._handle_http, methods=["POST"]),
                Route("/health", self._health, methods=["GET"]),
            ],
            lifespan=self._lifespan,
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        # uvicorn re-raises SIGTERM after its shutdown, so code after
        # Server.run() never runs; the stop is logged here instead.
        yield
        logger.info(
            "localnet (seed %r) stopped at slot %d after %d transactions",
            self.bank.seed,
            self.bank.slot,
            self.bank.transaction_count,
        )

    async def _health(self, _request: Request) -> Response:
        return PlainTextResponse("ok")

    async def _handle_http(self, request: Request) -> Response:
        body = await request.body()
        try:
            payload = json.loads(body)
        except ValueError:
            logger.warning("rejected a request that is not valid JSON")
            return JSONResponse(
                _error_response(None, RpcError(PARSE_ERROR, "Parse error"))
            )
        if isinstance(payload, list):
            if not payload:
                error = RpcError(INVALID_REQUEST, "Invalid request")
                return JSONResponse(_error_response(None, error))
            return JSONResponse([await self.handle(item) for item in payload])
        return JSONResponse(await self.handle(payload))

    async def handle(self, payload: Any) -> dict[str, Any]:
        """Run one JSON-RPC request object and return its response object."""
        if not isinstance(payload, dict) or not isinstance(payload.get("method"), str):
            error = RpcError(INVALID_REQUEST, "Invalid request")
            return _error_response(_request_id(payload), error)
        request_id, method = payload.get("id"), payload["method"]
        try:
            result = await self._call(method, payload.get("params", []))
        except RpcError as exc:
            logger.warning(
                "%s (id %r) failed with %d: %s", method, request_id, exc.code, exc
            )
            return _error_response(request_id, exc)
        except Exception:
            logger.exception(
                "%s (id %r) raised an unexpected error", method, request_id
            )
            error = RpcError(INTERNAL_ERROR, "Internal error")
            return _error_response(request_id, error)
        return {"jsonrpc": "2.0", "result": result, "id": request_id}

    async def _call(self, method: str, params: Any) -> Any:
        handler = METHODS.get(method)
        if handler is None:
            raise RpcError(METHOD_NOT_FOUND, "Method not found")
        if params is None:
            params = []
        if not isinstance(params, list):
            raise RpcError(INVALID_PARAMS, "Invalid params: expected an array")
        async with self._lock:
            _check_min_context_slot(params, self.bank.slot)
            return handler(self.bank, params)


def _check_min_context_slot(params: list[Any], slot: int) -> None:
    # Agave returns -32016 while the node is behind the slot a client has seen.
    for param in params:
        if isinstance(param, dict):
            minimum = param.get("minContextSlot")
            if isinstance(minimum, int) and minimum > slot:
                raise RpcError(
                    MIN_CONTEXT_SLOT_NOT_REACHED,
                    "Minimum context slot has not been reached",
                    {"contextSlot": slot},
                )


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _request_id(payload: Any) -> Any:
    return payload.get("id") if isinstance(payload, dict) else None


def _error_response(request_id: Any, error: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": error.to_json(), "id": request_id}


def serve(seed: str, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Run a chain for ``seed`` at ``http://host:port`` until SIGINT or SIGTERM.

    Raises:
        PortInUseError: Another process is listening on ``port``.
    """
    check_port_free(host, port, "localnet")
    if not _is_loopback(host):
        logger.warning(
            "localnet binds %s, which other hosts may reach; its faucet gives "
            "SOL to anyone, so bind 127.0.0.1 unless you need otherwise",
            host,
        )
    bank = Bank(seed)
    config = uvicorn.Config(
        RpcServer(bank).app(),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        # Requests take milliseconds, so a stop never waits long for them.
        timeout_graceful_shutdown=SHUTDOWN_TIMEOUT_SECONDS,
    )
    logger.info(
        "localnet (seed %r, genesis hash %s) starting at http://%s:%d",
        seed,
        bank.genesis_hash,
        host,
        port,
    )
    uvicorn.Server(config).run()
