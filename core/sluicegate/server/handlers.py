"""API route handlers: authenticate, parse once, route, run the chain, write the reply."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Protocol

import orjson
from aiohttp import web

from sluicegate.errors import GatewayError
from sluicegate.exchange import (
    GEMINI_ENDPOINTS,
    OPENAI_ENDPOINTS,
    Endpoint,
    GatewayRequest,
    Identity,
    Reply,
    RequestContext,
    StreamEnd,
    StreamReply,
)
from sluicegate.server.drain import Drain, cut_instead
from sluicegate.server.inbound import CHECKS, parse_object, read_body
from sluicegate.server.keys import ASSEMBLY, DRAIN, RECORD, REQUEST_ID
from sluicegate.server.model_list import (
    anthropic_model,
    anthropic_page,
    openai_list,
    openai_model,
    wants_anthropic,
)
from sluicegate.server.responses import begin as begin_turn
from sluicegate.telemetry import NO_RECORD, NullRecord, RequestRecord

log = logging.getLogger("sluicegate")

SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}


class EventStreamResponse(web.StreamResponse):
    """A stream's response (``StreamSink``) on aiohttp's server, whose head goes out with its first
    events, in one write. aiohttp sends a ``StreamResponse``'s head on its own when it is
    prepared; ``write_stream`` starts it only once the first event is here and writes that at
    once, so waiting costs the client nothing and saves a system call (and a packet) per stream."""

    _send_headers_immediately = False

    def __init__(self, request: web.Request) -> None:
        super().__init__(status=200)
        self._request = request

    async def start(self, headers: dict[str, str]) -> None:
        self.headers.update(headers)
        await self.prepare(self._request)


class StreamSink(Protocol):
    """Where ``write_stream`` sends a stream: a response on aiohttp's server, or an API connection
    (server/api_protocol.py). The head is sent with the first write; ``write_eof`` sends its
    ``tail`` with the body's end. A ``ConnectionResetError`` from a write means the client left."""

    @property
    def prepared(self) -> bool: ...

    async def start(self, headers: dict[str, str]) -> None: ...

    async def write(self, data: bytes) -> None: ...

    async def write_eof(self, data: bytes = b"") -> None: ...


#: Turns a request and its body's bytes into (the parsed body, the requested model, stream?):
#: the body's own fields by default (``CHECKS``), the path's for Gemini's API.
Reader = Callable[[web.Request, bytes], tuple[dict[str, Any], str, bool]]


def api_name(endpoint: Endpoint) -> str:
    """The API whose shapes (errors, in-band errors) a client of ``endpoint`` expects."""
    if endpoint in GEMINI_ENDPOINTS:
        return "gemini"
    return "openai" if endpoint in OPENAI_ENDPOINTS or endpoint is Endpoint.RESPONSES else "anthropic"


def checked_reader(endpoint: Endpoint) -> Reader:
    """The reader of an operation whose model and stream flag are in its body."""
    check = CHECKS[endpoint]

    def read(request: web.Request, raw: bytes) -> tuple[dict[str, Any], str, bool]:
        body = parse_object(raw)
        model, stream = check(body)
        return body, model, stream

    return read


class Operation:
    """One API operation, served the same way on aiohttp's server (``handle``) and on the API
    connections (server/api_protocol.py): authenticate, parse once, route, run the chain."""

    __slots__ = ("endpoint", "read", "screen", "api", "checked", "stateful", "may_ask_usage")

    def __init__(self, endpoint: Endpoint, read: Reader | None = None,
                 screen: Callable[[web.Request], None] | None = None) -> None:
        self.endpoint = endpoint
        # The body alone says everything (no path parameter, no screen): the API connections
        # may serve it.
        self.checked = read is None and screen is None
        self.read = checked_reader(endpoint) if read is None else read
        self.screen = screen
        self.api = api_name(endpoint)
        # The Responses API stores its answers and replays stored conversations (server/responses.py).
        self.stateful = endpoint is Endpoint.RESPONSES
        self.may_ask_usage = endpoint in USAGE_OPTION

    async def identify(self, assembly, record: RequestRecord | NullRecord, headers: Mapping[str, str]) -> Identity | None:
        identity = await assembly.authenticate(headers)
        if identity is not None:
            record.tenant, record.client = identity.tenant, identity.client
            record.key_id, record.team_id = identity.key_id, identity.team_id
        return identity

    async def answer(self, assembly, request_id: str, record: RequestRecord | NullRecord, identity: Identity | None,
                     headers: Mapping[str, str], query: str, raw: bytes,
                     parsed: tuple[dict[str, Any], str, bool]) -> Answer:
        """Route the parsed request and run the chain: what the client is to get."""
        body, model, stream = parsed
        record.model, record.stream = model, stream  # a log names even an unknown model
        route = assembly.router.resolve(model)
        name = route.name
        record.model_label = name if name in assembly.alias_names else assembly.telemetry.target_label(name)
        tenant = identity.tenant if identity is not None else None
        ctx = RequestContext(request_id, tenant, headers, time.monotonic(), query, identity=identity)
        # Decided here, applied where the adapter encodes (after limits and cache keys are
        # decided on the client's own body): ask the vendor for a stream's usage when someone
        # reads it; the usage chunk the client did not ask for is not sent on.
        stream_usage = (record.watching and stream and self.may_ask_usage and assembly.stream_usage
                        and not client_asked_for_usage(body))
        req = GatewayRequest(self.endpoint, body, raw, model, stream, route.targets, route, stream_usage)
        turn = None
        if self.stateful:
            turn, req = await begin_turn(assembly.responses, tenant, ctx, req)
        try:
            result = await assembly.chain(ctx, req)
        finally:
            note_outcome(record, ctx, assembly.telemetry.target_label)
        if turn is None:
            return Answer(ctx, result, None, stream_usage)
        return Answer(ctx, await turn.finish(result), turn.inband_error, stream_usage)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The operation on aiohttp's server."""
        assembly = request[ASSEMBLY]
        request_id = request[REQUEST_ID]
        # Facts are noted on one path; when no extension watches, the null record drops them.
        record = request.get(RECORD, NO_RECORD)
        record.api = self.api  # before anything can refuse the request: its errors count too
        if self.screen is not None:
            self.screen(request)
        identity = await self.identify(assembly, record, request.headers)
        raw = await read_body(request, assembly.max_body, assembly.body_idle_timeout)
        answer = await self.answer(assembly, request_id, record, identity, request.headers,
                                   request.rel_url.raw_query_string, raw, self.read(request, raw))
        result = answer.result
        if type(result) is not Reply:
            response = EventStreamResponse(request)
            await write_stream(response, answer.ctx, result, assembly, request.app[DRAIN], request.path, self.api,
                               record, answer.inband, answer.hide_usage)
            return response
        record.note_reply(result)
        return web.Response(body=result.body, status=result.status, headers=reply_headers(answer.ctx, result))


