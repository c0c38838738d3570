"""Typed keys for aiohttp application and request state."""

from __future__ import annotations

from aiohttp import web

from sluicegate.gateway import Assembly, Gateway
from sluicegate.server.drain import Drain
from sluicegate.telemetry import RequestRecord

GATEWAY: web.AppKey[Gateway] = web.AppKey("sluicegate.gateway")
# The server's shutdown phase, moved on by the runner and read by the edge and stream writer.
DRAIN: web.AppKey[Drain] = web.AppKey("sluicegate.drain")

REQUEST_ID: web.RequestKey[str] = web.RequestKey("sluicegate.request_id")
# The assembly a request started on: every step of one request uses the same config, even if a
# reload swaps in another meanwhile.
ASSEMBLY: web.RequestKey[Assembly | None] = web.RequestKey("sluicegate.assembly")
# The request's sluicegate.telemetry.RequestRecord, present when some extension watches requests.
RECORD: web.RequestKey[RequestRecord] = web.RequestKey("sluicegate.record")
