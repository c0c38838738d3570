"""Typed keys for aiohttp application and request state."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from sluicegate.gateway import Gateway

GATEWAY: web.AppKey[Gateway] = web.AppKey("sluicegate.gateway")

# Request-scoped: aiohttp has no typed request keys; a namespaced string keeps clear of others.
REQUEST_ID = "sluicegate.request_id"
# The assembly a request started on: every step of one request uses the same config, even if a
# reload swaps in another meanwhile.
ASSEMBLY = "sluicegate.assembly"
# The request's sluicegate.telemetry.RequestRecord, present when some extension watches requests.
RECORD = "sluicegate.record"