class Answer(NamedTuple):
    """What ``Operation.answer`` found: the request's context, the chain's result, the in-band
    error renderer of a Responses turn, and whether to hide the usage chunk the gateway asked for."""

    ctx: RequestContext
    result: Reply | StreamReply
    inband: Callable[[GatewayError, Any], bytes] | None
    hide_usage: bool


def api_handler(endpoint: Endpoint, read: Reader | None = None,
                screen: Callable[[web.Request], None] | None = None) -> Callable[[web.Request], Any]:
    """The aiohttp handler of one operation. ``read`` gives the body, model and stream flag
    (``checked_reader`` by default); ``screen`` may refuse a request before it is authenticated
    (a key where keys must not go)."""
    return Operation(endpoint, read, screen).handle


def reply_headers(ctx: RequestContext, result: Reply) -> dict[str, str]:
    """A JSON reply's headers: its type and request id, the chain's, the vendor's passed on."""
    headers = {"Content-Type": "application/json", "x-request-id": ctx.request_id}
    headers.update(response_headers(ctx))
    if result.headers:
        headers.update(result.headers)
    return headers


#: Operations whose streams report usage only when asked (``stream_options.include_usage``).
USAGE_OPTION = frozenset({Endpoint.CHAT, Endpoint.COMPLETIONS})
#: The response cache's verdict (``RequestFacts.cache``): hit, miss, bypass, coalesced.
CACHE_HEADER = "x-sluicegate-cache"
#: The answer is the ``[degrade]`` message, not a model's.
DEGRADED_HEADER = "x-sluicegate-degraded"


def client_asked_for_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def response_headers(ctx: RequestContext) -> dict[str, str]:
    """The headers the chain gives the client: its middlewares' own, and the typed facts'."""
    headers = ctx.response_headers
    facts = ctx.facts
    if facts.cache is not None:
        headers[CACHE_HEADER] = facts.cache
    if facts.degraded:
        headers[DEGRADED_HEADER] = "true"
    return headers


def note_outcome(record: RequestRecord | NullRecord, ctx: RequestContext, target_label: Callable[[str], str]) -> None:
    """Copy what the chain learned (target, attempts, cache, limits) into the request's record."""
    facts = ctx.facts
    record.attempts = facts.attempts
    target = ctx.target
    if target is not None:
        record.provider, record.upstream_model = target.provider.name, target.model
        # The target that answered (with hedging, not necessarily the last one called).
        record.target_label = target_label(target.label)
    record.hedged = facts.hedged
    record.limited = facts.limited
    record.cache = facts.cache
    record.degraded = facts.degraded


