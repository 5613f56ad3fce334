"""A loopback TCP proxy that adds network latency, for benchmarks only.

Every byte is delayed by half the round-trip time in each direction, so a
request and its response together cost one RTT more than a direct
connection. Bytes keep their order, and bandwidth is not throttled: each read
is forwarded at read time + RTT/2 by a separate writer task, so a large
request spread over many reads is delayed once, not once per read. A new
connection cannot carry data before one RTT has passed since it was accepted,
as with a TCP handshake; TLS set-up is not emulated.

The proxy runs its own event loop in a daemon thread, so the measured code's
CPU work does not delay its timers more than the GIL does.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from types import TracebackType

from slopops.stack.process import free_port

logger = logging.getLogger(__name__)

READ_BYTES = 65_536
START_TIMEOUT_SECONDS = 5.0


class LatencyProxy:
    """Forward ``127.0.0.1:<port>`` to ``upstream_host:upstream_port`` with latency.

    Args:
        upstream_host: Host of the server behind the proxy (loopback only).
        upstream_port: Its TCP port.
        rtt_seconds: Round-trip time to add, in seconds; half in each direction.

    Use it as a context manager; ``url`` is the proxied HTTP address.
    """

    def __init__(
        self, upstream_host: str, upstream_port: int, rtt_seconds: float
    ) -> None:
        if rtt_seconds < 0:
            raise ValueError(
                f"rtt_seconds must be 0 or more, got {rtt_seconds}; pass e.g. 0.05"
            )
        if not upstream_host.startswith("127."):
            raise ValueError(
                f"upstream host {upstream_host!r} is not loopback; "
                "the latency proxy is for 127.0.0.0/8 only"
            )
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.rtt_seconds = rtt_seconds
        self.port = free_port()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """The proxied HTTP address."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the proxy thread and wait until it accepts connections."""
        self._thread = threading.Thread(
            target=self._run, name=f"latency-proxy-{self.port}", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_SECONDS):
            raise RuntimeError(
                f"latency proxy on port {self.port} did not start within "
                f"{START_TIMEOUT_SECONDS} s"
            )
        if self._error is not None:
            raise RuntimeError(
                f"latency proxy on port {self.port} failed to start: {self._error}"
            ) from self._error
        logger.info(
            "latency proxy %s -> %s:%d, RTT %.1f ms",
            self.url,
            self.upstream_host,
            self.upstream_port,
            self.rtt_seconds * 1000,
        )

    def stop(self) -> None:
        """Close the listener and every connection, then join the thread."""
        running = self._thread is not None and self._thread.is_alive()
        if running and self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(START_TIMEOUT_SECONDS)
        logger.info("latency proxy %s stopped", self.url)

    def __enter__(self) -> LatencyProxy:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except OSError as exc:
            # Raised again by start(), which waits on _ready.
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        tasks: set[asyncio.Task[None]] = set()

        def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.ensure_future(self._connection(reader, writer))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        server = await asyncio.start_server(accept, "127.0.0.1", self.port)
        self._ready.set()
        async with server:
            await self._stop.wait()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _connection(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        accepted_at = time.monotonic()
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                self.upstream_host, self.upstream_port
            )
        except OSError as exc:
            logger.warning("latency proxy could not reach upstream: %s", exc)
            client_writer.close()
            return
        # Data can leave the client only after the emulated handshake (one RTT).
        handshake_done = accepted_at + self.rtt_seconds
        try:
            await asyncio.gather(
                self._pipe(client_reader, upstream_writer, handshake_done),
                self._pipe(upstream_reader, client_writer, accepted_at),
            )
        except OSError as exc:
            logger.warning("latency proxy connection failed: %s", exc)
        finally:
            for writer in (client_writer, upstream_writer):
                writer.close()

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        not_before: float,
    ) -> None:
        """Copy ``reader`` to ``writer``, each read sent RTT/2 after it arrived."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        delay = self.rtt_seconds / 2
        send = asyncio.ensure_future(self._send_due(queue, writer))
        try:
            while True:
                try:
                    data = await reader.read(READ_BYTES)
                except ConnectionError:
                    data = b""
                due = max(time.monotonic(), not_before) + delay
                queue.put_nowait((due, data))
                if not data:
                    break
            await send
        finally:
            send.cancel()

    @staticmethod
    async def _send_due(
        queue: asyncio.Queue[tuple[float, bytes]], writer: asyncio.StreamWriter
    ) -> None:
        """Write each queued read at its due time; an empty read ends the stream."""
        while True:
            due, data = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            try:
                await writer.drain()
            except ConnectionError:
                return
