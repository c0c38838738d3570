"""``POST /admin/api/playground``: the console's chat with any alias, through the real request chain.

The console holds the admin token, not a client key, so it cannot call ``/v1``. This route runs
the chat the way ``/v1/chat/completions`` does (``sluicegate.server.handlers``): the serving
assembly's router resolves the alias and its ``chain`` runs it, so the cache, limits, retries,
fallbacks and breakers all act as they would for a client. The caller has no identity (an
operator, not a client): the governance guard lets it through untouched, as on an open gateway,
and no client headers are handed on (the admin token must never reach a vendor).

What the page shows besides the answer comes back as ``meta``: every upstream call in order
(the route taken), retries, fallback, the cache's verdict, latency, tokens and the cost as the
``pricing`` extension prices it. A stream sends the chat chunks as they come and ends with an
``event: sluicegate`` carrying the meta; a complete answer is ``{"answer": ..., "meta": ...}``.
The request still counts as traffic: its record (logs, metrics, the ledger) is filled as the
``/v1`` handler fills it, under the client name ``admin console``.

Bounded: the body (256 KB), the messages (100), ``max_tokens`` (1,024, also the default), the
whole request (120 s, the stream included) and the playground requests in flight (8).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import attrs
import orjson
from aiohttp import web
from attrs import define
from multidict import CIMultiDict, CIMultiDictProxy

from sluicegate.errors import GatewayError, InvalidRequest
from sluicegate.exchange import Endpoint, GatewayRequest, Reply, RequestContext, StreamReply
from sluicegate.extensions.pricing import CURRENCY, Pricing
from sluicegate.gateway import Assembly, Gateway
from sluicegate.resilience.classify import classify
from sluicegate.retry_hints import with_retry_hints
from sluicegate.server.drain import EndAtCut
from sluicegate.server.handlers import SSE_HEADERS, note_outcome, response_headers
from sluicegate.server.inbound import read_body
from sluicegate.server.keys import ASSEMBLY, DRAIN, RECORD, REQUEST_ID
from sluicegate.telemetry import AttemptRecord, RequestRecord
from sluicegate_admin.body import MAX_BODY, parse_json

log = logging.getLogger("sluicegate.admin")

#: The body fields this route reads; anything else is refused before any vendor is called.
FIELDS = ("model", "messages", "max_tokens", "stream")
ROLES = ("system", "user", "assistant")
MESSAGE_FIELDS = frozenset({"role", "content"})
MAX_MESSAGES = 100
#: The most output tokens one playground answer may ask for, and what it asks for by default.
MAX_TOKENS = 1024
MAX_MODEL = 200
#: Seconds for one playground request in all: retries, fallbacks and the whole stream.
TOTAL_TIMEOUT = 120.0
#: Playground requests running at once; more get a 429 rather than queue.
MAX_IN_FLIGHT = 8
#: The client name the request's record (logs, ledger) carries: never a credential.
CLIENT_NAME = "admin console"
#: The name of the stream's last event, the one carrying the meta.
META_EVENT = "sluicegate"
_NO_HEADERS: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())


# -- the body ---------------------------------------------------------------------------------


@define(frozen=True)
class Ask:
    """A checked playground request."""

    model: str
    messages: tuple[dict[str, str], ...]
    max_tokens: int
    stream: bool

    def chat_body(self) -> dict[str, Any]:
        """The chat request the chain runs (OpenAI's chat completions format)."""
        return {"model": self.model, "messages": list(self.messages), "max_tokens": self.max_tokens,
                "stream": self.stream}


def _invalid(param: str, message: str, code: str = "invalid_value") -> InvalidRequest:
    return InvalidRequest(message, param=param, code=code)


def _shown_field(name: str) -> str:
    # A field name comes from the body: shown only when short and printable.
    return name if len(name) <= 64 and name.isprintable() else name[:64].encode("unicode_escape").decode()


def _model(value: Any) -> str:
    if value is None:
        raise _invalid("model", "model is required: the alias to chat with.", "missing_required_parameter")
    if not isinstance(value, str) or not value:
        raise _invalid("model", "model must be the alias to chat with, a non-empty string.")
    if len(value) > MAX_MODEL or not value.isprintable() or any(ch.isspace() for ch in value):
        raise _invalid("model", f"model must be at most {MAX_MODEL} printable characters without spaces.")
    return value


def _message(index: int, value: Any) -> dict[str, str]:
    where = f"messages[{index}]"
    if not isinstance(value, dict):
        raise _invalid(where, f"{where} must be an object with a role and a content.")
    for name in value:
        if name not in MESSAGE_FIELDS:
            raise _invalid(f"{where}.{_shown_field(name)}",
                           f"{where} takes only role and content, not {_shown_field(name)!r}.", "unknown_field")
    role = value.get("role")
    if role not in ROLES:
        raise _invalid(f"{where}.role", f"{where}.role must be one of: {', '.join(ROLES)}.")
    content = value.get("content")
    if not isinstance(content, str):
        raise _invalid(f"{where}.content", f"{where}.content must be a string.")
    return {"role": role, "content": content}


def _messages(value: Any) -> tuple[dict[str, str], ...]:
    if value is None:
        raise _invalid("messages", "messages is required: the conversation so far, ending with your message.",
                       "missing_required_parameter")
    if not isinstance(value, list) or not value:
        raise _invalid("messages", "messages must be a non-empty array of {role, content} objects.")
    if len(value) > MAX_MESSAGES:
        raise _invalid("messages", f"messages holds {len(value)} messages; the playground takes at most "
                                   f"{MAX_MESSAGES}. Start a new chat.")
    return tuple(_message(index, message) for index, message in enumerate(value))


def _max_tokens(value: Any) -> int:
    if value is None:
        return MAX_TOKENS
    if type(value) is not int or not 1 <= value <= MAX_TOKENS:
        raise _invalid("max_tokens", f"max_tokens must be a whole number from 1 to {MAX_TOKENS}.")
    return value


def _stream(value: Any) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _invalid("stream", "stream must be true or false.")
    return value


def parse_ask(body: dict[str, Any]) -> Ask:
    """Check a playground body; every refusal names the field (``param``) it is about."""
    for name in body:
        if name not in FIELDS:
            shown = _shown_field(name)
            raise _invalid(shown, f"Unknown field {shown!r}: the playground takes {', '.join(FIELDS)}.",
                           "unknown_field")
    return Ask(_model(body.get("model")), _messages(body.get("messages")), _max_tokens(body.get("max_tokens")),
               _stream(body.get("stream")))


# -- what the page shows besides the answer ---------------------------------------------------------


@define(frozen=True)
class Attempt:
    """One upstream call, as the page lists it."""

    target: str  # "provider/model": the model name sent upstream
    status: int | None  # the vendor's HTTP status (200 for a stream whose first content came)
    error_class: str | None  # None when the call answered
    latency_ms: float

    @classmethod
    def of(cls, attempt: AttemptRecord) -> Attempt:
        return cls(f"{attempt.provider}/{attempt.model}", attempt.status, attempt.error_class,
                   round(attempt.duration * 1000, 1))


@define(frozen=True)
class Meta:
    """How one playground request went."""

    route: tuple[Attempt, ...]
    target: str | None  # the target that answered; None when none did
    retries: int  # calls that repeated a target already tried
    fallback: bool  # more than one target was called
    hedged: bool
    cache: str | None  # hit, miss, bypass, coalesced; None without a cache
    degraded: bool  # the answer is the [degrade] message
    latency_ms: float
    ttft_ms: float | None  # streams: until the first event
    tokens_in: int | None
    tokens_out: int | None
    cost: float | None  # None when [pricing] prices none of it
    currency: str | None
    request_id: str

    def view(self) -> dict[str, Any]:
        return attrs.asdict(self)


def priced(facts: RequestRecord, pricing: Pricing | None) -> tuple[float | None, str | None]:
    """The cost and currency of a finished request as the ``pricing`` extension prices it (on a
    copy: the record itself is priced again when it finishes, for the logs and the ledger)."""
    if pricing is None:
        return None, None
    copy = attrs.evolve(facts, extras={})
    pricing.request_finished(copy)
    return copy.cost, copy.extras.get(CURRENCY)


def meta_of(facts: RequestRecord, ctx: RequestContext, pricing: Pricing | None, latency_ms: float,
            ttft_ms: float | None = None, answered: bool = True) -> Meta:
    # A failed request is priced too: a stream cut short may have reported what it used.
    cost, currency = priced(facts, pricing)
    target = ctx.target if answered else None
    return Meta(
        route=tuple(Attempt.of(attempt) for attempt in facts.attempts),
        target=f"{target.provider.name}/{target.model}" if target is not None else None,
        retries=facts.retries, fallback=facts.fallback, hedged=facts.hedged, cache=facts.cache,
        degraded=facts.degraded, latency_ms=latency_ms, ttft_ms=ttft_ms, tokens_in=facts.tokens_in,
        tokens_out=facts.tokens_out, cost=cost, currency=currency, request_id=ctx.request_id)


# -- the route --------------------------------------------------------------------------------------


def _timed_out(limit: float) -> GatewayError:
    return GatewayError(f"The playground gives a request at most {limit:g} s, retries and the whole answer "
                        "included; this one took longer.", status=504, type="server_error",
                        code="playground_timeout")


def _busy(running: int) -> GatewayError:
    return GatewayError(f"{running} playground requests are running already, as many as run at once; try again "
                        "when one has finished.", status=429, type="requests", code="playground_busy",
                        retry_after=1.0)


class Playground:
    """The handler of ``POST /admin/api/playground`` (one per server, across reloads)."""

    def __init__(self, gateway: Gateway, authorize: Callable[[web.Request], Any],
                 clock: Callable[[], float] = time.monotonic, limit: float | None = None,
                 max_in_flight: int | None = None) -> None:
        self.gateway = gateway
        self.authorize = authorize  # the admin API's bearer check: a viewer gets 403 read_only
        self.clock = clock
        # Read when built, not when defined: a test tightens them for one server.
        self.limit = limit if limit is not None else TOTAL_TIMEOUT
        self.max_in_flight = max_in_flight if max_in_flight is not None else MAX_IN_FLIGHT
        self.in_flight = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.authorize(request)
        assembly = request.get(ASSEMBLY) or self.gateway.current
        if assembly is None:
            raise GatewayError("No config is serving yet.", status=503, code="not_serving")
        raw = await read_body(request, MAX_BODY, assembly.body_idle_timeout)
        ask = parse_ask(parse_json(raw))
        if self.in_flight >= self.max_in_flight:
            raise _busy(self.in_flight)
        self.in_flight += 1
        try:
            return await self._run(request, assembly, ask)
        finally:
            self.in_flight -= 1

    async def _run(self, request: web.Request, assembly: Assembly, ask: Ask) -> web.StreamResponse:
        request_id = request[REQUEST_ID]
        record = request.get(RECORD)
        # The request's own record when an extension watches; else one only this route reads.
        facts = record if isinstance(record, RequestRecord) else RequestRecord(
            request_id, request.method, request.path, time.monotonic(), time.time())
        facts.api, facts.client = "openai", CLIENT_NAME
        facts.model, facts.stream = ask.model, ask.stream
        route = assembly.router.resolve(ask.model)  # an unknown name: 404 model_not_found, param model
        name = route.name
        facts.model_label = name if name in assembly.alias_names else assembly.telemetry.target_label(name)
        ctx = RequestContext(request_id, None, _NO_HEADERS, time.monotonic())
        # The page shows the tokens, so the vendor is asked to report a stream's usage (where the
        # config lets the gateway ask); that chunk is the gateway's, not sent on.
        stream_usage = ask.stream and assembly.stream_usage
        req = GatewayRequest(Endpoint.CHAT, ask.chat_body(), None, ask.model, ask.stream, route.targets, route,
                             stream_usage)
        pricing = assembly.extensions.get("pricing")
        pricing = pricing if isinstance(pricing, Pricing) else None
        started = self.clock()
        deadline = asyncio.get_running_loop().time() + self.limit
        try:
            async with asyncio.timeout_at(deadline) as scope:
                result = await assembly.chain(ctx, req)
        except TimeoutError:
            if not scope.expired():
                raise
            note_outcome(facts, ctx, assembly.telemetry.target_label)
            return self._failed(request, assembly, _timed_out(self.limit), facts,
                                meta_of(facts, ctx, pricing, self._since(started), answered=False))
        except GatewayError as error:
            note_outcome(facts, ctx, assembly.telemetry.target_label)
            return self._failed(request, assembly, error, facts,
                                meta_of(facts, ctx, pricing, self._since(started), answered=False))
        note_outcome(facts, ctx, assembly.telemetry.target_label)
        if isinstance(result, StreamReply):
            return await self._stream(request, assembly, ctx, req, result, facts, pricing, started, deadline)
        facts.note_reply(result)
        meta = meta_of(facts, ctx, pricing, self._since(started))
        return self._answer(request, ctx, result, meta)

    def _since(self, started: float) -> float:
        return round((self.clock() - started) * 1000, 1)

    # -- answers ------------------------------------------------------------------------------

    @staticmethod
    def _answer(request: web.Request, ctx: RequestContext, reply: Reply, meta: Meta) -> web.Response:
        headers = {"x-request-id": request[REQUEST_ID], "Cache-Control": "no-store", **response_headers(ctx)}
        body = orjson.dumps({"answer": reply.data, "meta": meta.view()})
        return web.Response(body=body, status=reply.status, content_type="application/json", headers=headers)

    @staticmethod
    def _failed(request: web.Request, assembly: Assembly, error: GatewayError, facts: RequestRecord,
                meta: Meta) -> web.Response:
        """The error in the admin API's shape, with the route it took (what was tried, and how
        each call failed): the page shows both."""
        facts.status, facts.error_code, facts.error_class = error.status, error.code, classify(error).value
        body = assembly.error_body(error, request[REQUEST_ID], "openai")
        if isinstance(body, dict):
            body = {**body, "meta": meta.view()}
        headers = {"x-request-id": request[REQUEST_ID], "Cache-Control": "no-store", **with_retry_hints(error)}
        return web.Response(body=orjson.dumps(body), status=error.status, content_type="application/json",
                            headers=headers)

    async def _stream(self, request: web.Request, assembly: Assembly, ctx: RequestContext, req: GatewayRequest,
                      reply: StreamReply, facts: RequestRecord, pricing: Pricing | None, started: float,
                      deadline: float) -> web.StreamResponse:
        """Send the chat chunks as they come, then the meta event. An error after the first byte
        ends the answer with OpenAI's in-band error event (the meta still follows); the page
        going away (Stop) closes the upstream call at once."""
        # A shutdown that cuts this stream ends it with an in-band error (see server/drain.py).
        events = EndAtCut(reply.events, request.app[DRAIN])
        # The request's one stream observer (the chain's, when a limit there reads the stream).
        observer = ctx.writer_observer(hide_usage=req.stream_usage)
        see = observer.see if observer is not None else None
        response: web.StreamResponse | None = None
        failure: GatewayError | None = None
        ttft_ms: float | None = None
        held: list[bytes] = []
        try:
            try:
                async with asyncio.timeout_at(deadline):
                    event = await anext(events, None)
            except TimeoutError:
                failure = _timed_out(self.limit)
            except GatewayError as error:
                failure = error
            if failure is not None:  # nothing sent yet: an error status, as for a complete answer
                facts.note_stream(ctx.facts.stream)
                return self._failed(request, assembly, failure, facts,
                                    meta_of(facts, ctx, pricing, self._since(started), answered=False))
            headers = {**SSE_HEADERS, "x-request-id": ctx.request_id, **response_headers(ctx)}
            response = web.StreamResponse(status=200, headers=headers)
            await response.prepare(request)
            facts.status = 200
            facts.ttft = time.monotonic() - facts.started
            ttft_ms = self._since(started)
            try:
                while event is not None:
                    if not (event.hidden or (see is not None and see(event))):
                        held.append(event.frame())
                    # Events that arrived in one network read go out in one write.
                    if held and not event.more:
                        await response.write(b"".join(held))
                        held.clear()
                    async with asyncio.timeout_at(deadline):
                        event = await anext(events, None)
            except TimeoutError:
                failure = _timed_out(self.limit)
            except GatewayError as error:
                failure = error
            except ConnectionResetError:
                facts.status = 499  # the page went away (Stop): closing the reply ends the upstream call
                return response
            except Exception:
                # The 200 is sent: the answer ends with an in-band error; the traceback is the log's.
                log.exception("admin: playground stream failed [%s]", ctx.request_id)
                failure = GatewayError("The gateway hit an internal error.", status=500)
        finally:
            await reply.aclose()
            # Also when the page went away: the record keeps what the stream reported so far.
            facts.note_stream(ctx.facts.stream)
        tail = b"".join(held)
        if failure is not None:
            facts.error_code, facts.error_class = failure.code, "stream_error"
            tail += b"data: " + orjson.dumps(assembly.error_body(failure, ctx.request_id, "openai")) + b"\n\n"
        meta = meta_of(facts, ctx, pricing, self._since(started), ttft_ms, answered=failure is None)
        tail += b"event: " + META_EVENT.encode() + b"\ndata: " + orjson.dumps(meta.view()) + b"\n\n"
        try:
            await response.write(tail)
            await response.write_eof()
        except ConnectionResetError:
            facts.status = 499
        return response
