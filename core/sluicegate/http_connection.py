"""One keep-alive HTTP/1.1 connection to a vendor, and the response read from it.

The pieces of ``sluicegate.http_pool`` that touch the wire: an ``asyncio.Protocol`` that feeds
what arrives to llhttp (through httptools) and keeps the body as the chunks it came in, and the
``UpstreamResponse`` (``sluicegate.transport``) over it. aiohttp's client does the same with a
request object, a writer, a payload object, a stream reader, a timer context and a cookie jar
per call; measured in the bench, its per-call work cost the gateway more CPU than everything the
gateway does itself (``contrib/bench/README.md``).

Failures are raised as aiohttp's exceptions (``ServerDisconnectedError``, ``ClientPayloadError``,
``ServerTimeoutError``), which ``HttpProvider`` already maps to gateway errors.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httptools
from multidict import CIMultiDict, CIMultiDictProxy

#: Body bytes a connection holds before it stops reading from the socket until they are taken
#: (a slow stream consumer must not make the gateway buffer a vendor's whole answer).
HIGH_WATER = 256 * 1024

_DECODERS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class ConnectFailed(aiohttp.ClientConnectionError):
    """The connection to a vendor could not be made; ``os_error`` says why."""

    def __init__(self, os_error: OSError) -> None:
        super().__init__(str(os_error))
        self.os_error = os_error


class UpstreamConnection(asyncio.Protocol):
    """A connection's one exchange at a time: ``send`` a request, ``head`` waits for the status
    and headers, then the body comes as ``chunks`` until ``done``."""

    # Slots: an open stream holds its vendor connection, and an instance dict costs more than
    # the protocol's own fields.
    __slots__ = ("origin", "pool", "transport", "lost", "idle_since", "_loop", "_parser", "_active", "status",
                 "headers", "chunks", "buffered", "done", "_headers_done", "keep_alive", "error", "_waiter",
                 "_decoder", "_paused", "_length_known")

    def __init__(self, origin: Any, pool: Any) -> None:
        self.origin = origin
        self.pool = pool  # told when the connection is lost (``forget``)
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self.idle_since = 0.0
        self._loop = asyncio.get_running_loop()
        self._parser: Any = None  # one per connection: llhttp starts over after each answer
        self._active = False  # an exchange was sent: bytes are expected
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.headers: CIMultiDict[str] | None = None
        self.chunks: list[bytes] = []
        self.buffered = 0
        self.done = False
        self._headers_done = False
        self.keep_alive = False
        self.error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._decoder: Any = None
        self._paused = False
        self._length_known = False

    # -- the exchange ------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        self._reset()
        self._active = True
        self.transport.write(data)  # type: ignore[union-attr]

    # Waits take a number of seconds ``within`` rather than running under ``asyncio.timeout``:
    # a timer that fails the exchange (and closes the connection, whose state is then unknown)
    # is one call_later, where a timeout context is several objects per wait.

    async def head(self, within: float | None) -> None:
        """Until the status and headers arrived (``ServerTimeoutError`` after ``within`` seconds)."""
        while not self._headers_done:
            await self._wait(within)

    async def more(self, within: float | None) -> None:
        """Until more body arrived or it ended."""
        if not self.chunks and not self.done:
            await self._wait(within)

    def take(self) -> bytes:
        """The body that arrived so far (decoded), and reading resumes if it was paused."""
        chunks = self.chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self.buffered = 0
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return data

    async def _wait(self, within: float | None) -> None:
        if self.error is not None:
            raise self.error
        waiter = self._waiter = self._loop.create_future()
        timer = self._loop.call_later(within, self._timed_out, waiter) if within is not None else None
        try:
            await waiter
        finally:
            if timer is not None:
                timer.cancel()
            self._waiter = None
        if self.error is not None:
            raise self.error

    def _timed_out(self, waiter: asyncio.Future[None]) -> None:
        if not waiter.done():
            self.fail(aiohttp.ServerTimeoutError("timed out waiting for the vendor"))

    def fail(self, error: BaseException) -> None:
        """End the exchange with ``error`` and close the connection."""
        if self.error is None and not self.done:
            self.error = error
        self.close()
        self._wake()

    def close(self) -> None:
        self.lost = True
        if self.transport is not None:
            self.transport.close()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._parser = httptools.HttpResponseParser(self)

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        if not self._active or self.done:
            self.fail(aiohttp.ServerDisconnectedError("the vendor sent bytes nobody asked for"))
            return
        try:
            parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.fail(aiohttp.ClientPayloadError(f"the vendor's answer is not valid HTTP/1.1: {exc}"))
            return
        # Once a read, after the parser's callbacks: a vendor that sends each event as its own
        # HTTP chunk makes one on_body per event, all in one read. (A read that completed
        # nothing wakes a waiter that finds nothing and waits again.)
        self._wake()

    def eof_received(self) -> bool:
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.pool.forget(self)
        parser = self._parser
        if not self._active or self.done or self.error is not None:
            return
        if self._headers_done and not self._length_known and not parser.should_keep_alive():
            self.done = True  # a body delimited by the end of the connection (RFC 9112 §6.3)
            self._finish_decoding()
        else:
            self.error = aiohttp.ServerDisconnectedError("the vendor closed the connection mid-answer")
        self._wake()

    # -- httptools callbacks ---------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.headers = CIMultiDict()
        self._headers_done = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.add(name.decode("latin-1"), value.decode("latin-1"))  # type: ignore[union-attr]

    def on_headers_complete(self) -> None:
        parser = self._parser
        self.status = parser.get_status_code()
        if 100 <= self.status < 200:
            self.headers = None  # an interim answer: the real one follows
            return
        self._headers_done = True
        self.keep_alive = parser.should_keep_alive()
        headers = self.headers
        self._length_known = "content-length" in headers or "chunked" in headers.get("transfer-encoding", "").lower()
        encoding = headers.get("content-encoding")
        if encoding:
            wbits = _DECODERS.get(encoding.strip().lower())
            if wbits is None:
                if encoding.strip().lower() != "identity":
                    self.fail(aiohttp.ClientPayloadError(f"the vendor's answer is encoded as {encoding!r}"))
                    return
            else:
                self._decoder = zlib.decompressobj(wbits)

    def on_body(self, body: bytes) -> None:
        if self._decoder is not None:
            try:
                body = self._decoder.decompress(body)
            except zlib.error:
                self.fail(aiohttp.ClientPayloadError("the vendor's compressed answer is corrupt"))
                return
            if not body:
                return
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def on_message_complete(self) -> None:
        if self.status and 100 <= self.status < 200 and self.headers is None:
            return
        self._finish_decoding()
        self.done = True

    def _finish_decoding(self) -> None:
        decoder, self._decoder = self._decoder, None
        if decoder is not None:
            tail = decoder.flush()
            if tail:
                self.chunks.append(tail)


class PooledResponse:
    """``UpstreamResponse`` over an ``UpstreamConnection``: the connection goes back to its pool
    when the body ended (``read``, or ``content.iter_any`` to its end) and is closed when the
    response is closed or released before that, as aiohttp's does."""

    __slots__ = ("status", "headers", "_conn", "_pool", "_read_timeout", "_deadline", "_closed",
                 "_content_type")

    def __init__(self, conn: UpstreamConnection, pool: Any, read_timeout: float | None,
                 deadline: float | None) -> None:
        self._conn = conn
        self._pool = pool
        self.status = conn.status
        self.headers = CIMultiDictProxy(conn.headers)  # type: ignore[arg-type]
        self._read_timeout = read_timeout
        self._deadline = deadline
        self._closed = False
        self._content_type: str | None = None

    @property
    def content(self) -> PooledResponse:
        """The body as it arrives (``iter_any``): the response itself. A property, not an
        attribute holding ``self``, which would be a reference cycle per call for the GC."""
        return self

    @property
    def content_type(self) -> str:
        if self._content_type is None:
            raw = self.headers.get("content-type")
            self._content_type = raw.split(";", 1)[0].strip().lower() if raw else "application/octet-stream"
        return self._content_type

    @property
    def closed(self) -> bool:
        return self._closed

    def _timeout(self) -> float | None:
        """Seconds the next wait for body bytes may last: the read timeout, within the deadline."""
        timeout = self._read_timeout
        if self._deadline is not None:
            left = max(0.0, self._deadline - self._conn._loop.time())
            timeout = left if timeout is None else min(timeout, left)
        return timeout

    async def read(self) -> bytes:
        conn = self._conn
        if self._closed:
            raise aiohttp.ClientConnectionError("the response was closed")
        parts = []
        try:
            while not conn.done:
                await conn.more(self._timeout())
                if conn.chunks:
                    parts.append(conn.take())
        except BaseException:
            self.close()
            raise
        if conn.chunks:
            parts.append(conn.take())
        self.release()
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def at_eof(self) -> bool:
        """The body ended and every byte of it was handed out."""
        conn = self._conn
        return conn.done and not conn.chunks

    async def readany(self) -> bytes:
        """The body's next bytes as they arrive; ``b""`` once it has ended (the connection then
        goes back to the pool). What ``iter_any`` yields, without an async generator."""
        conn = self._conn
        try:
            while not conn.chunks:
                if conn.done:
                    self.release()
                    return b""
                await conn.more(self._timeout())
        except BaseException:
            self.close()
            raise
        return conn.take()

    async def iter_any(self) -> AsyncIterator[bytes]:
        conn = self._conn
        try:
            while True:
                if conn.chunks:
                    yield conn.take()
                    continue
                if conn.done:
                    break
                await conn.more(self._timeout())
        except BaseException:
            self.close()
            raise
        self.release()

    def release(self) -> None:
        if self._closed:
            return
        self._closed = True
        conn = self._conn
        if conn.done and conn.keep_alive and not conn.lost and conn.error is None:
            self._pool.give_back(conn)
        else:
            conn.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._conn.close()

    def __del__(self) -> None:
        # A response dropped without release or close (an adapter's bug) must not hold its
        # connection, and a place under the pool's limit, until the vendor hangs up.
        if not self._closed:
            self._closed = True
            self._conn.close()
