"""The aiohttp edge: request ids, errors rendered in the API's shape, CORS, shutdown answers."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
import time
from collections.abc import Mapping, MutableMapping

import orjson
from aiohttp import web

from sluicegate.config.schema import CorsConfig
from sluicegate.errors import GatewayError, MethodNotAllowed, PayloadTooLarge, RouteNotFound
from sluicegate.resilience.classify import classify
from sluicegate.retry_hints import with_retry_hints
from sluicegate.server.drain import Phase, cut_at_shutdown, is_cut, refused_while_draining
from sluicegate.server.gemini import is_gemini_request
from sluicegate.server.keys import ASSEMBLY, DRAIN, GATEWAY, RECORD, REQUEST_ID
from sluicegate.server.model_list import MODELS_PATH, wants_anthropic
from sluicegate.telemetry import RequestRecord

log = logging.getLogger("sluicegate")

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")


class RequestIds:
    """``req_`` + 24 hex digits, unique without a system call each: a random half drawn once per
    process (another worker, or this one after a restart, draws another) and a count. An id names
    a request in logs and answers; it is no secret, so a count in it hides nothing. (A read of
    the kernel's randomness per request costs a system call, during which the interpreter lets
    other threads run: the ledger's, the log writer's.)"""

    def __init__(self, prefix: str | None = None) -> None:
        self.reseed(prefix)

    def reseed(self, prefix: str | None = None) -> None:
        """Draw a new random half (a forked worker must not repeat its parent's ids)."""
        self._ids = map(f"req_{prefix or os.urandom(6).hex()}{{:012x}}".format, itertools.count())

    def __call__(self) -> str:
        return next(self._ids)


new_request_id = RequestIds()
os.register_at_fork(after_in_child=new_request_id.reseed)


def request_id_for(request: web.Request) -> str:
    return request_id_from(request.headers)


def request_id_from(headers: Mapping[str, str]) -> str:
    """The client's ``x-request-id`` when it is a plain one, else a new id."""
    given = headers.get("x-request-id")
    if given and _VALID_REQUEST_ID.match(given):
        return given
    return new_request_id()


# Routes under this prefix speak the Anthropic Messages API, so their errors take its shape.
ANTHROPIC_PREFIX = "/v1/messages"


def api_of(request: web.Request) -> str:
    """Which API's error shape the client expects on this route."""
    path = request.path
    if path.startswith(ANTHROPIC_PREFIX):
        return "anthropic"
    if is_gemini_request(request):
        return "gemini"
    # Both APIs list models on one path; the anthropic SDK says which it speaks.
    if path.startswith(MODELS_PATH) and wants_anthropic(request.headers):
        return "anthropic"
    return "openai"


def error_response(request: web.Request, error: GatewayError, request_id: str) -> web.Response:
    # The request's own assembly shapes it; before one serves, the gateway's loaded plugins do
    # (the error-body plugins are the only shapes there are).
    body, headers = render_error(request.get(ASSEMBLY) or request.app[GATEWAY], request.get(RECORD), error,
                                 request_id, api_of(request))
    response = web.Response(body=body, status=error.status, headers=headers, content_type="application/json")
    if error.headers.get("Connection") == "close":
        response.force_close()  # the header alone would leave aiohttp waiting on the connection
    return response


def render_error(shaper, record: RequestRecord | None, error: GatewayError, request_id: str,
                 api: str) -> tuple[bytes, dict[str, str]]:
    """An error's body in ``api``'s shape and its headers (request id, retry hints); noted in
    the request's record when there is one."""
    if record is not None:
        record.status = error.status
        record.error_code = error.code
        record.error_class = classify(error).value
    body = shaper.error_body(error, request_id, api)
    return orjson.dumps(body), {"x-request-id": request_id, **with_retry_hints(error)}


def _from_http_exception(exc: web.HTTPException, request: web.Request) -> GatewayError:
    if exc.status == 404:
        return RouteNotFound(f"Unknown route: {request.method} {request.path}")
    if exc.status == 405:
        return MethodNotAllowed(f"Method {request.method} is not allowed on {request.path}")
    if exc.status == 413:
        return PayloadTooLarge("The request body is too large.")
    return GatewayError(exc.reason or "HTTP error", status=exc.status, code=None,
                        type="invalid_request_error" if exc.status < 500 else "server_error")


#: The route template of requests no route took (404s, preflights): unknown paths stay out of
#: metric labels.
UNMATCHED = "unmatched"


def route_template(request: web.Request) -> str:
    resource = request.match_info.route.resource
    if resource is None or resource.canonical == "/{tail}":
        return UNMATCHED
    return resource.canonical


@web.middleware
async def edge_middleware(request: web.Request, handler) -> web.StreamResponse:
    request_id = request_id_for(request)
    request[REQUEST_ID] = request_id
    app = request.app
    assembly = app[GATEWAY].current
    request[ASSEMBLY] = assembly
    phase = app[DRAIN].phase
    if phase:  # shutting down
        if phase >= Phase.DRAINING:
            # The listener is closed: a request on a kept-alive connection is answered, not dropped.
            return error_response(request, refused_while_draining(), request_id)
        # The notice window: served, but the client should reconnect (to another instance).
        response = await _watched(request, handler, request_id, assembly)
        response.force_close()
        return response
    return await _watched(request, handler, request_id, assembly)


async def _watched(request: web.Request, handler, request_id: str, assembly) -> web.StreamResponse:
    telemetry = assembly.telemetry if assembly is not None else None
    if telemetry is None or not telemetry.watching:
        return await _respond(request, handler, request_id)
    record = request[RECORD] = open_record(telemetry, request_id, request.method, request.path,
                                           route_template(request), request.headers)
    try:
        response = await _respond(request, handler, request_id)
        if not record.status:
            record.status = response.status
        return response
    except asyncio.CancelledError:
        # The client left while waiting; nginx's "client closed request" says it best.
        record.status = 499
        raise
    finally:
        record.latency = time.monotonic() - record.started
        telemetry.request_finished(record)


def open_record(telemetry, request_id: str, method: str, path: str, route: str,
                headers: Mapping[str, str]) -> RequestRecord:
    """A request's record, started (its trace parent from a well-formed ``traceparent``)."""
    record = RequestRecord(request_id, method, path, time.monotonic(), time.time(), route=route)
    parent = headers.get("traceparent")
    if parent is not None and len(parent) == 55:
        record.trace_parent = parent
    telemetry.request_started(record)
    return record


async def _respond(request: web.Request, handler, request_id: str) -> web.StreamResponse:
    try:
        response = await handler(request)
    except GatewayError as error:
        return error_response(request, error, request_id)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(request, _from_http_exception(exc, request), request_id)
    except asyncio.CancelledError:
        # The shutdown cut a request whose answer has not started: a 503 beats a bare close.
        if not is_cut(request.app[DRAIN]) or request.writer.output_size:
            raise
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        return error_response(request, cut_at_shutdown(), request_id)
    except Exception:
        # The traceback goes to the log with the request id, never to the client.
        log.exception("unhandled error while serving %s %s [%s]", request.method, request.path, request_id)
        error = GatewayError("The gateway hit an internal error.", status=500)
        return error_response(request, error, request_id)
    if not response.prepared and "x-request-id" not in response.headers:
        response.headers["x-request-id"] = request_id
    return response


async def add_cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare signal: CORS headers on every response, streams included."""
    assembly = request.app[GATEWAY].current
    cors = assembly.config.server.cors if assembly is not None else None
    if cors is not None:
        cors_headers(cors, request.headers.get("origin"), response.headers)


def cors_headers(cors: CorsConfig, origin: str | None, headers: MutableMapping[str, str]) -> None:
    """The CORS headers of a response to a request from ``origin``, set in ``headers``."""
    if not origin:
        return
    wildcard = "*" in cors.allow_origins
    if not wildcard and origin not in cors.allow_origins:
        return
    headers["Access-Control-Allow-Origin"] = "*" if wildcard and not cors.allow_credentials else origin
    if not wildcard or cors.allow_credentials:
        headers["Vary"] = "Origin"
    if cors.allow_credentials:
        headers["Access-Control-Allow-Credentials"] = "true"
    if cors.expose_headers:
        headers["Access-Control-Expose-Headers"] = ", ".join(cors.expose_headers)


async def fallback(request: web.Request) -> web.Response:
    """Every request no other route took: CORS preflights, else a 404 or 405 in the API's shape."""
    assembly = request.app[GATEWAY].current
    cors = assembly.config.server.cors if assembly is not None else None
    if request.method != "OPTIONS" or cors is None or "access-control-request-method" not in request.headers:
        methods: set[str] = set()
        for resource in request.app.router.resources():
            if resource is request.match_info.route.resource:
                continue
            _, allowed = await resource.resolve(request)
            methods |= allowed
        if methods:
            # RFC 9110 §15.5.6: a 405 names the methods the resource does allow.
            raise MethodNotAllowed(
                f"Method {request.method} is not allowed on {request.path}",
                headers={"Allow": ", ".join(sorted(methods))},
            )
        raise RouteNotFound(f"Unknown route: {request.method} {request.path}")
    return web.Response(
        status=204,
        headers={
            "Access-Control-Allow-Methods": ", ".join(cors.allow_methods),
            "Access-Control-Allow-Headers": ", ".join(cors.allow_headers),
            "Access-Control-Max-Age": str(cors.max_age),
        },
    )
