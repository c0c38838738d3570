"""Bodies held while a vendor answers take their own size: orjson's output keeps the room it
reserved for escaping, about ten times the length, for as long as it lives."""

from __future__ import annotations

import tracemalloc

import orjson

from sluicegate.exchange import Endpoint, GatewayRequest, sized
from sluicegate.features.memory_cache import MemoryCache
from sluicegate.translating import VendorCall

BODY = {"model": "m", "messages": [{"role": "user", "content": "a question " * 30}]}


def allocated(make):
    """What ``make()`` returns, and the bytes allocated for it that are still held."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        value = make()
        return value, tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_orjson_over_allocates_so_the_copy_matters():
    data, held = allocated(lambda: orjson.dumps(BODY))
    assert held > 4 * len(data)  # if orjson ever stops, ``sized`` is a copy for nothing


def test_the_wire_of_a_request_is_its_own_size():
    request = GatewayRequest(Endpoint.CHAT, BODY, None, "m", False)
    wire, held = allocated(lambda: request.wire)
    assert orjson.loads(wire) == BODY
    assert held < len(wire) + 200


def test_a_vendor_calls_body_is_its_own_size():
    call, held = allocated(lambda: VendorCall("http://vendor/v1", orjson.dumps(BODY)))
    assert orjson.loads(call.body) == BODY
    assert held < len(call.body) + 400  # the call object and its body


def test_sized_keeps_the_bytes():
    assert sized(b"") == b"" and sized(b"abc") == b"abc"


async def test_the_memory_cache_holds_what_it_counts():
    cache = MemoryCache(10, lambda: 0.0)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        await cache.set("k", orjson.dumps(BODY), 60.0)  # the caller's bytes are gone after this
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert 0 < cache.size and held < cache.size + 400  # the entry's tuple and the dict's slot
