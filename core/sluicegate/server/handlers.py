"""API route handlers: authenticate, parse once, route, run the chain, write the reply."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from sluicegate.errors import GatewayError
from sluicegate.exchange import OPENAI_ENDPOINTS, Endpoint, GatewayRequest, Reply, RequestContext, StreamReply
from sluicegate.server.auth import authenticate, client_token
from sluicegate.server.drain import EndAtCut
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
from sluicegate.usage import StreamUsage, note_usage, reply_usage

log = logging.getLogger("sluicegate")

SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}


def api_handler(endpoint: Endpoint):
    check = CHECKS[endpoint]
    api = "openai" if endpoint in OPENAI_ENDPOINTS or endpoint is Endpoint.RESPONSES else "anthropic"
    # The Responses API stores its answers and replays stored conversations (server/responses.py).
    stateful = endpoint is Endpoint.RESPONSES

    async def handle(request: web.Request) -> web.StreamResponse:
        assembly = request[ASSEMBLY]
        request_id = request[REQUEST_ID]
        record = request.get(RECORD)
        if record is not None:
            record.api = api  # before anything can refuse the request: its errors count too
        tenant = authenticate(assembly.tenants, assembly.open_access, request.headers)
        if record is not None and tenant is not None:
            record.tenant = tenant
            record.client = assembly.client_names.get(client_token(request.headers) or "")
        raw = await read_body(request, assembly.max_body, assembly.body_idle_timeout)
        body = parse_object(raw)
        model, stream = check(body)
        if record is not None:
            record.model, record.stream = model, stream  # a log names even an unknown model
        route = assembly.router.resolve(model)
        query = request.rel_url.raw_query_string
        ctx = RequestContext(request_id, tenant, request.headers, time.monotonic(), query)
        req = GatewayRequest(endpoint, body, raw, model, stream, route.targets, route)
        turn = await begin_turn(assembly.responses, tenant, ctx, req) if stateful else None
        inband = turn.inband_error if turn is not None else None
        if record is None:
            result = await assembly.chain(ctx, req)
            if turn is not None:
                result = await turn.finish(result)
        else:
            name = route.name
            record.model_label = name if name in assembly.alias_names else assembly.telemetry.target_label(name)
            # The router asks the vendor for the usage (after limits and cache keys are decided on
            # the client's own body); the usage chunk the client did not ask for is not sent on.
            hide_usage = (stream and assembly.stream_usage and endpoint in USAGE_OPTION
                          and not client_asked_for_usage(body))
            req.add_stream_usage = hide_usage
            try:
                result = await assembly.chain(ctx, req)
            finally:
                note_outcome(record, ctx, assembly.telemetry.target_label)
            if turn is not None:
                result = await turn.finish(result)
            if type(result) is Reply:
                note_usage(record, reply_usage(result))
            else:
                return await write_stream(request, ctx, result, assembly, api, record, hide_usage, inband)
        if type(result) is Reply:
            headers = {"Content-Type": "application/json", "x-request-id": request_id}
            if ctx.response_headers:
                headers.update(ctx.response_headers)
            if result.headers:
                headers.update(result.headers)
            return web.Response(body=result.body, status=result.status, headers=headers)
        return await write_stream(request, ctx, result, assembly, api, inband=inband)

    return handle


#: Operations whose streams report usage only when asked (``stream_options.include_usage``).
USAGE_OPTION = frozenset({Endpoint.CHAT, Endpoint.COMPLETIONS})


def client_asked_for_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def note_outcome(record, ctx: RequestContext, target_label: Callable[[str], str]) -> None:
    """Copy what the chain learned (target, attempts, cache, limits) into the request's record."""
    extras = ctx.extras
    attempts = extras.get("attempts")
    if attempts is not None:
        record.attempts = attempts.trail
    target = ctx.target
    if target is not None:
        record.provider, record.upstream_model = target.provider.name, target.model
        # The target that answered (with hedging, not necessarily the last one called).
        record.target_label = target_label(target.label)
    record.hedged = bool(extras.get("hedged"))
    record.limited = extras.get("limited")
    headers = ctx.response_headers
    if headers:
        record.cache = headers.get("x-sluicegate-cache")
        record.degraded = "x-sluicegate-degraded" in headers