async def write_stream(
    response: StreamSink,
    ctx: RequestContext,
    reply: StreamReply,
    assembly,
    drain: Drain,
    path: str,
    api: str = "openai",
    record: RequestRecord | NullRecord = NO_RECORD,
    inband: Callable[[GatewayError, Any], bytes] | None = None,
    hide_usage: bool = False,
) -> None:
    """Send events to ``response`` as they come; an upstream failure after the first byte ends the stream with an
    in-band error event rather than a clean end the client would mistake for success.

    What the stream reports (usage) is read by the request's one stream observer: the chain's
    (``RequestContext.observe``, which has marked the events the client is not to see), or, when
    the record wants it and nobody in the chain watched, one fed here (``hide_usage``: drop the
    usage-only chunk the gateway asked for). ``record`` gets the time to the first event and, at
    the end, the observer's findings. ``inband`` renders the in-band error itself (the
    Responses API's events), from the error and its body.
    """
    # A shutdown that cuts this stream ends it with an in-band error (see server/drain.py): each
    # wait for an event turns the cut's CancelledError into that error here, in this frame (an
    # EndAtCut wrapper would add a coroutine to every event).
    # What the router held back (a stream's start, until its first content) comes first; the
    # rest is read straight from the vendor's iterator, and ``end`` hears how it ended.
    held_back, events, end = reply.parts()
    next_event = events.__aiter__().__anext__
    try:
        # Wait for the first event before committing to a 200: errors up to here keep their
        # status (and are where fallback can still act).
        if held_back:
            first = held_back[0]
        else:
            try:
                first = await next_event()
            except BaseException as stop:
                first = _stopped(stop, drain, end)
    except BaseException:
        await reply.aclose()
        raise
    headers = {**SSE_HEADERS, "x-request-id": ctx.request_id}
    headers.update(response_headers(ctx))
    if reply.headers:
        headers.update(reply.headers)
    observer = record.stream_observer(ctx, hide_usage)
    see = observer.see if observer is not None else None
    held: list[bytes] = []
    # What is still held when the stream ends goes out with the body's end, in one write.
    tail = b""
    try:
        await response.start(headers)
        record.status = 200
        record.ttft = time.monotonic() - record.started
        event = first
        later = iter(held_back[1:]) if len(held_back) > 1 else None
        while event is not None:
            if not (event.hidden or (see is not None and see(event))):
                held.append(event.frame())
            # Events that arrived in one network read go out in one write (SSEEvent.more).
            if held and not event.more:
                await response.write(held[0] if len(held) == 1 else b"".join(held))
                held.clear()
            if later is not None:
                event = next(later, None)
                if event is not None:
                    continue
                later = None
            try:
                event = await next_event()
            except BaseException as stop:
                event = _stopped(stop, drain, end)
        if held:
            tail = b"".join(held)
    except ConnectionResetError:
        # The client left; closing the reply below closes the upstream connection.
        record.status = 499
        return
    except Exception as failure:
        if isinstance(failure, GatewayError):
            error = failure
        elif not response.prepared:
            raise  # nothing sent yet: the edge answers with an error status
        else:
            # The 200 is sent: the edge can no longer answer with an error status, so the
            # stream ends with an in-band error and the traceback goes to the log only.
            log.exception("stream failed while serving %s [%s]", path, ctx.request_id)
            error = GatewayError("The gateway hit an internal error.", status=500)
        record.error_code, record.error_class = error.code, "stream_error"
        body = assembly.error_body(error, ctx.request_id, api)
        if inband is not None:
            frame = inband(error, body)
        else:
            # Each API's SDK recognises its own in-band error: OpenAI's (and Google's) a data-only
            # event with an "error" key, Anthropic's an event named "error".
            prefix = b"event: error\ndata: " if api == "anthropic" else b"data: "
            frame = prefix + orjson.dumps(body) + b"\n\n"
        try:
            await response.write(b"".join(held) + frame)
        except ConnectionResetError:
            record.status = 499
            return
    finally:
        await reply.aclose()
        record.note_stream(ctx.facts.stream)
    try:
        await response.write_eof(tail)
    except ConnectionResetError:
        record.status = 499


def _stopped(stop: BaseException, drain: Drain, end: StreamEnd | None) -> None:
    """What the end of a wait for a stream's next event means: None when the stream is over
    (``end`` hears so); otherwise it raises what the writer is to see: a shutdown's cut as its
    in-band error, a vendor's failure as ``end`` maps it (the breaker hears it too)."""
    if type(stop) is StopAsyncIteration:
        if end is not None:
            end.succeeded()
        return None
    if isinstance(stop, asyncio.CancelledError):
        raise (cut_instead(drain) or stop) from None
    if end is not None and isinstance(stop, Exception):
        raise end.failed(stop) from None
    raise stop


async def list_models(request: web.Request) -> web.Response:
    assembly = request[ASSEMBLY]
    await assembly.authenticate(request.headers)
    listing = assembly.router.listing()
    if wants_anthropic(request.headers):
        return json_response(anthropic_page([model_id for model_id, _ in listing], request.query), request)
    return json_response(openai_list(listing), request)


async def get_model(request: web.Request) -> web.Response:
    assembly = request[ASSEMBLY]
    await assembly.authenticate(request.headers)
    model_id = request.match_info["model"]
    owner = next((owner for listed, owner in assembly.router.listing() if listed == model_id), None)
    if owner is None:
        # Any name the gateway routes (provider/model, a glob alias's match) is a model too.
        owner = assembly.router.resolve(model_id)[0].provider.name
    if wants_anthropic(request.headers):
        return json_response(anthropic_model(model_id), request)
    return json_response(openai_model(model_id, owner), request)


def json_response(data: Any, request: web.Request, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(data),
        status=status,
        headers={"Content-Type": "application/json", "x-request-id": request[REQUEST_ID]},
    )
