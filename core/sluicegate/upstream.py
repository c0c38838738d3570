"""HTTP plumbing shared by vendor adapters: headers, timeouts, the call, and error mapping."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from typing import Any, Protocol

import aiohttp
import orjson
from multidict import CIMultiDict

from sluicegate.client_headers import TO_OPENAI, HeaderRule
from sluicegate.errors import GatewayError, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from sluicegate.exchange import SSEEvent, StreamReply
from sluicegate.http_connection import ConnectFailed
from sluicegate.provider import Provider
from sluicegate.resilience.classify import TRAITS, ErrorClass, classify
from sluicegate.resilience.retry_after import retry_after_seconds
from sluicegate.secrets import scrub
from sluicegate.sse import SSEDecoder, iter_sse
from sluicegate.transport import SessionTransport, Transport, UpstreamResponse

#: Cuts a stream body, as its chunks arrive, into events (``sluicegate.sse.iter_sse`` for SSE).
#: What the HTTP client raises when a vendor is slow, unreachable or breaks off (aiohttp's types,
#: which the gateway's own client raises too): ``HttpProvider._failure`` maps them.
TRANSPORT_FAILURES = (TimeoutError, aiohttp.ClientError)
EventDecoder = Callable[[AsyncIterable[bytes]], AsyncIterator[SSEEvent]]

# Never forwarded upstream: hop-by-hop headers (RFC 9110 §7.6.1), the client's credentials,
# and what the HTTP client computes itself.
BLOCKED_REQUEST_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "content-type",
        "content-encoding",
        "accept-encoding",
        "authorization",
        "x-api-key",
        "x-goog-api-key",
        "api-key",
        "cookie",
        "openai-organization",
        "openai-project",
        "anthropic-version",
        "anthropic-beta",
        "x-sluicegate-token",
    }
)


def forwardable_headers(
    client_headers: Mapping[str, str], private: HeaderRule = TO_OPENAI
) -> list[tuple[str, str]]:
    """The client's headers that may travel upstream: all but the blocked ones and those the
    ``private`` rule keeps from this vendor (see ``sluicegate.client_headers``; the default
    suits an OpenAI-dialect vendor serving an OpenAI-dialect client, an adapter that translates
    passes ``TRANSLATED``).

    Headers named in the client's ``Connection`` header are hop-by-hop too and are dropped.
    """
    getall = getattr(client_headers, "getall", None)
    fields = getall("connection", ()) if getall else [client_headers.get("connection") or ""]
    extra_blocked = {token.strip().lower() for field in fields for token in field.split(",")}
    return [
        (name, value)
        for name, value in client_headers.items()
        if (lowered := name.lower()) not in BLOCKED_REQUEST_HEADERS
        and lowered not in extra_blocked
        and not private.drops(lowered)
    ]


def error_message_from_body(body: bytes) -> tuple[str, str | None, str | None]:
    """(message, code, type) from a vendor error body, whatever its shape."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace").strip()
        return (text[:500] or "no error message"), None, None
    return error_fields(data)


def error_fields(data: Any) -> tuple[str, str | None, str | None]:
    """``error_message_from_body`` for a body already parsed: (message, code, type)."""
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict):
            message = error.get("message") or error.get("msg") or data.get("message")
            code = error.get("code") or data.get("code")
            kind = error.get("type")
            return (
                str(message) if message else "no error message",
                str(code) if code is not None else None,
                str(kind) if kind is not None else None,
            )
        if isinstance(error, str):
            return error, None, None
    return "no error message", None, None


class EventScreen(Protocol):
    """What an adapter checks in its vendor's stream, given to ``HttpProvider.events``: a plain
    call per event in the reading generator's own frame, where a generator of the adapter's own
    would add a resumption to every event."""

    def see(self, event: SSEEvent) -> None:
        """Look at one event before it goes on; raise (a GatewayError) to end the stream."""

    def end(self) -> None:
        """The body ended; raise when the stream was not complete."""


