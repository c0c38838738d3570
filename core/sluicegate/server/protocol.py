"""The HTTP/1.1 connection layer under the app: aiohttp's server with the gateway's rules.

aiohttp's ``RequestHandler`` has no limit on how long a client may take to send a request head,
no cap on connections, answers malformed requests in text/plain (logging a traceback for each),
and at shutdown stops reading every connection at once and applies its timeout twice. This
subclass and its ``Server``:

- close a connection that has not sent a complete request head ``[server] header_timeout``
  seconds after connecting, or after the first byte of a later request (a 408 if it sent part of
  one), and log such closes at most once per interval;
- refuse connections over ``max_connections`` / ``max_connections_per_client`` at once, with a
  503 / 429 in the OpenAI error shape (see connections.py);
- answer protocol errors (too-long lines, too many headers, Content-Length with
  Transfer-Encoding...) with a JSON 400 that the client should not retry, and one log line;
- at shutdown keep open connections readable, so a late keep-alive request gets a 503 (see
  drain.py), and end everything still running within the grace, once.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any, cast

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler

from sluicegate.errors import GatewayError, InvalidRequest
from sluicegate.gateway import Gateway
from sluicegate.retry_hints import with_retry_hints
from sluicegate.server.api_protocol import ApiConnection, ApiLane
from sluicegate.server.connections import ConnectionGuard, LogTally, Refusal
from sluicegate.server.drain import Drain, Phase
from sluicegate.server.edge import new_request_id

log = logging.getLogger("sluicegate")

#: Seconds between two looks at whether in-flight requests are done, while draining.
SETTLE_POLL = 0.05

# The first words of a parser message, echoed to the client and the log only when they are plain
# words: the rest of a message quotes the raw request bytes, which may hold a client's key.
_PLAIN_WORDS = re.compile(r"[A-Za-z][A-Za-z0-9 \-]*(?:'t [A-Za-z0-9 \-]+)?")


def malformed(exc: HttpProcessingError) -> InvalidRequest:
    """The 400 for a request aiohttp's parser refused, without quoting the request."""
    if isinstance(exc, LineTooLong):
        limit = exc.args[1] if len(exc.args) > 1 else None
        size = f" ({limit} bytes)" if isinstance(limit, int) else ""
        message = f"A request line or header is longer than the gateway accepts{size}."
        code = "header_too_large"
    else:
        words = (exc.message or "").split("\n", 1)[0].split(":", 1)[0].strip()[:100]
        detail = words if _PLAIN_WORDS.fullmatch(words) else "malformed request"
        message = f"The request is not valid HTTP/1.1: {detail}."
        code = "invalid_http_request"
    return InvalidRequest(message, code=code)


