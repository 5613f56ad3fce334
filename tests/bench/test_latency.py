"""The benchmark latency proxy: delay and byte integrity, over real sockets."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from bench.latency import LatencyProxy

RTT_SECONDS = 0.1
REQUEST = os.urandom(300_000)
RESPONSE = os.urandom(200_000)


def receive_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = []
    remaining = size
    while remaining:
        chunk = sock.recv(min(remaining, 65_536))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


@contextmanager
def upstream_server(received: list[bytes]) -> Iterator[int]:
    """Serve one connection: read two requests and reply to each with RESPONSE."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            for _ in range(2):
                received.append(receive_exactly(connection, len(REQUEST)))
                connection.sendall(RESPONSE)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        thread.join(5)
        listener.close()


def exchange(sock: socket.socket) -> tuple[bytes, float]:
    started = time.monotonic()
    sock.sendall(REQUEST)
    response = receive_exactly(sock, len(RESPONSE))
    return response, time.monotonic() - started


def test_proxy_delays_round_trip_keeps_bytes() -> None:
    received: list[bytes] = []
    with upstream_server(received) as port:
        with LatencyProxy("127.0.0.1", port, RTT_SECONDS) as proxy:
            with socket.create_connection(("127.0.0.1", proxy.port)) as client:
                first, first_seconds = exchange(client)
                second, second_seconds = exchange(client)

    assert len(received) == 2
    assert received[0] == REQUEST
    assert received[1] == REQUEST
    assert first == RESPONSE
    assert second == RESPONSE
    # A new connection pays the emulated handshake too.
    assert first_seconds >= 2 * RTT_SECONDS
    assert second_seconds >= RTT_SECONDS


def test_proxy_rejects_remote_upstream() -> None:
    with pytest.raises(ValueError, match="not loopback"):
        LatencyProxy("10.0.0.1", 80, RTT_SECONDS)


def test_proxy_rejects_negative_rtt() -> None:
    with pytest.raises(ValueError, match="rtt_seconds"):
        LatencyProxy("127.0.0.1", 80, -0.01)
