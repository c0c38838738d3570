"""API route handlers: authenticate, parse once, route, run the chain, write the reply."""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from aiohttp import web

from sluicegate import __version__
from sluicegate.errors import GatewayError, ModelNotFound
from sluicegate.exchange import Endpoint, GatewayRequest, Reply, RequestContext, StreamReply
from sluicegate.server.auth import authenticate
from sluicegate.server.inbound import CHECKS, parse_object, read_body
from sluicegate.server.keys import GATEWAY, REQUEST_ID

log = logging.getLogger("sluicegate")

SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}


def api_handler(endpoint: Endpoint):
    check = CHECKS[endpoint]
    api = "anthropic" if endpoint is Endpoint.MESSAGES else "openai"

    async def handle(request: web.Request) -> web.StreamResponse:
        assembly = request.app[GATEWAY].current
        request_id = request[REQUEST_ID]
        tenant = authenticate(assembly.tenants, assembly.open_access, request.headers)
        raw = await read_body(request, assembly.max_body)
        body = parse_object(raw)
        model, stream = check(body)
        route = assembly.router.resolve(model)
        ctx = RequestContext(request_id, tenant, request.headers, time.monotonic())
        req = GatewayRequest(endpoint, body, raw, model, stream, route.targets, route)
        result = await assembly.chain(ctx, req)
        if type(result) is Reply:
            headers = {"Content-Type": "application/json", "x-request-id": request_id}
            if ctx.response_headers:
                headers.update(ctx.response_headers)
            if result.headers:
                headers.update(result.headers)
            return web.Response(body=result.body, status=result.status, headers=headers)
        return await write_stream(request, ctx, result, assembly, api)

    return handle


async def write_stream(
    request: web.Request, ctx: RequestContext, reply: StreamReply, assembly, api: str = "openai"
) -> web.StreamResponse:
    """Send events as they come; an upstream failure after the first byte ends the stream with an
    in-band error event rather than a clean end the client would mistake for success."""
    events = reply.events.__aiter__()
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
    try:
        await response.prepare(request)
        if first is not None:
            await response.write(first.frame())
            async for event in events:
                await response.write(event.frame())
    except GatewayError as error:
        body = orjson.dumps(assembly.error_body(error, ctx.request_id, api))
        # Each API's SDK recognises its own in-band error: OpenAI's a data-only event with an
        # "error" key, Anthropic's an event named "error".
        prefix = b"event: error\ndata: " if api == "anthropic" else b"data: "
        try:
            await response.write(prefix + body + b"\n\n")
        except ConnectionResetError:
            return response
    except ConnectionResetError:
        # The client left; closing the reply below closes the upstream connection.
        return response
    finally:
        await reply.aclose()
    await response.write_eof()
    return response


async def list_models(request: web.Request) -> web.Response:
    assembly = request.app[GATEWAY].current
    authenticate(assembly.tenants, assembly.open_access, request.headers)
    data = [_model_entry(model_id, owner) for model_id, owner in assembly.router.listing()]
    return _json({"object": "list", "data": data}, request)


async def get_model(request: web.Request) -> web.Response:
    assembly = request.app[GATEWAY].current
    authenticate(assembly.tenants, assembly.open_access, request.headers)
    model_id = request.match_info["model"]
    for listed, owner in assembly.router.listing():
        if listed == model_id:
            return _json(_model_entry(model_id, owner), request)
    try:
        targets = assembly.router.resolve(model_id)
    except ModelNotFound:
        raise
    return _json(_model_entry(model_id, targets[0].provider.name), request)


def _model_entry(model_id: str, owner: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": owner}


async def health(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY]
    assembly = gateway.current
    providers = {name: provider.describe() for name, provider in assembly.providers.items()}
    # Per (provider, model) target that has been used: breaker state and live numbers, all
    # from memory (no I/O, so the page stays fast when vendors are not).
    targets: dict[str, dict[str, Any]] = {}
    if assembly.breakers is not None:
        for label, snapshot in assembly.breakers.snapshot().items():
            targets[label] = {"breaker": snapshot.pop("state"), **snapshot}
    for label, snapshot in assembly.stats.snapshot().items():
        targets.setdefault(label, {"breaker": "closed"}).update(snapshot)
    return _json(
        {
            "status": "ok",
            "version": __version__,
            "providers": providers,
            "targets": targets,
            "models": list(assembly.router.aliases),
            "middlewares": assembly.middleware_names,
        },
        request,
    )


def _json(data: Any, request: web.Request, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(data),
        status=status,
        headers={"Content-Type": "application/json", "x-request-id": request[REQUEST_ID]},
    )
