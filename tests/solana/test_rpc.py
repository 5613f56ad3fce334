"""RPC failover: timeouts, 5xx and 429 move to the next endpoint."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from solders.signature import Signature

from slopops.errors import TransientError
from slopops.solana import (
    PreflightFailedError,
    RpcClient,
    RpcResponseError,
    RpcUnavailableError,
)
from slopops.stack.process import free_port
from tests.solana.servers import Reply, result, scripted_server

GENESIS = "EtWTRABZaYq6iMfeYKouRu166VU2xqa1wcaWoxPkrZBG"


def healthy(request: dict[str, Any]) -> Reply:
    return result(request, GENESIS)


def status(code: int, **headers: str) -> Any:
    return lambda request: Reply(status=code, body={"error": "x"}, headers=headers)


async def test_primary_5xx_fails_over() -> None:
    with scripted_server(status(503)) as primary, scripted_server(healthy) as fallback:
        async with RpcClient([primary.url, fallback.url]) as rpc:
            assert await rpc.genesis_hash() == GENESIS
            assert await rpc.genesis_hash() == GENESIS

    # The failed primary cools down, so the second call goes to the fallback.
    assert primary.methods() == ["getGenesisHash"]
    assert fallback.methods() == ["getGenesisHash", "getGenesisHash"]


async def test_primary_refused_fails_over() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with scripted_server(healthy) as fallback:
        async with RpcClient([dead, fallback.url]) as rpc:
            assert await rpc.genesis_hash() == GENESIS


async def test_primary_timeout_fails_over() -> None:
    def slow(request: dict[str, Any]) -> Reply:
        return Reply(body=result(request, "slow").body, delay_seconds=3.0)

    with scripted_server(slow) as primary, scripted_server(healthy) as fallback:
        async with RpcClient([primary.url, fallback.url], timeout_seconds=0.2) as rpc:
            started = time.monotonic()
            assert await rpc.genesis_hash() == GENESIS
            assert time.monotonic() - started < 2.5


async def test_429_honours_retry_after() -> None:
    calls = 0

    def limited(request: dict[str, Any]) -> Reply:
        nonlocal calls
        calls += 1
        if calls == 1:
            return Reply(status=429, body={}, headers={"Retry-After": "0.5"})
        return healthy(request)

    with scripted_server(limited) as only:
        async with RpcClient([only.url]) as rpc:
            started = time.monotonic()
            assert await rpc.genesis_hash() == GENESIS
            elapsed = time.monotonic() - started

    assert elapsed >= 0.45
    assert calls == 2


async def test_429_moves_to_fallback_during_retry_after() -> None:
    with (
        scripted_server(status(429, **{"Retry-After": "30"})) as primary,
        scripted_server(healthy) as fallback,
    ):
        async with RpcClient([primary.url, fallback.url]) as rpc:
            for _ in range(3):
                assert await rpc.genesis_hash() == GENESIS

    assert len(primary.requests) == 1
    assert len(fallback.requests) == 3


async def test_every_endpoint_down_is_transient() -> None:
    with scripted_server(status(500)) as first, scripted_server(status(502)) as second:
        async with RpcClient(
            [first.url, second.url], cooldown_seconds=0.01, rounds=2
        ) as rpc:
            with pytest.raises(RpcUnavailableError, match="HTTP 502") as caught:
                await rpc.genesis_hash()

    assert isinstance(caught.value, TransientError)
    assert len(first.requests) == 2
    assert len(second.requests) == 2


async def test_json_rpc_error_does_not_fail_over() -> None:
    def invalid(request: dict[str, Any]) -> Reply:
        error = {"code": -32602, "message": "Invalid params"}
        return Reply(body={"jsonrpc": "2.0", "id": request["id"], "error": error})

    with scripted_server(invalid) as primary, scripted_server(healthy) as fallback:
        async with RpcClient([primary.url, fallback.url]) as rpc:
            with pytest.raises(RpcResponseError, match="Invalid params") as caught:
                await rpc.genesis_hash()

    assert caught.value.code == -32602
    assert not isinstance(caught.value, TransientError)
    assert fallback.requests == []


async def test_unhealthy_node_fails_over() -> None:
    def behind(request: dict[str, Any]) -> Reply:
        error = {"code": -32005, "message": "Node is behind by 42 slots"}
        return Reply(body={"jsonrpc": "2.0", "id": request["id"], "error": error})

    with scripted_server(behind) as primary, scripted_server(healthy) as fallback:
        async with RpcClient([primary.url, fallback.url]) as rpc:
            assert await rpc.genesis_hash() == GENESIS


async def test_send_after_timeout_is_not_repeated() -> None:
    def slow(request: dict[str, Any]) -> Reply:
        return Reply(body=result(request, "x").body, delay_seconds=1.0)

    with scripted_server(slow) as primary, scripted_server(healthy) as fallback:
        async with RpcClient([primary.url, fallback.url], timeout_seconds=0.2) as rpc:
            with pytest.raises(RpcUnavailableError, match="timed out"):
                await rpc.send_transaction(b"signed bytes")

    # The status is unknown after a timeout: the same bytes go nowhere else.
    assert primary.methods() == ["sendTransaction"]
    assert fallback.requests == []


async def test_send_after_refused_connection_fails_over() -> None:
    signature = "1" * 64

    def accept(request: dict[str, Any]) -> Reply:
        return result(request, signature)

    dead = f"http://127.0.0.1:{free_port()}"
    with scripted_server(accept) as fallback:
        async with RpcClient([dead, fallback.url]) as rpc:
            sent = await rpc.send_transaction(b"signed bytes")

    assert str(sent) == signature
    assert fallback.methods() == ["sendTransaction"]


async def test_api_key_sent_and_not_shown() -> None:
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    # Attach to httpx's own logger: other libraries may stop its propagation.
    httpx_logger = logging.getLogger("httpx")
    handler = Collect(level=logging.DEBUG)
    old_level = httpx_logger.level
    httpx_logger.addHandler(handler)
    httpx_logger.setLevel(logging.DEBUG)
    try:
        with scripted_server(status(500)) as server:
            async with RpcClient([server.url], api_key="s3cret", rounds=1) as rpc:
                with pytest.raises(RpcUnavailableError) as caught:
                    await rpc.genesis_hash()
    finally:
        httpx_logger.removeHandler(handler)
        httpx_logger.setLevel(old_level)

    assert server.query_strings == ["api-key=s3cret"]
    assert "s3cret" not in str(caught.value)
    assert any("HTTP Request" in message for message in messages)
    assert not any("s3cret" in message for message in messages)


async def test_send_batch_returns_each_outcome() -> None:
    signature = "1" * 64

    def batch(requests: Any) -> Reply:
        first, second = requests
        rejected = {
            "code": -32002,
            "message": "Transaction simulation failed",
            "data": {"err": "AccountNotFound", "logs": ["log line"]},
        }
        return Reply(
            body=[
                {"jsonrpc": "2.0", "id": second["id"], "error": rejected},
                {"jsonrpc": "2.0", "id": first["id"], "result": signature},
            ]
        )

    with scripted_server(batch) as server:
        async with RpcClient([server.url]) as rpc:
            sent, rejected = await rpc.send_transactions([b"one", b"two"])

    assert str(sent) == signature
    assert isinstance(rejected, PreflightFailedError)
    assert rejected.logs == ["log line"]
    assert server.methods() == ["batch:sendTransaction"]


async def test_batch_refused_falls_back_to_single() -> None:
    signature = "1" * 64

    def singles_only(request: Any) -> Reply:
        if isinstance(request, list):
            error = {"code": -32600, "message": "batch requests are not allowed"}
            return Reply(body={"jsonrpc": "2.0", "id": None, "error": error})
        return result(request, signature)

    with scripted_server(singles_only) as server:
        async with RpcClient([server.url]) as rpc:
            first = await rpc.send_transactions([b"one", b"two"])
            second = await rpc.send_transactions([b"three", b"four"])

    assert [str(s) for s in first + second] == [signature] * 4
    assert server.methods() == ["batch:sendTransaction"] + ["sendTransaction"] * 4


async def test_sends_and_statuses_share_batch() -> None:
    signature = "1" * 64
    landed = {"slot": 7, "err": None, "confirmationStatus": "confirmed"}

    def batch(requests: Any) -> Reply:
        first, second, read = requests
        return Reply(
            body=[
                {
                    "jsonrpc": "2.0",
                    "id": read["id"],
                    "result": {"value": [landed, None]},
                },
                {"jsonrpc": "2.0", "id": first["id"], "result": signature},
                {"jsonrpc": "2.0", "id": second["id"], "result": signature},
            ]
        )

    with scripted_server(batch) as server:
        async with RpcClient([server.url]) as rpc:
            sent, statuses = await rpc.send_transactions_with_statuses(
                [b"one", b"two"], [Signature.default(), Signature.new_unique()]
            )

    assert [str(s) for s in sent] == [signature, signature]
    assert statuses is not None
    assert statuses[0] is not None
    assert statuses[0].slot == 7
    assert statuses[0].confirmation_status == "confirmed"
    assert statuses[1] is None
    assert len(server.requests) == 1
    methods = [item["method"] for item in server.requests[0]]
    assert methods == ["sendTransaction", "sendTransaction", "getSignatureStatuses"]


async def test_statuses_unreadable_keep_send_outcomes() -> None:
    signature = "1" * 64
    unhealthy = {"code": -32005, "message": "Node is behind"}

    def batch(requests: Any) -> Reply:
        first, second, read = requests
        return Reply(
            body=[
                {"jsonrpc": "2.0", "id": first["id"], "result": signature},
                {"jsonrpc": "2.0", "id": second["id"], "result": signature},
                {"jsonrpc": "2.0", "id": read["id"], "error": unhealthy},
            ]
        )

    with scripted_server(batch) as server:
        async with RpcClient([server.url]) as rpc:
            sent, statuses = await rpc.send_transactions_with_statuses(
                [b"one", b"two"], [Signature.default()]
            )

    assert [str(s) for s in sent] == [signature, signature]
    assert statuses is None


async def test_statuses_without_batches_sent_after() -> None:
    signature = "1" * 64

    def singles_only(request: Any) -> Reply:
        if isinstance(request, list):
            error = {"code": -32600, "message": "batch requests are not allowed"}
            return Reply(body={"jsonrpc": "2.0", "id": None, "error": error})
        if request["method"] == "getSignatureStatuses":
            return result(request, {"value": [None]})
        return result(request, signature)

    with scripted_server(singles_only) as server:
        async with RpcClient([server.url]) as rpc:
            sent, statuses = await rpc.send_transactions_with_statuses(
                [b"one", b"two"], [Signature.default()]
            )

    assert [str(s) for s in sent] == [signature, signature]
    assert statuses == [None]
    assert isinstance(server.requests[0], list)
    assert server.methods()[1:] == [
        "sendTransaction",
        "sendTransaction",
        "getSignatureStatuses",
    ]
