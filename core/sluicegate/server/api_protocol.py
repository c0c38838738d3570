"""API connections: the API's POST operations served on a connection protocol of the gateway's own.

For every request aiohttp's server makes a parsed message, a payload reader, a ``web.Request``,
a response and its writer, and for every connection a protocol and a task that lives as long
as the connection: on it a JSON request cost the gateway 121 µs of CPU, here 76, and an open
stream ~10 KB more (contrib/bench/README.md, sixth session). For the operations agents call all day
(the fixed POST paths: chat completions, responses, messages, ...) an ``ApiConnection`` does
without them: an httptools parser, the head's headers in a ``CIMultiDictProxy`` (what aiohttp's
``request.headers`` is), the body's bytes, one task per request, and each answer written to the
transport in one write (a stream: its head with its first events, its end with its last).

Anything else on the connection (another path or method, ``Expect``, a chunked or encoded body,
no ``Content-Length``, HTTP/1.0, an upgrade, a malformed head, a body over the limit, a shutdown
under way) is handed to aiohttp's server as it arrived: the transport's protocol becomes a
``GatewayProtocol`` (server/protocol.py) fed that request's bytes onwards, and stays one. So
browsers, the admin console, Gemini's paths and every unusual request keep aiohttp's handling,
errors included; only the common case takes the short path, and it answers as aiohttp's would
(``tests/test_api_protocol.py`` compares the two).

Pipelined requests are answered in order: bytes that arrive while a request is served wait,
with reading paused, until its answer is written.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, Protocol

import httptools
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from sluicegate.errors import GatewayError
from sluicegate.exchange import Reply
from sluicegate.gateway import Gateway
from sluicegate.server.connections import ConnectionGuard
from sluicegate.server.dispatch import fixed_post_routes, plain_app
from sluicegate.server.drain import Drain, cut_at_shutdown, is_cut
from sluicegate.server.edge import (
    add_cors_headers,
    cors_headers,
    open_record,
    render_error,
    request_id_from,
)
from sluicegate.server.handlers import Operation, reply_headers, write_stream
from sluicegate.server.inbound import body_stalled
from sluicegate.telemetry import NO_RECORD, NullRecord, RequestRecord

log = logging.getLogger("sluicegate")


class ConnectionOwner(Protocol):
    """The server the connections belong to (``GatewayServer``): their caps, timeouts and refusals,
    and the one that takes a connection over for aiohttp's handling."""

    guard: ConnectionGuard
    header_timeout: float
    api_connections: set[ApiConnection]

    def admit(self, transport: asyncio.Transport) -> str | None: ...

    def head_timed_out(self, transport: asyncio.Transport, client: str, started: bool) -> None: ...

    def adopt(self, transport: asyncio.Transport, client: str, data: bytes) -> None: ...


class ApiLane:
    """What the API connections of one server share: the operations they serve, by path."""

    __slots__ = ("routes", "gateway", "drain", "keepalive_timeout", "loop")

    def __init__(self, routes: dict[bytes, Operation], gateway: Gateway, drain: Drain,
                 keepalive_timeout: float, loop: asyncio.AbstractEventLoop) -> None:
        self.routes = routes
        self.gateway = gateway
        self.drain = drain
        self.keepalive_timeout = keepalive_timeout
        self.loop = loop


def api_lane(app: web.Application, gateway: Gateway, drain: Drain, keepalive_timeout: float,
             loop: asyncio.AbstractEventLoop) -> ApiLane | None:
    """The lane of a frozen ``app``: None (everything on aiohttp's server) when a plugin added a
    middleware, a sub-app or a response signal (they would be skipped), or when the config says
    ``[server] api_server = "aiohttp"``."""
    if gateway.config.server.api_server != "gateway" or not plain_app(app):
        return None
    if list(app.on_response_prepare) != [add_cors_headers]:
        return None
    routes = {}
    for path, (handler, _) in fixed_post_routes(app).items():
        operation = getattr(handler, "__self__", None)
        if isinstance(operation, Operation) and operation.checked:
            routes[path.encode()] = operation
    return ApiLane(routes, gateway, drain, keepalive_timeout, loop) if routes else None


class _HandOff(Exception):
    """Raised in a parser callback: this request is for aiohttp's server."""


class _Pipelined(Exception):
    """Raised in a parser callback: a request began behind one not yet answered."""


#: Connection states.
IDLE, HEAD, BODY, BUSY = range(4)
#: A head longer than this goes to aiohttp's server, whose limits judge it (8,190 bytes a line).
MAX_HEAD = 8190
#: Request headers that send a request to aiohttp's server.
_AIOHTTP_HEADERS = frozenset({b"expect", b"transfer-encoding", b"upgrade", b"content-encoding"})
#: Headers of an answer the connection sets itself.
_OWN_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "date"})
_STATUS_LINES: dict[int, bytes] = {}


