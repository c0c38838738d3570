"""Example extension: remembers the slowest recent API requests and lists them at ``GET /slowest``.

Enabled by a ``[slowest]`` table in gateway.toml::

    [slowest]
    keep = 10            # how many to remember
    threshold_ms = 1000  # faster requests are not considered
"""

from __future__ import annotations

import heapq
from typing import Any

from aiohttp import web
from attrs import define, field

from sluicegate.config.checks import at_least_one, non_negative
from sluicegate.errors import RouteNotFound
from sluicegate.plugin_options import FeatureOptions
from sluicegate.telemetry import RequestRecord

NAME = "slowest"


@define(kw_only=True)
class SlowestOptions(FeatureOptions):
    keep: int = field(default=10, validator=at_least_one)
    threshold_ms: float = field(default=1000.0, validator=non_negative)


class Slowest:
    """An extension object (``sluicegate.contracts.Extension``): the core calls
    ``request_finished`` with every finished request's record. It runs on the request path, so it
    only does a comparison and a heap push. The core checks the object once per assembly: a
    misspelt ``request_finshed`` would refuse the config, naming this plugin."""

    def __init__(self, options: SlowestOptions) -> None:
        self.keep = options.keep
        self.threshold = options.threshold_ms / 1000
        self._heap: list[tuple[float, int, dict[str, Any]]] = []  # the fastest of the kept on top
        self._seen = 0

    def request_finished(self, record: RequestRecord) -> None:
        latency = record.latency
        if not record.api or latency is None or latency < self.threshold:
            return
        self._seen += 1
        entry = {"request_id": record.request_id, "model": record.model_label, "provider": record.provider,
                 "status": record.status, "latency_ms": round(latency * 1000, 1)}
        item = (latency, self._seen, entry)
        if len(self._heap) < self.keep:
            heapq.heappush(self._heap, item)
        elif latency > self._heap[0][0]:
            heapq.heapreplace(self._heap, item)

    def slowest(self) -> list[dict[str, Any]]:
        return [entry for _, _, entry in sorted(self._heap, reverse=True)]


def make_slowest(options: SlowestOptions, services) -> Slowest:
    return Slowest(options)


def add_route(app: web.Application, gateway) -> None:
    """The route is added once; it reads the extension of the config serving now, so a reload
    that adds, changes or removes ``[slowest]`` is seen."""

    async def slowest(request: web.Request) -> web.Response:
        extension = gateway.current.extensions.get(NAME)
        if extension is None:
            raise RouteNotFound("Unknown route: GET /slowest ([slowest] is not enabled)")
        return web.json_response({"data": extension.slowest()})

    app.router.add_get("/slowest", slowest)
