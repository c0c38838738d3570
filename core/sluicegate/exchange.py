"""What flows through the request chain: the parsed request, its context, and the replies."""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from attrs import define, field

if TYPE_CHECKING:
    from multidict import CIMultiDictProxy

    from sluicegate.routing import Route, Target


class Endpoint(enum.StrEnum):
    """An API operation the gateway serves; the value is its path under ``/v1/``."""

    CHAT = "chat/completions"
    COMPLETIONS = "completions"
    EMBEDDINGS = "embeddings"
    MODERATIONS = "moderations"
    #: The Anthropic Messages API; its body is in Anthropic's format, not OpenAI's.
    MESSAGES = "messages"
    #: Anthropic's token counting for a Messages request (estimated for other vendors).
    COUNT_TOKENS = "messages/count_tokens"
    #: The OpenAI Responses API (bridged onto chat for providers that do not speak it).
    RESPONSES = "responses"


#: The operations of the OpenAI API (bodies in OpenAI's format).
OPENAI_ENDPOINTS = frozenset(
    {Endpoint.CHAT, Endpoint.COMPLETIONS, Endpoint.EMBEDDINGS, Endpoint.MODERATIONS}
)


@define(slots=True)
class GatewayRequest:
    """A client's API call, parsed once. ``body`` is the client's JSON with every field kept."""

    endpoint: Endpoint
    body: dict[str, Any]
    raw: bytes
    model: str
    stream: bool
    targets: tuple[Target, ...]
    # The resolved route (try order, hedging, context fallbacks); None means "targets in order".
    route: Route | None = None
    # Ask the vendor to report a stream's usage (``stream_options.include_usage``) when it is
    # called; set by the edge when someone reads usage and the client did not ask for it.
    add_stream_usage: bool = False


@define(slots=True)
class RequestContext:
    """Per-request facts shared along the chain; middlewares may add to ``extras``."""

    request_id: str
    tenant: str | None
    client_headers: CIMultiDictProxy[str]
    started: float
    # The client's query string (``beta=true`` from the anthropic SDK's beta calls), for a
    # pass-through to the vendor whose API the client speaks.
    query_string: str = ""
    response_headers: dict[str, str] = field(factory=dict)
    target: Target | None = None
    extras: dict[str, Any] = field(factory=dict)


_UNPARSED = object()


class Reply:
    """A complete (non-streaming) JSON answer; bytes and parsed form are each made at most once."""

    __slots__ = ("status", "headers", "_body", "_data")

    def __init__(
        self,
        body: bytes | None = None,
        *,
        data: Any = _UNPARSED,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:
        if body is None and data is _UNPARSED:
            raise ValueError("a Reply needs body bytes or data")
        self._body = body
        self._data = data
        self.status = status
        self.headers = headers if headers is not None else {}

    @classmethod
    def from_data(cls, data: Any, **kwargs: Any) -> Reply:
        return cls(None, data=data, **kwargs)

    @property
    def body(self) -> bytes:
        if self._body is None:
            self._body = orjson.dumps(self._data)
        return self._body

    @property
    def data(self) -> Any:
        if self._data is _UNPARSED:
            self._data = orjson.loads(self._body)  # type: ignore[arg-type]
        return self._data

    def replace_data(self, data: Any) -> None:
        """Swap in a changed object; the bytes are re-encoded lazily."""
        self._data = data
        self._body = None


@define(slots=True)
class SSEEvent:
    """One server-sent event. ``data`` is the raw payload (for OpenAI streams, JSON or [DONE])."""

    data: bytes
    event: str | None = None
    #: More events arrived in the same network read and follow at once: a writer may hold this
    #: one and send them together (one socket write instead of several, and no added delay).
    more: bool = field(default=False, eq=False)

    @classmethod
    def from_data(cls, obj: Any, event: str | None = None) -> SSEEvent:
        return cls(orjson.dumps(obj), event)

    def json(self) -> Any:
        return orjson.loads(self.data)

    @property
    def is_done(self) -> bool:
        return self.data == b"[DONE]"

    def frame(self) -> bytes:
        data = self.data
        if b"\n" in data:
            data = data.replace(b"\n", b"\ndata: ")
        if self.event is None:
            return b"data: " + data + b"\n\n"
        return b"event: " + self.event.encode() + b"\ndata: " + data + b"\n\n"


DONE = SSEEvent(b"[DONE]")


class StreamReply:
    """A streaming answer: an async iterator of events plus the means to stop it early.

    Whoever consumes it must call ``aclose()`` (the edge does, also when the client goes away),
    which closes the upstream connection at once.
    """

    __slots__ = ("events", "headers", "status", "_on_close")

    def __init__(
        self,
        events: AsyncIterator[SSEEvent],
        *,
        headers: dict[str, str] | None = None,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.events = events
        self.headers = headers if headers is not None else {}
        self.status = 200
        self._on_close = on_close

    def __aiter__(self) -> AsyncIterator[SSEEvent]:
        return self.events

    def also_on_close(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` (plain, synchronous) after the reply is closed."""
        previous = self._on_close

        async def close() -> None:
            try:
                if previous is not None:
                    await previous()
            finally:
                callback()

        self._on_close = close

    def on_close_async(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Await ``callback`` after the reply is closed."""
        previous = self._on_close

        async def close() -> None:
            try:
                if previous is not None:
                    await previous()
            finally:
                await callback()

        self._on_close = close

    async def aclose(self) -> None:
        aclose = getattr(self.events, "aclose", None)
        if aclose is not None:
            await aclose()
        if self._on_close is not None:
            on_close, self._on_close = self._on_close, None
            await on_close()


Result = Reply | StreamReply
Handler = Callable[[RequestContext, GatewayRequest], Awaitable[Result]]
