"""What flows through the request chain: the request, where it may go, its context, the replies.

The request is one immutable value: ``body`` is its only truth and ``wire`` the bytes derived
from it, encoded at most once (the client's own bytes until something changes the body). A
middleware that changes a request hands on ``req.replace(body=...)``; what a target needs (its
output cap, the stream usage the edge asked for, its model name) is applied in one copy
(``for_target``, ``wire_for``), which a pass-through adapter encodes once, when it sends it.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar

import attrs
import orjson
from attrs import define, field, frozen
from multidict import CIMultiDictProxy

from sluicegate.errors import GatewayError
from sluicegate.telemetry import AttemptRecord
from sluicegate.usage import StreamObserver, usage_object, usage_of

T = TypeVar("T")


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
    #: Gemini's ``generateContent`` and ``streamGenerateContent`` (the model is in the path, not
    #: the body; bridged onto chat for providers that do not speak it).
    GENERATE_CONTENT = "models/{model}:generateContent"
    #: Gemini's token counting for a ``generateContent`` request (estimated for other vendors).
    GEMINI_COUNT_TOKENS = "models/{model}:countTokens"


#: The operations of the OpenAI API (bodies in OpenAI's format).
OPENAI_ENDPOINTS = frozenset(
    {Endpoint.CHAT, Endpoint.COMPLETIONS, Endpoint.EMBEDDINGS, Endpoint.MODERATIONS}
)

#: The operations of the Gemini API (bodies in Google's format, the model in the path).
GEMINI_ENDPOINTS = frozenset({Endpoint.GENERATE_CONTENT, Endpoint.GEMINI_COUNT_TOKENS})

#: The operations that count a request's tokens: they generate nothing, so limits and budgets
#: reserve no output for them.
COUNTING = frozenset({Endpoint.COUNT_TOKENS, Endpoint.GEMINI_COUNT_TOKENS})

#: The body fields that bound the output, per operation: lowered to a target's ``output_cap``.
#: (Gemini's ``generationConfig.maxOutputTokens`` is nested: the Gemini bridge and a native
#: Gemini provider lower it themselves.)
LIMIT_FIELDS: dict[Endpoint, tuple[str, ...]] = {
    Endpoint.CHAT: ("max_tokens", "max_completion_tokens"),
    Endpoint.COMPLETIONS: ("max_tokens",),
    Endpoint.MESSAGES: ("max_tokens",),
    Endpoint.RESPONSES: ("max_output_tokens",),
}


# -- where a request can go -------------------------------------------------------------------


class Adapter(Protocol):
    """What the request path needs of a target's provider. ``sluicegate.provider.Provider``,
    the base class of every vendor adapter, is the implementation; this is its seam below it."""

    name: str
    #: Seconds the router waits for a stream's first content before failing over.
    first_byte_timeout: float
    #: Whether the vendor's chat API takes ``reasoning_effort`` (the bridges map onto it).
    reasoning_effort: bool
    #: Whether its chat dialect takes ``cache_control`` marks (the Messages bridge keeps them).
    cache_control: bool
    #: How each operation is served: natively, or bridged onto another (decided at assembly).
    senders: Mapping[Endpoint, Sender]

    def check_request(self, req: GatewayRequest) -> None: ...

    async def send(self, ctx: RequestContext, req: GatewayRequest, target: Target) -> Result: ...

    def secrets(self) -> tuple[str, ...]: ...


@frozen(slots=True)
class Target:
    """One place a request can go: a provider instance and the model name it knows."""

    provider: Adapter
    model: str
    label: str  # "provider/model", for headers, logs and errors
    # The most output tokens this target accepts (its provider's max_output_tokens); a request
    # asking for more is lowered to it before it is sent (``GatewayRequest.for_target``).
    output_cap: int | None = None


@frozen(slots=True)
class Route:
    """Where a requested model may go: its targets, the per-request try order, and extras."""

    targets: tuple[Target, ...]
    # Returns the order to try the targets in for one request (the balancing strategy).
    order: Callable[[], Sequence[Target]] | None = None
    hedge_after: float | None = None
    context_fallbacks: tuple[Target, ...] = ()
    # The alias (for a glob alias, its pattern: metrics labels stay bounded) or "provider/model".
    name: str = field(default="")

    def try_order(self) -> Sequence[Target]:
        return self.targets if self.order is None else self.order()

    # A route reads as its targets, so callers that only need those can treat it as a tuple.
    def __iter__(self):
        return iter(self.targets)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> Target:
        return self.targets[index]


# -- the request --------------------------------------------------------------------------------


def sized(data: bytes) -> bytes:
    """``data`` in a bytes object of its own size. orjson's output keeps the room it reserved for
    escaping every string, about ten times the length (4 KB for a 300-byte body, 1 MB for a
    100 KB one): a body held while a vendor answers is copied down to its length (0.1 µs for a
    small body, 1 µs for 100 KB)."""
    return bytes(memoryview(data))


@frozen(slots=True, eq=False)
class GatewayRequest:
    """A client's API call, parsed once; immutable.

    ``body`` is the client's JSON with every field kept, and never changed in place: a change
    is a new request (``replace``). ``raw``, given at construction, is the body's bytes when
    known (the client's own): the first value of ``wire``, which is otherwise encoded from the
    body when first read, once.
    """

    endpoint: Endpoint
    body: dict[str, Any]
    _wire: bytes | None = field(alias="raw", repr=False)
    model: str
    stream: bool
    targets: tuple[Target, ...] = ()
    # The resolved route (try order, hedging, context fallbacks); None means "targets in order".
    route: Route | None = None
    # Ask the vendor to report a stream's usage (``stream_options.include_usage``): decided by
    # the edge when someone reads usage and the client did not ask, applied by ``for_target``.
    stream_usage: bool = False

    @property
    def wire(self) -> bytes:
        """The body as JSON bytes: what a pass-through adapter sends."""
        wire = self._wire
        if wire is None:
            wire = sized(orjson.dumps(self.body))  # held for the vendor call and its retries
            object.__setattr__(self, "_wire", wire)  # a cache of a value derived from body
        return wire

    def replace(self, **changes: Any) -> GatewayRequest:
        """A copy with ``changes`` (any constructor keyword); a new ``body`` is encoded afresh."""
        if "body" in changes and "raw" not in changes:
            changes["raw"] = None
        return attrs.evolve(self, **changes)

    def for_target(self, target: Target, *, omit: Iterable[str] = ()) -> GatewayRequest:
        """This request as ``target`` receives it (the router hands every adapter this): limits
        above the target's output cap lowered to it, ``stream_options.include_usage`` when the
        edge asked for the usage, without the fields in ``omit``. All in one copy of the body,
        which then carries the target's model name too (so a pass-through adapter sends it as
        it is); itself, the client's body, when none of that applies."""
        body = self.body
        changes: dict[str, Any] | None = None
        cap = target.output_cap
        if cap is not None:
            for name in LIMIT_FIELDS.get(self.endpoint, ()):
                value = body.get(name)
                # Only a well-formed limit is lowered; anything else is the vendor's to judge.
                if type(value) is int and value > cap:
                    changes = changes or {}
                    changes[name] = cap
        if self.stream_usage:
            options = body.get("stream_options")
            if not isinstance(options, dict):
                changes = changes or {}
                changes["stream_options"] = {"include_usage": True}
            elif options.get("include_usage") is not True:
                changes = changes or {}
                changes["stream_options"] = {**options, "include_usage": True}
        dropped = [name for name in omit if name in body] if omit else None
        if changes is None and not dropped:
            return self
        fitted = {**body, **changes, "model": target.model} if changes else {**body, "model": target.model}
        if dropped:
            for name in dropped:
                del fitted[name]
        # Built directly: attrs.evolve (``replace``) costs a microsecond more, on every attempt.
        return GatewayRequest(self.endpoint, fitted, None, self.model, self.stream, self.targets, self.route,
                              self.stream_usage)

    def wire_for(self, target: Target, *, omit: Iterable[str] = ()) -> bytes:
        """What a pass-through adapter sends to ``target``: ``for_target``'s body with the
        target's model name, encoded once. The client's own bytes when nothing changes."""
        sent = self.for_target(target, omit=omit)
        body = sent.body
        if body.get("model") != target.model:
            return orjson.dumps({**body, "model": target.model})
        return sent.wire