async def write_stream(
    request: web.Request,
    ctx: RequestContext,
    reply: StreamReply,
    assembly,
    api: str = "openai",
    record=None,
    hide_usage: bool = False,
    inband: Callable[[GatewayError, Any], bytes] | None = None,
) -> web.StreamResponse:
    """Send events as they come; an upstream failure after the first byte ends the stream with an
    in-band error event rather than a clean end the client would mistake for success.

    With a ``record`` (some extension watches requests) it also times the first event and reads
    the usage the stream reports, dropping the usage-only chunk the client did not ask for.
    ``inband`` renders the in-band error itself (the Responses API's events), from the error
    and its body.
    """
    # A shutdown that cuts this stream ends it with an in-band error (see server/drain.py).
    events = EndAtCut(reply.events, request.app[DRAIN])
    usage = StreamUsage() if record is not None else None
    try:
        # Wait for the first event before committing to a 200: errors up to here keep their
        # status (and are where fallback can still act).
        first = await anext(events, None)
    except BaseException:
        await reply.aclose()
        raise
    headers = {**SSE_HEADERS, "x-request-id": ctx.request_id}
    if ctx.response_headers:
        headers.update(ctx.response_headers)
    if reply.headers:
        headers.update(reply.headers)
    response = web.StreamResponse(status=200, headers=headers)
    held: list[bytes] = []
    try:
        await response.prepare(request)
        if record is not None:
            record.status = 200
            record.ttft = time.monotonic() - record.started
        event = first
        while event is not None:
            if usage is None or not (usage.see(event) and hide_usage):
                held.append(event.frame())
            # Events that arrived in one network read go out in one write (SSEEvent.more).
            if held and not event.more:
                await response.write(held[0] if len(held) == 1 else b"".join(held))
                held.clear()
            event = await anext(events, None)
        if held:
            await response.write(b"".join(held))
    except ConnectionResetError:
        # The client left; closing the reply below closes the upstream connection.
        return _client_left(response, record)
    except Exception as failure:
        if isinstance(failure, GatewayError):
            error = failure
        elif not response.prepared:
            raise  # nothing sent yet: the edge answers with an error status
        else:
            # The 200 is sent: the edge can no longer answer with an error status, so the
            # stream ends with an in-band error and the traceback goes to the log only.
            log.exception("stream failed while serving %s [%s]", request.path, ctx.request_id)
            error = GatewayError("The gateway hit an internal error.", status=500)
        if record is not None:
            record.error_code, record.error_class = error.code, "stream_error"
        body = assembly.error_body(error, ctx.request_id, api)
        if inband is not None:
            frame = inband(error, body)
        else:
            # Each API's SDK recognises its own in-band error: OpenAI's a data-only event with an
            # "error" key, Anthropic's an event named "error".
            prefix = b"event: error\ndata: " if api == "anthropic" else b"data: "
            frame = prefix + orjson.dumps(body) + b"\n\n"
        try:
            await response.write(b"".join(held) + frame)
        except ConnectionResetError:
            return _client_left(response, record)
    finally:
        if usage is not None:
            usage.note(record)
        await reply.aclose()
    await response.write_eof()
    return response


def _client_left(response: web.StreamResponse, record) -> web.StreamResponse:
    if record is not None:
        record.status = 499
    return response


async def list_models(request: web.Request) -> web.Response:
    assembly = request[ASSEMBLY]
    authenticate(assembly.tenants, assembly.open_access, request.headers)
    listing = assembly.router.listing()
    if wants_anthropic(request.headers):
        return json_response(anthropic_page([model_id for model_id, _ in listing], request.query), request)
    return json_response(openai_list(listing), request)


async def get_model(request: web.Request) -> web.Response:
    assembly = request[ASSEMBLY]
    authenticate(assembly.tenants, assembly.open_access, request.headers)
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