def _status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    if line is None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        line = _STATUS_LINES[status] = f"HTTP/1.1 {status} {reason}\r\n".encode()
    return line


class _Date:
    """The Date header's line, made once a second."""

    __slots__ = ("second", "line")

    def __init__(self) -> None:
        self.second = -1
        self.line = ""

    def __call__(self) -> str:
        now = int(time.time())
        if now != self.second:
            self.second = now
            self.line = f"Date: {email.utils.formatdate(now, usegmt=True)}\r\n"
        return self.line


_date = _Date()


def encode_head(status: int, headers: dict[str, str], framing: str, close: bool) -> bytes:
    """A response head: the status line, ``headers`` (their own framing left out), the Date, the
    ``framing`` line (Content-Length or chunked) and Connection: close when the connection ends.
    A header value with a line break is refused, as aiohttp refuses it."""
    lines = [_date()]
    for name, value in headers.items():
        if name.lower() in _OWN_HEADERS:
            continue
        if "\n" in value or "\r" in value or "\n" in name or "\r" in name:
            raise ValueError("Newline or carriage return character detected in HTTP header")
        lines.append(f"{name}: {value}\r\n")
    lines.append(framing)
    if close:
        lines.append("Connection: close\r\n")
    lines.append("\r\n")
    return _status_line(status) + "".join(lines).encode("utf-8", "surrogateescape")