def raw_response(status: int, body: bytes, headers: dict[str, str]) -> bytes:
    """A whole HTTP/1.1 response for a connection that has no parsed request to answer."""
    lines = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class GatewayProtocol(RequestHandler):
    """One client connection (see the module docstring)."""

    __slots__ = ("_server", "_client", "_admitted", "_head_timer", "_head_bytes", "in_request")

    def __init__(self, server: GatewayServer, **kwargs: Any) -> None:
        super().__init__(server, **kwargs)
        self._server = server
        self._client = ""
        self._admitted = False
        self._head_timer: asyncio.TimerHandle | None = None
        # Some bytes of the next request head arrived (a timeout then answers 408, not silence).
        self._head_bytes = False
        # From a complete request head until its response is written: the connection is busy.
        self.in_request = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        client = self._server.admit(cast(asyncio.Transport, transport))
        if client is None:
            return
        self._admitted = True
        self._client = client
        super().connection_made(transport)
        self._arm_head_timer()

    def adopt(self, transport: asyncio.BaseTransport, client: str) -> None:
        """``connection_made`` for a connection admitted already (an API connection handed over)."""
        self._admitted = True
        self._client = client
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self._admitted:
            return  # refused: never counted, never started
        self._admitted = False
        self._disarm_head_timer()
        self._server.guard.release(self._client)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if data and not self.in_request:
            if not self._admitted:
                return
            self._head_bytes = True
            if self._head_timer is None:
                self._arm_head_timer()  # the first byte of a request on a kept-alive connection
        parsed = self._request_count
        super().data_received(data)
        if self._request_count != parsed:  # a whole head (or a parse error) arrived
            self.in_request = True
            self._disarm_head_timer()

    async def finish_response(
        self, request: web.BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> tuple[web.StreamResponse, bool]:
        if getattr(resp, "status", None) == 408:  # aiohttp also passes what a handler returned
            # The client went silent mid-body: aiohttp's lingering read of the rest (which spares
            # a still-sending client a reset) would only wait, so the connection closes at once.
            self._lingering_time = 0.0
        try:
            return await super().finish_response(request, resp, start_time)
        finally:
            # Requests already parsed behind this one (pipelined) keep the connection busy.
            self.in_request = bool(self._messages)
            self._head_bytes = False

    def handle_error(
        self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        """The answer to a request that never reached the app (or escaped it): always JSON."""
        if request.writer.output_size > 0:
            # Part of a response went out already: the connection is beyond repair.
            raise ConnectionError("a response was partly sent; the connection is closed")
        if isinstance(exc, HttpProcessingError):
            error: GatewayError = malformed(exc)
            # Anyone can send these, so: one line, no traceback (it would only show aiohttp).
            log.info("refused a malformed HTTP request from %s: %s", self._client or "?", error.message)
        else:
            # The edge answers every error of the app itself, so this is unexpected: keep the trace.
            log.error("error handling a request from %s", self._client or "?", exc_info=exc)
            error = GatewayError("The gateway hit an internal error.", status=status if status >= 500 else 500)
        request_id = new_request_id()
        response = web.Response(
            body=self._server.render(error, request_id),
            status=error.status,
            headers={"x-request-id": request_id, **with_retry_hints(error)},
            content_type="application/json",
        )
        response.force_close()
        return response

    def cut(self) -> None:
        """The grace is over: cancel the running handler (drain.py turns that into an answer)."""
        task = self._task_handler
        if task is not None and not task.done():
            task.cancel()

    def _arm_head_timer(self) -> None:
        self._head_timer = self._loop.call_later(self._server.header_timeout, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        transport = self.transport
        if self.in_request or transport is None:
            return
        self._server.head_timed_out(transport, self._client, self._head_bytes)
        self.force_close()


class GatewayServer(web.Server):
    """aiohttp's low-level server making ``GatewayProtocol`` connections; owns their shutdown."""

    def __init__(
        self,
        handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]],
        *,
        gateway: Gateway,
        guard: ConnectionGuard,
        drain: Drain,
        header_timeout: float,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[Any]],
        lane: ApiLane | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(handler, **kwargs)
        # The API's POST operations on connections of the gateway's own (server/api_protocol.py);
        # None: every connection is aiohttp's.
        self.lane = lane
        self.api_connections: set[ApiConnection] = set()
        self.gateway = gateway
        self.guard = guard
        self.drain = drain
        self.header_timeout = header_timeout
        self._clock = clock
        self._sleep = sleep
        self._slow_heads = LogTally(self._log_slow_heads, clock)

    def __call__(self) -> GatewayProtocol | ApiConnection:
        if self.lane is not None:
            return ApiConnection(self, self.lane)
        return GatewayProtocol(self, loop=self._loop, **self._kwargs)

    def adopt(self, transport: asyncio.Transport, client: str, data: bytes) -> None:
        """Take over an API connection (server/api_protocol.py) for aiohttp's handling, from the
        request whose bytes so far are ``data``; its place under the caps goes with it."""
        protocol = GatewayProtocol(self, loop=self._loop, **self._kwargs)
        transport.set_protocol(protocol)
        protocol.adopt(transport, client)
        transport.resume_reading()
        if data:
            protocol.data_received(data)

    def render(self, error: GatewayError, request_id: str) -> bytes:
        """The error body in the OpenAI shape, from the ``gateway_error_body`` plugins."""
        return orjson.dumps(self.gateway.error_body(error, request_id, "openai"))

    def raw_error(self, error: GatewayError) -> bytes:
        request_id = new_request_id()
        headers = {"x-request-id": request_id, **with_retry_hints(error)}
        return raw_response(error.status, self.render(error, request_id), headers)

    def admit(self, transport: asyncio.Transport) -> str | None:
        """The new connection's client address, counted under the caps; None when it is over
        them (it has been answered so and closed)."""
        peer = transport.get_extra_info("peername")
        client = str(peer[0]) if isinstance(peer, (tuple, list)) and peer else ""
        refusal = self.guard.admit(client)
        if refusal is None:
            return client
        self.refuse(transport, refusal)
        return None

    def refuse(self, transport: asyncio.Transport, refusal: Refusal) -> None:
        error = GatewayError(
            refusal.message, status=refusal.status, code=refusal.code,
            type="requests" if refusal.status == 429 else "server_error",
            headers={"Retry-After": "1"},
        )
        # The answer goes out before the client's request is read: refusing must not cost a wait.
        transport.write(self.raw_error(error))
        transport.close()

    def head_timed_out(self, transport: asyncio.Transport, client: str, started: bool) -> None:
        """A connection from ``client`` sent no complete request head within the header timeout:
        tallied for the log, and answered 408 when part of a head came (its caller closes it)."""
        self._slow_heads.note(client or "?")
        if started:
            error = GatewayError(
                f"The request head did not arrive within {self.header_timeout:g} seconds.",
                status=408, type="invalid_request_error", code="request_timeout",
            )
            transport.write(self.raw_error(error))

    def _log_slow_heads(self, count: int, latest: str) -> None:
        log.info("closed %d connection(s) that sent no complete request head within %gs (latest from %s)",
                 count, self.header_timeout, latest)

    def busy(self) -> list[GatewayProtocol | ApiConnection]:
        busy: list[GatewayProtocol | ApiConnection] = [
            conn for conn in self._connections if isinstance(conn, GatewayProtocol) and conn.in_request]
        busy.extend(conn for conn in self.api_connections if conn.in_request)
        return busy

    def pre_shutdown(self) -> None:
        # aiohttp closes every connection here and ignores what arrives on them afterwards, so a
        # request sent on a kept-alive connection meanwhile gets no answer at all. Here they stay
        # open (the edge answers 503 + Connection: close) until the in-flight requests are done.
        if self.drain.phase < Phase.DRAINING:
            self.drain.phase = Phase.DRAINING

    async def shutdown(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 (aiohttp's signature)
        """Wait for in-flight requests until the drain's cut time, cut what still runs, close all.

        One deadline for everything (aiohttp's own shutdown waits ``timeout`` for handlers and
        then ``timeout`` again for their cancellation).
        """
        drain = self.drain
        cut_at, deadline = drain.begin(self._clock(), timeout or 0.0)  # the runner began it at SIGTERM
        await self._settle(cut_at)
        busy = self.busy()
        if busy:
            drain.phase = Phase.CUTTING
            for conn in busy:
                conn.cut()
            await self._settle(deadline)
        for conn in list(self._connections):
            conn.force_close()
        self._connections.clear()
        for api_conn in list(self.api_connections):
            api_conn.force_close()
        self.guard.close()
        self._slow_heads.flush()

    async def _settle(self, until: float) -> None:
        while self.busy():
            left = until - self._clock()
            if left <= 0:
                return
            await self._sleep(min(SETTLE_POLL, left))