class HttpProvider(Provider):
    """A provider that speaks HTTP through its ``transport``: the gateway's shared
    ``ClientSession``, or the ``Services.transport`` a test gave (``sluicegate.transport``)."""

    default_base_url: str | None = None

    def __init__(self, name, options, services) -> None:
        super().__init__(name, options, services)
        self.base_url = (options.base_url or self.default_base_url or "").rstrip("/")
        timeout = options.timeout
        connect = options.connect_timeout or min(10.0, timeout)
        self.timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=connect)
        self.stream_timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect, sock_read=options.idle_timeout or timeout
        )
        self._secrets = self.secrets()
        self.transport: Transport = (
            services.transport if services.transport is not None else SessionTransport(services.http)
        )

    def auth_headers(self) -> dict[str, str]:
        """Headers carrying this provider's credentials; subclasses choose the scheme."""
        return {}

    #: Appended to ``base_url`` by ``probe``: a cheap authenticated GET (OpenAI and Anthropic
    #: both list models there).
    probe_path = "/models"

    async def probe(self) -> None:
        """GET ``base_url + probe_path`` with the provider's credentials.

        The vendor is up when it answers below 500; a 401 or 403 is still a failure, since the
        key is what every real call needs. A 404 (a vendor without that listing) counts as up.
        """
        timeout = aiohttp.ClientTimeout(total=min(10.0, self.options.timeout))
        try:
            response = await self.transport.request(
                "GET", self.base_url + self.probe_path, headers=self.base_headers(), body=None, timeouts=timeout
            )
            try:
                body = await response.read()
            finally:
                response.release()
        except TRANSPORT_FAILURES as exc:
            raise self._failure(exc, "did not answer the health check", "failed the health check") from None
        if response.status >= 500 or response.status in (401, 403):
            raise self.map_error(response.status, body, response.headers)

    def base_headers(self) -> CIMultiDict[str]:
        headers = CIMultiDict({name: value.reveal() for name, value in self.options.headers.items()})
        headers.update(self.auth_headers())
        return headers

    def _failure(self, exc: BaseException, timed_out: str, broke: str) -> GatewayError:
        """The retryable gateway error, with a safe message, for the HTTP client's ``exc`` (one
        of ``TRANSPORT_FAILURES``). Callers catch and raise it themselves: a context manager
        would cost a generator and four calls on every request."""
        if isinstance(exc, (TimeoutError, aiohttp.ServerTimeoutError)):
            return UpstreamTimeout(
                f"provider {self.name!r} {timed_out} within {self.options.timeout:g}s",
                provider=self.name,
                retryable=True,
                error_class=ErrorClass.TIMEOUT,
            )
        if isinstance(exc, (aiohttp.ClientConnectorError, ConnectFailed)):
            return UpstreamUnavailable(
                f"could not connect to provider {self.name!r}: {self.clean(str(exc.os_error))}",
                provider=self.name,
                retryable=True,
                error_class=ErrorClass.NETWORK,
            )
        return UpstreamUnavailable(
            f"provider {self.name!r} {broke}: {exc.__class__.__name__}",
            provider=self.name,
            retryable=True,
            error_class=ErrorClass.NETWORK,
        )

    async def post(self, url: str, body: bytes, headers: Any, stream: bool) -> UpstreamResponse:
        """POST and return the response once its headers arrived; errors become GatewayErrors."""
        try:
            response = await self.transport.request(
                "POST", url, headers=headers, body=body, timeouts=self.stream_timeout if stream else self.timeout
            )
        except TRANSPORT_FAILURES as exc:
            raise self._failure(exc, "did not answer", "connection failed") from None
        if response.status >= 400:
            body = await self.read_all(response)
            error = self.map_error(response.status, body, response.headers)
            if error.retry_after is None:
                # Here rather than in each adapter, so every HTTP vendor's wait is known.
                error.retry_after = retry_after_seconds(
                    response.headers, self.services.wall_clock(), status=response.status
                )
            raise error
        return response

    async def read(self, response: UpstreamResponse) -> bytes:
        try:
            return await response.read()
        except TRANSPORT_FAILURES as exc:
            raise self._failure(exc, "did not finish answering", "broke off its answer") from None

    async def read_all(self, response: UpstreamResponse) -> bytes:
        """``read``, then hand the connection back to the pool whatever happened."""
        try:
            return await self.read(response)
        finally:
            response.release()

    def stream_reply(self, events: AsyncIterator[SSEEvent], response: UpstreamResponse) -> StreamReply:
        """Wrap an adapter's event iterator so closing the reply closes the upstream connection
        at once, however deeply the adapter nests its generators."""

        reply = StreamReply(events)
        reply.also_on_close(response.close)
        return reply

    async def events(self, response: UpstreamResponse, decode: EventDecoder = iter_sse,
                     screen: EventScreen | None = None) -> AsyncIterator[SSEEvent]:
        """The response body as events, cut by ``decode`` (SSE unless a vendor frames its
        stream otherwise), each shown to ``screen`` before it is yielded; closing the iterator
        closes the connection."""
        try:
            if decode is iter_sse:
                # SSE decoded here, in this frame: a generator fewer for every event.
                decoder = SSEDecoder()
                content = response.content
                # readany, not iter_any: an async generator fewer a stream (each one is
                # registered with the loop on its first step and dropped at its end).
                read = content.readany
                while chunk := await read():
                    events = decoder.feed(chunk)
                    if events and content.at_eof():
                        # The body's end is here too: it follows the last event at once, so a
                        # writer may hold that one and send it with the end (one write fewer).
                        events[-1].more = True
                    for event in events:
                        if screen is not None:
                            screen.see(event)
                        yield event
                for event in decoder.end():
                    if screen is not None:
                        screen.see(event)
                    yield event
            else:
                async for event in decode(response.content.iter_any()):
                    if screen is not None:
                        screen.see(event)
                    yield event
            if screen is not None:
                screen.end()
        except TRANSPORT_FAILURES as exc:
            raise self._failure(exc, "went silent mid-stream, nothing", "broke off the stream") from None
        finally:
            response.close()

    def clean(self, text: str) -> str:
        return scrub(text, self._secrets)

    def map_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        """Turn a vendor's error response into a GatewayError; adapters refine this."""
        message, code, kind = error_message_from_body(body)
        extra: dict[str, str] = {}
        retry_after = headers.get("retry-after")
        if retry_after and status == 429:
            extra["Retry-After"] = retry_after
        error = UpstreamError(
            f"provider {self.name!r} returned HTTP {status}: {self.clean(message)}",
            provider=self.name,
            status=status,
            # The vendor's code and type reach the client and the access log too: scrub them.
            type=self.clean(kind) if kind else ("invalid_request_error" if status < 500 else "upstream_error"),
            code=self.clean(code) if code else f"upstream_{status}",
            headers=extra,
        )
        return self.classified(error, self.vendor_error_class(status, code, kind, message))

    def vendor_error_class(
        self, status: int | None, code: str | None, kind: str | None, message: str
    ) -> ErrorClass | None:
        """What a vendor error's code, type or message tells beyond its status (``None`` inside
        a stream); None when nothing, and the status and well-known codes decide."""
        return None

    @staticmethod
    def classified(error: GatewayError, error_class: ErrorClass | None = None) -> GatewayError:
        """Give ``error`` its class (``error_class``, else derived) and the retryability of it."""
        error.error_class = error_class or classify(error)
        error.retryable = TRAITS[ErrorClass(error.error_class)].retryable
        return error