class ApiConnection(asyncio.Protocol):
    """One client connection on the lane (see the module docstring); also the ``StreamSink`` of
    the stream it is answering."""

    __slots__ = (
        "server", "lane", "transport", "client", "parser", "state", "chunks", "url", "raw_headers",
        "length", "extra", "body", "close_after", "task", "timer", "kept_alive", "head_bytes", "waiter",
        "paused", "pending", "prepared", "sent", "lost", "assembly", "origin",
    )

    def __init__(self, server: ConnectionOwner, lane: ApiLane) -> None:
        self.server = server
        self.lane = lane
        self.transport: Any = None
        self.client = ""
        # Made when a request begins and dropped once it is read (0.9 KB an open stream kept,
        # for 0.3 µs a request).
        self.parser: Any = None
        self.state = IDLE
        # The bytes since the request being read began, until its head is accepted: what a
        # hand-off gives aiohttp's server.
        self.chunks: list[bytes] = []
        self.url = b""
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.length = 0  # the body's Content-Length
        self.extra = 0  # bytes received after the head
        self.body: list[bytes] = []
        self.close_after = False
        self.task: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.kept_alive = False  # the timer is the keep-alive wait for a next request
        self.head_bytes = b""  # a stream's head, sent with its first write
        self.waiter: asyncio.Future[None] | None = None  # a write waiting for the buffer to drain
        self.paused = False  # the transport's buffer is full
        self.pending = b""  # bytes behind the request being answered (pipelined)
        self.prepared = False
        self.sent = False
        self.lost = False
        # The assembly and the Origin of the request being answered (its CORS headers).
        self.assembly: Any = None
        self.origin: str | None = None

    # -- the connection ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        client = self.server.admit(transport)  # type: ignore[arg-type]
        if client is None:
            self.lost = True
            return
        self.transport = transport
        self.client = client
        self.server.api_connections.add(self)
        self._arm(self.server.header_timeout, self._head_timed_out)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self.lost:
            return
        self.lost = True
        self._disarm()
        self.server.guard.release(self.client)
        self.server.api_connections.discard(self)
        self.transport = None
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionResetError("the client closed the connection"))
        task = self.task
        if task is not None and not task.done():
            task.cancel()  # the client left: the vendor call stops (aiohttp's handler_cancellation)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def data_received(self, data: bytes) -> None:
        state = self.state
        if state is BUSY:
            # A request behind the one being answered: read once that answer is written.
            self.pending += data
            self.transport.pause_reading()
            return
        if state is IDLE:
            self.state = HEAD
            self.parser = httptools.HttpRequestParser(self)
            if self.kept_alive:  # the first byte of a later request: its head has header_timeout
                self.kept_alive = False
                self._arm(self.server.header_timeout, self._head_timed_out)
        if state is BODY:
            self.extra += len(data)
        else:
            self.chunks.append(data)
            self.extra += len(data)  # the bytes since the head began
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as error:
            if not isinstance(error.__context__, _Pipelined):
                self._hand_off()  # _HandOff, or a head this protocol cannot take
                return
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            self._hand_off()  # aiohttp's server answers the malformed request (a JSON 400)
            return
        state = self.state
        if state is BUSY:
            self.parser = None
            left = self.extra - self.length  # bytes of the next request in this read
            if left > 0:
                self.pending = data[len(data) - left:]
                self.transport.pause_reading()
        elif state is BODY:
            self._arm(self.lane.gateway.current.body_idle_timeout, self._body_stalled)
        elif self.extra > MAX_HEAD:  # still no end of the head in this many bytes
            self._hand_off()

    # -- parser callbacks -------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.state is BUSY:
            raise _Pipelined

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        parser = self.parser
        path = self.url.partition(b"?")[0]
        if (self.lane.drain.phase or parser.get_method() != b"POST" or path not in self.lane.routes
                or parser.get_http_version() != "1.1"):
            raise _HandOff
        length = None
        for name, value in self.raw_headers:
            lowered = name.lower()
            if lowered == b"content-length":
                if length is not None:
                    raise _HandOff
                length = int(value)
            elif lowered in _AIOHTTP_HEADERS:
                raise _HandOff
        if length is None or length > self.lane.gateway.current.max_body:
            raise _HandOff
        head = b"".join(self.chunks)
        end = head.find(b"\r\n\r\n") + 4
        # Where the head ends is needed to find pipelined bytes; llhttp also takes bare LF line
        # ends, which this count would miss: such heads are aiohttp's.
        if end < 4 or head.count(b"\n", 0, end) != head.count(b"\r\n", 0, end):
            raise _HandOff
        if end > MAX_HEAD:
            raise _HandOff
        self.chunks = []
        self.extra = len(head) - end
        self.length = length
        self.close_after = not parser.should_keep_alive()
        self.state = BODY
        self._disarm()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        body = self.body
        self._answer(body[0] if len(body) == 1 else b"".join(body))

    def _answer(self, raw: bytes, refusal: GatewayError | None = None) -> None:
        """Start answering the request read (``refusal``: with that error)."""
        path, _, query = self.url.partition(b"?")
        operation = self.lane.routes[path]
        headers = CIMultiDictProxy(CIMultiDict(
            [(name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape"))
             for name, value in self.raw_headers]))
        self.body = []
        self.raw_headers = []
        self.url = b""
        self.state = BUSY
        self._disarm()
        self.task = self.lane.loop.create_task(
            self._serve(operation, path.decode(), query.decode("utf-8", "surrogateescape"), headers, raw, refusal))

    # -- answering --------------------------------------------------------------------------------

    async def _serve(self, operation: Operation, path: str, query: str, headers: CIMultiDictProxy[str],
                     raw: bytes, refusal: GatewayError | None) -> None:
        lane = self.lane
        request_id = request_id_from(headers)
        assembly = self.assembly = lane.gateway.current
        self.origin = headers.get("origin")
        telemetry = assembly.telemetry
        record: RequestRecord | NullRecord = (
            open_record(telemetry, request_id, "POST", path, path, headers) if telemetry.watching else NO_RECORD)
        self.prepared = self.sent = False
        if lane.drain.phase:  # the notice window began while this request was read
            self.close_after = True
        api = operation.api
        try:
            try:
                record.api = api  # before anything can refuse the request: its errors count too
                if refusal is not None:
                    raise refusal
                identity = await operation.identify(assembly, record, headers)
                answer = await operation.answer(assembly, request_id, record, identity, headers, query, raw,
                                                operation.read(None, raw))  # type: ignore[arg-type]
                # What the request's body is still needed for (a stored Responses turn) holds it;
                # this frame does not, for as long as a stream stays open.
                del raw
                result = answer.result
                if type(result) is Reply:
                    record.note_reply(result)
                    record.status = result.status
                    self._reply(result.status, reply_headers(answer.ctx, result), result.body)
                else:
                    await write_stream(self, answer.ctx, result, assembly, lane.drain, path, api, record,
                                       answer.inband, answer.hide_usage)
            except GatewayError as error:
                self._error(error, request_id, record, api)
            except ConnectionResetError:
                record.status = 499  # the client left before its answer was written
            except asyncio.CancelledError:
                # The shutdown cut a request whose answer has not started: a 503 beats a bare close.
                if not is_cut(lane.drain) or self.sent or self.lost:
                    record.status = 499  # the client left while waiting
                    raise
                task = asyncio.current_task()
                if task is not None:
                    task.uncancel()
                self._error(cut_at_shutdown(), request_id, record, api)
            except Exception:
                # The traceback goes to the log with the request id, never to the client.
                log.exception("unhandled error while serving POST %s [%s]", path, request_id)
                if self.sent:
                    self.close_after = True
                else:
                    self._error(GatewayError("The gateway hit an internal error.", status=500), request_id, record, api)
        finally:
            if record is not NO_RECORD:
                record.latency = time.monotonic() - record.started
                telemetry.request_finished(record)
            self._done()

    def _head(self, status: int, headers: dict[str, str], framing: str) -> bytes:
        """The answer's head, with its CORS headers."""
        cors = self.assembly.config.server.cors
        if cors is not None:
            cors_headers(cors, self.origin, headers)
        return encode_head(status, headers, framing, self.close_after)

    def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self._send(self._head(status, headers, f"Content-Length: {len(body)}\r\n") + body)

    def _error(self, error: GatewayError, request_id: str, record: RequestRecord | NullRecord, api: str) -> None:
        body, headers = render_error(self.assembly, record if record is not NO_RECORD else None, error, request_id,
                                     api)
        headers = {**headers, "Content-Type": "application/json"}
        if headers.get("Connection") == "close":
            self.close_after = True
        try:
            self._reply(error.status, headers, body)
        except ConnectionResetError:
            pass

    def _send(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("Cannot write to closing transport")
        transport.write(data)
        self.sent = True

    def _done(self) -> None:
        """The answer is written: the connection waits for the next request, or closes."""
        self.task = None
        self.head_bytes = b""
        transport = self.transport
        if transport is None:
            return
        if self.close_after or self.lost:
            transport.close()
            return
        self.state = IDLE
        self.extra = self.length = 0
        pending, self.pending = self.pending, b""
        self._arm(self.lane.keepalive_timeout, self._idle_timed_out)
        self.kept_alive = True
        if pending:
            transport.resume_reading()
            self.data_received(pending)

    # -- StreamSink -------------------------------------------------------------------------------

    async def start(self, headers: dict[str, str]) -> None:
        self.head_bytes = self._head(200, headers, "Transfer-Encoding: chunked\r\n")
        self.prepared = True

    async def write(self, data: bytes) -> None:
        if not data:
            return  # an empty chunk would end the body
        self._send_body(b"%x\r\n%b\r\n" % (len(data), data))
        if self.paused:
            await self._drained()

    async def write_eof(self, data: bytes = b"") -> None:
        self._send_body(b"%x\r\n%b\r\n0\r\n\r\n" % (len(data), data) if data else b"0\r\n\r\n")

    def _send_body(self, frame: bytes) -> None:
        """A stream's chunk, after its head when that has not gone yet (one write)."""
        if self.head_bytes:
            frame = self.head_bytes + frame
            self.head_bytes = b""
        self._send(frame)

    async def _drained(self) -> None:
        waiter = self.waiter = self.lane.loop.create_future()
        await waiter

    # -- timers -----------------------------------------------------------------------------------

    def _arm(self, after: float, then: Callable[[], None]) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.lane.loop.call_later(after, then)

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _head_timed_out(self) -> None:
        self.timer = None
        transport = self.transport
        if transport is None or self.state not in (IDLE, HEAD):
            return
        self.server.head_timed_out(transport, self.client, self.state is HEAD)
        transport.close()

    def _idle_timed_out(self) -> None:
        self.timer = None
        if self.transport is not None and self.state is IDLE:
            self.transport.close()

    def _body_stalled(self) -> None:
        self.timer = None
        if self.transport is None or self.state is not BODY:
            return
        # Answered as any request (its record, the route's error shape), and the connection
        # closes after it: the rest of the body may still come and must not be read as a request.
        self.close_after = True
        self._answer(b"", body_stalled(self.lane.gateway.current.body_idle_timeout))

    # -- the server's side ------------------------------------------------------------------------

    @property
    def in_request(self) -> bool:
        """From a complete head until its answer is written (as ``GatewayProtocol.in_request``)."""
        return self.state is BODY or self.state is BUSY

    def cut(self) -> None:
        """The grace is over: cancel the running request (it answers 503, or ends its stream)."""
        task = self.task
        if task is not None and not task.done():
            task.cancel()

    def force_close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _hand_off(self) -> None:
        """Give the connection, from the request being read on, to aiohttp's server."""
        if self.state is not HEAD:  # only a head is handed over; a body cannot be taken back
            self.force_close()
            return
        self._disarm()
        self.server.api_connections.discard(self)
        self.lost = True  # this protocol is done; the guard's count goes with the connection
        transport, self.transport = self.transport, None
        data = b"".join(self.chunks)
        self.chunks = []
        self.server.adopt(transport, self.client, data)
