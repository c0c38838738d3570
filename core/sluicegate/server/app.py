"""Build the aiohttp application around a Gateway: routes, the shared HTTP session, plugin hooks."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from sluicegate.exchange import OPENAI_ENDPOINTS, Endpoint
from sluicegate.gateway import Gateway
from sluicegate.http_pool import PoolTransport
from sluicegate.server import gemini, handlers, health, responses
from sluicegate.server.drain import Drain
from sluicegate.server.edge import add_cors_headers, edge_middleware, fallback
from sluicegate.server.keys import DRAIN, GATEWAY

log = logging.getLogger("sluicegate")


def create_app(gateway: Gateway) -> web.Application:
    # client_max_size=0: the handlers enforce the (reloadable) [server] max_body_mb themselves.
    app = web.Application(middlewares=[edge_middleware], client_max_size=0)
    app[GATEWAY] = gateway
    app[DRAIN] = Drain()  # the runner moves it through the shutdown phases
    app.cleanup_ctx.append(_gateway_lifecycle)
    app.on_response_prepare.append(add_cors_headers)
    router = app.router
    for endpoint in OPENAI_ENDPOINTS:
        router.add_post(f"/v1/{endpoint.value}", handlers.api_handler(endpoint))
    router.add_post("/v1/messages", handlers.api_handler(Endpoint.MESSAGES))
    router.add_post("/v1/messages/count_tokens", handlers.api_handler(Endpoint.COUNT_TOKENS))
    router.add_post("/v1/responses", handlers.api_handler(Endpoint.RESPONSES))
    router.add_get("/v1/responses/{response_id}", responses.get_response)
    router.add_delete("/v1/responses/{response_id}", responses.delete_response)
    router.add_get("/v1/responses/{response_id}/input_items", responses.list_input_items)
    router.add_get("/v1/models", handlers.list_models)
    router.add_get("/v1/models/{model:.+}", handlers.get_model)
    gemini.add_routes(router)
    router.add_get("/health", health.health)
    router.add_get("/health/live", health.live)
    router.add_get("/health/ready", health.ready)
    gateway.loaded.host.pm.hook.gateway_app_created(app=app, gateway=gateway)
    # Last, so plugin routes win: answers preflights and renders 404/405 in the API's shape.
    router.add_route("*", "/{tail:.*}", fallback)
    return app


async def _gateway_lifecycle(app: web.Application) -> AsyncIterator[None]:
    """One ClientSession (and, by default, one ``PoolTransport``) per gateway, opened with the
    app and closed after the last request."""
    gateway = app[GATEWAY]
    connector = aiohttp.TCPConnector(
        limit=gateway.config.server.upstream_connections,
        ttl_dns_cache=300,
        keepalive_timeout=60,
    )
    session = aiohttp.ClientSession(connector=connector, auto_decompress=True, trust_env=False)
    # Vendor calls through the gateway's own client unless the config asks for aiohttp's; the
    # session stays for plugins that call out themselves.
    server = gateway.config.server
    pool = PoolTransport(limit=server.upstream_connections) if server.upstream_client == "pool" else None
    try:
        await gateway.start(session, pool)
        if gateway.current.open_access:
            log.warning("no authenticator is on ([auth] tokens is empty): the gateway accepts "
                        "requests from anyone")
        yield
    finally:
        await gateway.close()
        if pool is not None:
            await pool.aclose()
        await session.close()