# -- per-request state ------------------------------------------------------------------------


class StateKey(Generic[T]):
    """A typed key for a component's own per-request state (``RequestContext.state``), like
    aiohttp's ``AppKey``: the owner's module defines it once; its value type is checked."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<StateKey {self.name}>"


class RequestState:
    """State components keep for one request, by ``StateKey`` (never by string)."""

    __slots__ = ("_values",)

    def __init__(self) -> None:
        self._values: dict[StateKey[Any], Any] = {}

    def get(self, key: StateKey[T]) -> T | None:
        return self._values.get(key)

    def __setitem__(self, key: StateKey[T], value: T) -> None:
        self._values[key] = value

    def pop(self, key: StateKey[T]) -> T | None:
        return self._values.pop(key, None)

    def __contains__(self, key: StateKey[Any]) -> bool:
        return key in self._values


@define(slots=True)
class RequestFacts:
    """What the chain learned about one request, read back by the edge: the record (metrics,
    logs) and the ``x-sluicegate-*`` response headers are made from these."""

    #: Every upstream call, in order (the router appends).
    attempts: list[AttemptRecord] = field(factory=list)
    #: A hedged request won by a later target.
    hedged: bool = False
    #: Which gateway limit refused the request: "client", "model", "concurrency", "provider".
    limited: str | None = None
    #: The response cache's verdict: "hit", "miss", "bypass", "coalesced".
    cache: str | None = None
    #: The answer is the ``[degrade]`` message, not a model's.
    degraded: bool = False
    #: The stream's one observer, once someone reads the stream (``RequestContext.observe``).
    stream: StreamObserver | None = None
    #: Someone settles by what a stream sent when it reports no usage (a budget reservation):
    #: the stream's observer, whoever makes it, counts its content. Set before the call, so a
    #: middleware need not wait for the answer (and stay in the chain) to ask.
    count_content: bool = False


@define(frozen=True, slots=True)
class Identity:
    """Who is calling, as an authenticator found out.

    ``tenant`` keeps clients apart (cache entries, rate limits, stored responses); it must be a
    stable label that is not itself a credential (the token authenticator uses a digest prefix).
    ``client`` is a readable name for logs and metrics (never a credential), or None.
    """

    tenant: str
    client: str | None = None
    #: A key the gateway issued and its team (``sluicegate-governance``), for the ledger and
    #: logs: stable ids, never a credential.
    key_id: str | None = None
    team_id: str | None = None
    #: What the authenticator knows that its own middleware needs later (a key's budget and
    #: limits), opaque to the core; reached as ``ctx.identity.grant``.
    grant: Any = None


@define(slots=True)
class RequestContext:
    """Per-request facts shared along the chain.

    Copies made for one request (a hedge, a bridge's) share ``facts``, ``state`` and
    ``response_headers``: what any of them learns is the request's.
    """

    request_id: str
    tenant: str | None
    client_headers: CIMultiDictProxy[str]
    started: float
    # The client's query string (``beta=true`` from the anthropic SDK's beta calls), for a
    # pass-through to the vendor whose API the client speaks.
    query_string: str = ""
    # Headers for the client's response (a rate limit's budget); the edge adds the facts'.
    response_headers: dict[str, str] = field(factory=dict)
    target: Target | None = None
    #: Who is calling, as the authenticators found out (None on an open gateway).
    identity: Identity | None = None
    facts: RequestFacts = field(factory=RequestFacts)
    state: RequestState = field(factory=RequestState)

    def observe(self, reply: StreamReply, *, hide_usage: bool = False, count_content: bool = False) -> StreamObserver:
        """The request's stream observer, set to watch ``reply`` by whoever in the chain asks
        first (a token limit settling at the stream's end); later callers share it, so each
        event is looked at once."""
        facts = self.facts
        observer = facts.stream
        if observer is None:
            observer = facts.stream = StreamObserver(hide_usage=hide_usage,
                                                     count_content=count_content or facts.count_content)
            reply.events = observer.watch(reply.events)
        else:
            observer.hide_usage |= hide_usage
            observer.count_content |= count_content
        return observer

    def writer_observer(self, *, hide_usage: bool) -> StreamObserver | None:
        """An observer for the stream writer to hand each event to itself (no extra generator
        between the stream and the socket); None when one in the chain watches already (it has
        seen, and marked, every event before the writer gets it)."""
        facts = self.facts
        observer = facts.stream
        if observer is not None:
            observer.hide_usage |= hide_usage
            return None
        observer = facts.stream = StreamObserver(hide_usage=hide_usage, count_content=facts.count_content)
        return observer


_UNPARSED = object()


class Reply:
    """A complete (non-streaming) JSON answer; bytes and parsed form are each made at most once."""

    __slots__ = ("status", "headers", "_body", "_data", "_usage")

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
        self._usage: Any = _UNPARSED
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

    @property
    def usage(self) -> Any:
        """The usage object the answer reports (None when it reports none), read once for all
        who ask (the request record, token rate limits) without parsing the whole answer."""
        usage = self._usage
        if usage is _UNPARSED:
            parsed = self._data
            if isinstance(parsed, dict):  # already parsed by someone (a translation)
                usage = usage_of(parsed)
            elif self._body is not None:
                usage = usage_object(self._body)
            else:
                usage = None
            self._usage = usage
        return usage

    def replace_data(self, data: Any) -> None:
        """Swap in a changed object; the bytes are re-encoded lazily."""
        self._data = data
        self._body = None
        self._usage = _UNPARSED


@define(slots=True)
class SSEEvent:
    """One server-sent event. ``data`` is the raw payload (for OpenAI streams, JSON or [DONE])."""

    data: bytes
    event: str | None = None
    #: More events (or the stream's end) arrived in the same network read and follow at once: a
    #: writer may hold this one and send them together (one socket write instead of several,
    #: and no added delay).
    more: bool = field(default=False, eq=False)
    #: Not for the client: the usage-only chunk the gateway asked for on its behalf (set by the
    #: stream observer, honoured by the writer).
    hidden: bool = field(default=False, eq=False)
    #: The event as it arrived (one ``data:`` line and its blank line), when the decoder knows
    #: ``frame()`` would give exactly these bytes: the writer sends them without framing anew.
    #: None for events the gateway makes. ``data`` is never changed in place (a changed event
    #: is a new one); an event named on the way (``event`` set) is framed anew.
    raw: bytes | None = field(default=None, eq=False, repr=False)

    @classmethod
    def from_data(cls, obj: Any, event: str | None = None) -> SSEEvent:
        return cls(orjson.dumps(obj), event)

    def json(self) -> Any:
        return orjson.loads(self.data)

    @property
    def is_done(self) -> bool:
        return self.data == b"[DONE]"

    def frame(self) -> bytes:
        if self.raw is not None and self.event is None:
            return self.raw
        data = self.data
        if data.find(b"\n") != -1:  # find, not `in` (sluicegate.sse.SSEDecoder.feed says why)
            data = data.replace(b"\n", b"\ndata: ")
        if self.event is None:
            return b"data: " + data + b"\n\n"
        return b"event: " + self.event.encode() + b"\ndata: " + data + b"\n\n"


DONE = SSEEvent(b"[DONE]")


class StreamEnd(Protocol):
    """Hears how the rest of a resumed stream ended (``StreamReply.resume``): the router's
    breaker verdict, and its mapping of an unforeseen failure to a gateway error."""

    def failed(self, error: Exception) -> GatewayError:
        """The stream broke with ``error``: the gateway error to end it with (``error`` itself
        when it is one)."""
        ...

    def succeeded(self) -> None:
        """The stream reached its end."""
        ...


class StreamReply:
    """A streaming answer: an async iterator of events plus the means to stop it early.

    Whoever consumes it must call ``aclose()`` (the edge does, also when the client goes away),
    which closes the upstream connection at once.
    """

    __slots__ = ("_events", "_source", "_held", "_end", "headers", "status", "_closers")

    def __init__(
        self,
        events: AsyncIterator[SSEEvent],
        *,
        headers: dict[str, str] | None = None,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._events = events
        self._source: AsyncIterator[SSEEvent] | None = None
        self._held: list[SSEEvent] | None = None
        self._end: StreamEnd | None = None
        self.headers = headers if headers is not None else {}
        self.status = 200
        # (callback, awaited?) run by ``aclose`` in order: a list, not a chain of closures (a
        # function and its cells per callback, held as long as the stream is open).
        self._closers: list[tuple[Callable[[], Any], bool]] = [(on_close, True)] if on_close is not None else []

    def resume(self, held: list[SSEEvent], events: AsyncIterator[SSEEvent], end: StreamEnd | None) -> None:
        """Put the events a reader took from ``events`` (``held``) back before the rest; ``end``
        hears how the rest ends. Whoever reads ``events`` gets them all through one generator;
        the stream writer takes them apart (``parts``) and reads the rest directly: no step of
        its own per event, which is what the router's hold-back of a stream's start cost."""
        self._events = self._source = events
        self._held, self._end = held, end

    @property
    def events(self) -> AsyncIterator[SSEEvent]:
        if self._held is not None:
            held, end, self._held, self._end = self._held, self._end, None, None
            self._events = _resumed(held, self._events, end)
        return self._events

    @events.setter
    def events(self, events: AsyncIterator[SSEEvent]) -> None:
        # A wrapper set here read the held events through the getter already.
        self._events = events
        self._held = self._end = None

    def parts(self) -> tuple[list[SSEEvent], AsyncIterator[SSEEvent], StreamEnd | None]:
        """The held events, the iterator of the rest and who hears how it ends, for a reader
        that sends the held ones itself and tells ``end`` (``failed`` for any Exception the
        iterator raises, ``succeeded`` at its end)."""
        held, end = self._held or [], self._end
        self._held = self._end = None
        return held, self._events, end

    def __aiter__(self) -> AsyncIterator[SSEEvent]:
        return self.events

    def also_on_close(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` (plain, synchronous) after the reply is closed."""
        self._closers.append((callback, False))

    def on_close_async(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Await ``callback`` after the reply is closed."""
        self._closers.append((callback, True))

    async def aclose(self) -> None:
        """Close the events, then run the close callbacks in the order they were given; each
        runs whatever the ones before it raised (the first error is raised after the last)."""
        for events in (self._events, self._source):
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()
        closers, self._closers = self._closers, []
        failure: BaseException | None = None
        for callback, awaited in closers:
            try:
                if awaited:
                    await callback()  # type: ignore[misc]
                else:
                    callback()
            except BaseException as error:  # raised below, after the others ran
                failure = failure or error
        if failure is not None:
            raise failure


async def _resumed(held: list[SSEEvent], events: AsyncIterator[SSEEvent],
                   end: StreamEnd | None) -> AsyncIterator[SSEEvent]:
    """``StreamReply.events`` of a resumed stream: the held events, then the rest."""
    try:
        for event in held:
            yield event
        async for event in events:
            yield event
    except Exception as error:
        if end is None:
            raise
        failure = end.failed(error)
        if failure is error:
            raise
        raise failure from None
    if end is not None:
        end.succeeded()


Result = Reply | StreamReply
Handler = Callable[[RequestContext, GatewayRequest], Awaitable[Result]]
#: How a provider serves one operation for one target (``Adapter.senders``).
Sender = Callable[[RequestContext, GatewayRequest, Target], Awaitable[Result]]
