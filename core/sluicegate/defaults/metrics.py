"""Default plugin: Prometheus metrics (``[metrics]``, on by default) and the ``/metrics`` route."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from sluicegate.errors import RouteNotFound
from sluicegate.extensions.metrics import PATH_KEY, MetricsOptions, make_metrics
from sluicegate.hookspecs import hookimpl
from sluicegate.server.keys import ASSEMBLY, GATEWAY, REQUEST_ID

log = logging.getLogger("sluicegate")

#: Order among extensions: after ``pricing`` (100), which fills ``record.cost``.
ORDER = 500


@hookimpl
def register_extensions(register):
    register("metrics", make_metrics, options=MetricsOptions, order=ORDER, always=True)


@hookimpl
def gateway_app_created(app, gateway):
    # The route exists even while metrics are off (it answers 404 then), so a reload that
    # turns them on needs no restart; the path itself is fixed until one.
    options = gateway.config.features.get("metrics") or MetricsOptions()
    app.router.add_get(options.path, scrape)
    gateway.lasting[PATH_KEY] = options.path


async def scrape(request: web.Request) -> web.Response:
    assembly = request.get(ASSEMBLY) or request.app[GATEWAY].current
    metrics = assembly.extensions.get("metrics") if assembly is not None else None
    if metrics is None:
        raise RouteNotFound(f"Unknown route: {request.method} {request.path}")
    metrics.check_scrape(request.headers.get("authorization"))
    try:
        # On the loop: breakers belong to it. A snapshot is a walk over a dict, no I/O.
        metrics.families.refresh_breakers(assembly.breakers, assembly.telemetry.target_label)
    except Exception:  # a board that cannot report must not cost the other metrics
        log.exception("reading circuit-breaker states for /metrics failed")
    loop = asyncio.get_running_loop()
    # Rendering walks every series and, with several workers, reads their files.
    body, content_type = await loop.run_in_executor(None, metrics.families.render, request.headers.get("accept"))
    return web.Response(body=body, headers={"Content-Type": content_type, "x-request-id": request[REQUEST_ID]})
