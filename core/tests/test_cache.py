"""The response cache in isolation: canonical keys, Cache-Control, the memory LRU on a fake clock,
what is stored and what is not, coalescing of identical requests, and a failing backend."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

import sluicegate_mock
from sluicegate.config.loader import load_config_text
from sluicegate.errors import ConfigError, UpstreamUnavailable
from sluicegate.exchange import (
    DONE,
    Endpoint,
    GatewayRequest,
    Reply,
    RequestContext,
    SSEEvent,
    StreamReply,
    Target,
)
from sluicegate.features.cache import (
    IGNORED_FIELDS,
    CacheOptions,
    ModelCacheOptions,
    ResponseCache,
    cache_key,
    client_directives,
    decode,
    encode_stream,
    make_cache,
)
from sluicegate.features.memory_cache import MemoryCache
from sluicegate.pipeline import Order
from sluicegate.plugins import load_plugins
from sluicegate.registry import CACHE_BACKEND, MIDDLEWARE
from sluicegate.services import Services

MSG = [{"role": "user", "content": "hello"}]
# A config needs a provider to load; entry points stay off so no other plugin's middleware joins.
MOCK = '[providers.m]\ntype = "mock"\n'
MOCK_PLUGIN = (("mock", sluicegate_mock),)


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def ctx(tenant: str | None = "t-a", headers: dict[str, str] | None = None) -> RequestContext:
    return RequestContext("req-1", tenant, CIMultiDictProxy(CIMultiDict(headers or {})), 0.0)


def req(body: dict[str, Any] | None = None, *, model: str = "chat", endpoint: Endpoint = Endpoint.CHAT,
        stream: bool = False, targets: tuple[str, ...] = ("up/gpt-4o-mini",)) -> GatewayRequest:
    body = {"model": model, "messages": MSG} if body is None else body
    return GatewayRequest(endpoint, body, orjson.dumps(body), model, stream,
                          tuple(Target(None, label.split("/", 1)[1], label) for label in targets))


def chunks(*texts: str) -> list[SSEEvent]:
    return [SSEEvent.from_data({"choices": [{"delta": {"content": text}}]}) for text in texts] + [DONE]


class Upstream:
    """A chain terminal that counts calls and answers with what the test scripted."""

    def __init__(self, answer: Any = None) -> None:
        self.calls = 0
        self.answer = answer if answer is not None else (lambda: Reply(b'{"id":"x","n":1}'))
        self.gate: asyncio.Event | None = None

    async def __call__(self, ctx: RequestContext, req: GatewayRequest):
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        answer = self.answer()
        if isinstance(answer, BaseException):
            raise answer
        return answer


def stream_of(events: list[SSEEvent], *, fail_after: int | None = None, closed: list[bool] | None = None):
    async def gen():
        for index, event in enumerate(events):
            if fail_after is not None and index == fail_after:
                raise UpstreamUnavailable("broke off the stream", provider="up")
            yield event

    async def on_close() -> None:
        if closed is not None:
            closed.append(True)

    return lambda: StreamReply(gen(), on_close=on_close)


def make(clock: Clock | None = None, backend: Any = None, **options: Any) -> ResponseCache:
    clock = clock or Clock()
    opts = CacheOptions(**options)
    return ResponseCache(opts, backend or MemoryCache(opts.max_entries, clock), Services(http=None, config=None, clock=clock))


def within(awaitable, seconds: float = 2.0):
    """Fail instead of hanging when a follower is never released."""
    return asyncio.wait_for(awaitable, seconds)


async def drain(reply: StreamReply) -> list[SSEEvent]:
    try:
        return [event async for event in reply]
    finally:
        await reply.aclose()


# -- keys ----------------------------------------------------------------------------------------


def test_key_is_prefixed_sha256_hex():
    key = cache_key(req(), "t-a")
    assert key.startswith("sg:cache:")
    digest = key.removeprefix("sg:cache:")
    assert len(digest) == 64 and int(digest, 16) >= 0


def test_field_order_is_irrelevant_at_every_depth():
    a = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.2,
         "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"a": 1, "b": 2}}}}
    b = {"response_format": {"json_schema": {"schema": {"b": 2, "a": 1}, "name": "x"}, "type": "json_schema"},
         "temperature": 0.2, "messages": [{"content": "hi", "role": "user"}], "model": "chat"}
    assert cache_key(req(a), "t") == cache_key(req(b), "t")


@pytest.mark.parametrize("name", sorted(IGNORED_FIELDS - {"stream"}))
def test_fields_that_do_not_shape_the_answer_are_ignored(name):
    plain = {"model": "chat", "messages": MSG}
    assert cache_key(req(plain), "t") == cache_key(req({**plain, name: {"x": "anything"}}), "t")


@pytest.mark.parametrize("extra", [
    {"temperature": 0.7}, {"max_tokens": 5}, {"parallel_tool_calls": False}, {"seed": 1},
    {"stream_options": {"include_usage": True}}, {"tools": []}, {"n": 2},
])
def test_fields_that_shape_the_answer_change_the_key(extra):
    plain = {"model": "chat", "messages": MSG}
    assert cache_key(req(plain), "t") != cache_key(req({**plain, **extra}), "t")


def test_a_different_message_changes_the_key():
    other = {"model": "chat", "messages": [{"role": "user", "content": "hello!"}]}
    assert cache_key(req(), "t") != cache_key(req(other), "t")


def test_tenant_model_endpoint_stream_and_targets_are_in_the_key():
    base = cache_key(req(), "t-a")
    assert cache_key(req(), "t-b") != base
    assert cache_key(req(), None) != base
    assert cache_key(req(stream=True), "t-a") != base
    assert cache_key(req(endpoint=Endpoint.COMPLETIONS), "t-a") != base
    assert cache_key(req(targets=("other/gpt-4o-mini",)), "t-a") != base
    assert cache_key(req({"model": "up/gpt-4o-mini", "messages": MSG}, model="up/gpt-4o-mini"), "t-a") != base
    # The stream flag counts once, whether or not the body spells it.
    assert cache_key(req({"model": "chat", "messages": MSG, "stream": True}, stream=True), "t-a") == \
        cache_key(req(stream=True), "t-a")


async def test_shared_cache_crosses_tenants_and_private_does_not():
    upstream = Upstream()
    private, shared = make(), make(shared=True)
    for cache in (private, shared):
        await cache(ctx("t-a"), req(), upstream)
    calls = upstream.calls
    second = ctx("t-b")
    await private(second, req(), upstream)
    assert (upstream.calls, second.facts.cache) == (calls + 1, "miss")
    second = ctx("t-b")
    await shared(second, req(), upstream)
    assert (upstream.calls, second.facts.cache) == (calls + 1, "hit")


# -- Cache-Control -------------------------------------------------------------------------------


@pytest.mark.parametrize(("values", "expected"), [
    ([], (True, True)),
    (["no-cache"], (False, True)),
    (["No-Cache"], (False, True)),
    (["max-age=0, no-store"], (False, False)),
    (["no-cache", "no-store"], (False, False)),
    (["max-age=60"], (True, True)),
])
def test_cache_control_directives(values, expected):
    headers = CIMultiDict()
    for value in values:
        headers.add("Cache-Control", value)
    assert client_directives(CIMultiDictProxy(headers)) == expected


async def test_no_cache_skips_the_read_but_stores_and_no_store_does_neither():
    upstream = Upstream()
    cache = make()
    await cache(ctx(), req(), upstream)
    first = ctx(headers={"Cache-Control": "no-cache"})
    await cache(first, req(), upstream)
    assert (upstream.calls, first.facts.cache) == (2, "miss")

    upstream.answer = lambda: Reply(b'{"id":"fresh"}')
    bypass = ctx(headers={"Cache-Control": "no-store"})
    assert (await cache(bypass, req(), upstream)).body == b'{"id":"fresh"}'
    assert (upstream.calls, bypass.facts.cache) == (3, "bypass")
    hit = ctx()
    assert (await cache(hit, req(), upstream)).body == b'{"id":"x","n":1}'  # no-store stored nothing
    assert hit.facts.cache == "hit"

    refreshed = ctx(headers={"Cache-Control": "no-cache"})
    await cache(refreshed, req(), upstream)  # no-cache replaces the entry
    assert (await cache(ctx(), req(), upstream)).body == b'{"id":"fresh"}'
    assert upstream.calls == 4


# -- memory backend ------------------------------------------------------------------------------


async def test_lru_evicts_the_least_recently_used():
    memory = MemoryCache(2, Clock())
    await memory.set("a", b"1", 10)
    await memory.set("b", b"2", 10)
    assert await memory.get("a") == b"1"  # a is now the most recent
    await memory.set("c", b"3", 10)
    assert (await memory.get("b"), await memory.get("a"), await memory.get("c")) == (None, b"1", b"3")
    assert len(memory) == 2


async def test_setting_a_key_again_replaces_it_and_refreshes_its_recency():
    memory = MemoryCache(2, Clock())
    await memory.set("a", b"1", 10)
    await memory.set("b", b"2", 10)
    await memory.set("a", b"new", 10)
    await memory.set("c", b"3", 10)
    assert (await memory.get("a"), await memory.get("b")) == (b"new", None)


async def test_total_bytes_are_bounded_least_recent_first():
    clock = Clock(0.0)
    memory = MemoryCache(100, clock, max_bytes=10)
    await memory.set("a", b"1234", 10)
    await memory.set("b", b"5678", 10)
    assert memory.size == 8
    assert await memory.get("a") == b"1234"  # a is now the most recent
    await memory.set("c", b"9abc", 10)  # 12 bytes: b, the least recent, goes
    assert (await memory.get("b"), await memory.get("a"), await memory.get("c")) == (None, b"1234", b"9abc")
    assert memory.size == 8
    await memory.set("a", b"12", 10)  # replacing counts the new size only
    assert memory.size == 6
    await memory.set("huge", b"x" * 11, 10)  # larger than the whole bound: not stored, nothing evicted
    assert (await memory.get("huge"), len(memory), memory.size) == (None, 2, 6)
    clock.now = 20.0
    assert await memory.get("a") is None  # expiry gives its bytes back
    assert memory.size == 4
    await memory.set("c", b"", 0)  # ttl 0 removes
    assert (len(memory), memory.size) == (0, 0)


async def test_ttl_boundaries_on_the_injected_clock():
    clock = Clock(100.0)
    memory = MemoryCache(10, clock)
    await memory.set("k", b"v", 5)
    clock.now = 104.999
    assert await memory.get("k") == b"v"
    clock.now = 105.0  # expired exactly at ttl
    assert await memory.get("k") is None
    assert len(memory) == 0  # dropped on read
    await memory.set("k", b"v", 5)
    clock.now = 109.0
    await memory.set("k", b"w", 5)  # a new set restarts the ttl
    clock.now = 113.9
    assert await memory.get("k") == b"w"


async def test_a_read_does_not_extend_the_ttl_and_zero_ttl_removes():
    clock = Clock(0.0)
    memory = MemoryCache(10, clock)
    await memory.set("k", b"v", 2)
    clock.now = 1.5
    assert await memory.get("k") == b"v"
    clock.now = 2.0
    assert await memory.get("k") is None
    await memory.set("z", b"v", 2)
    await memory.set("z", b"v", 0)
    assert await memory.get("z") is None


async def test_per_model_ttl_and_disable_through_the_middleware():
    clock = Clock(0.0)
    upstream = Upstream()
    cache = make(clock, ttl=100, models={"fast": ModelCacheOptions(ttl=5), "off": ModelCacheOptions(enabled=False)})
    for model in ("chat", "fast", "off"):
        await cache(ctx(), req(model=model), upstream)
    assert upstream.calls == 3
    clock.now = 5.0
    heads = {}
    for model in ("chat", "fast", "off"):
        c = ctx()
        await cache(c, req(model=model), upstream)
        heads[model] = c.facts.cache
    assert heads == {"chat": "hit", "fast": "miss", "off": "bypass"}
    assert upstream.calls == 5
    clock.now = 100.0
    c = ctx()
    await cache(c, req(model="chat"), upstream)
    assert c.facts.cache == "miss"


# -- what is stored ------------------------------------------------------------------------------


async def test_a_hit_replays_the_stored_bytes_with_no_upstream_call():
    upstream = Upstream()
    cache = make()
    first = await cache(ctx(), req(), upstream)
    c = ctx()
    second = await cache(c, req(), upstream)
    assert type(second) is Reply and second is not first
    assert second.body == first.body
    assert (upstream.calls, c.facts.cache) == (1, "hit")


async def test_moderations_bypass():
    upstream = Upstream()
    cache = make()
    for _ in range(2):
        c = ctx()
        await cache(c, req(endpoint=Endpoint.MODERATIONS), upstream)
        assert c.facts.cache == "bypass"
    assert upstream.calls == 2


async def test_errors_non_200_degraded_and_oversized_answers_are_not_stored():
    cache = make(max_entry_bytes=10)
    upstream = Upstream(lambda: UpstreamUnavailable("down", provider="up"))
    with pytest.raises(UpstreamUnavailable):
        await cache(ctx(), req(), upstream)
    upstream.answer = lambda: Reply(b"{}", status=202)
    await cache(ctx(), req(), upstream)
    upstream.answer = lambda: Reply(b'{"a":"0123456789"}')
    await cache(ctx(), req(), upstream)

    async def degraded(c, r):
        c.facts.degraded = True
        return Reply(b"{}")

    await cache(ctx(), req(), degraded)
    upstream.answer = lambda: Reply(b'{"ok":1}')  # exactly 8 bytes: fits
    await cache(ctx(), req(), upstream)
    c = ctx()
    assert (await cache(c, req(), upstream)).body == b'{"ok":1}'
    assert (upstream.calls, c.facts.cache) == (4, "hit")


async def test_a_stream_that_ends_cleanly_is_stored_and_replayed_event_for_event():
    events = [SSEEvent(b'{"type":"message_start"}', "message_start"), SSEEvent(b"line1\nline2"), *chunks("a", "b")]
    upstream = Upstream(stream_of(events))
    cache = make()
    relayed = await drain(await cache(ctx(), req(stream=True), upstream))
    assert relayed == events
    c = ctx()
    replay = await cache(c, req(stream=True), upstream)
    assert type(replay) is StreamReply
    assert [e.frame() for e in await drain(replay)] == [e.frame() for e in events]
    assert (upstream.calls, c.facts.cache) == (1, "hit")
    # A JSON request with the same body is another entry.
    await cache(ctx(), req(), Upstream())


async def test_a_stream_that_breaks_is_not_stored():
    upstream = Upstream(stream_of(chunks("a", "b"), fail_after=2))
    cache = make()
    reply = await cache(ctx(), req(stream=True), upstream)
    with pytest.raises(UpstreamUnavailable):
        await drain(reply)
    upstream.answer = stream_of(chunks("a", "b"))
    c = ctx()
    await drain(await cache(c, req(stream=True), upstream))
    assert (upstream.calls, c.facts.cache) == (2, "miss")


async def test_a_stream_its_client_abandons_is_not_stored_and_is_closed():
    closed: list[bool] = []
    upstream = Upstream(stream_of(chunks("a", "b", "c"), closed=closed))
    cache = make()
    reply = await cache(ctx(), req(stream=True), upstream)
    events = reply.events.__aiter__()
    await anext(events)
    await anext(events)
    await reply.aclose()
    assert closed == [True]
    c = ctx()
    await drain(await cache(c, req(stream=True), upstream))
    assert (upstream.calls, c.facts.cache) == (2, "miss")


async def test_an_oversized_stream_is_relayed_whole_but_not_stored():
    events = chunks("x" * 40, "y" * 40)
    upstream = Upstream(stream_of(events))
    cache = make(max_entry_bytes=60)
    assert await drain(await cache(ctx(), req(stream=True), upstream)) == events
    await drain(await cache(ctx(), req(stream=True), upstream))
    assert upstream.calls == 2


def test_stored_forms_round_trip_and_garbage_is_a_miss():
    assert decode(b"R{}").body == b"{}"
    assert decode(encode_stream([SSEEvent(b"x", "e")])) is not None
    assert encode_stream([SSEEvent(b"\xff")]) is None  # not UTF-8: not storable
    for junk in (b"", b"X{}", b"S[1]", b"S{", b'S[["a"]]', b"S[[null, 1]]", "R{}"):
        assert decode(junk) is None


async def test_an_unreadable_entry_is_a_miss():
    memory = MemoryCache(10, Clock())
    cache = make(backend=memory)
    await memory.set(cache_key(req(), "t-a"), b"S{broken", 60)
    upstream = Upstream()
    c = ctx()
    await cache(c, req(), upstream)
    assert (upstream.calls, c.facts.cache) == (1, "miss")


# -- coalescing ----------------------------------------------------------------------------------


async def test_identical_requests_in_flight_share_one_upstream_call():
    upstream = Upstream()
    upstream.gate = asyncio.Event()
    cache = make()
    contexts = [ctx() for _ in range(5)]
    tasks = [asyncio.create_task(cache(c, req(), upstream)) for c in contexts]
    await asyncio.sleep(0.01)
    assert upstream.calls == 1
    upstream.gate.set()
    replies = await within(asyncio.gather(*tasks))
    assert {r.body for r in replies} == {b'{"id":"x","n":1}'}
    assert sorted(c.facts.cache for c in contexts) == ["coalesced"] * 4 + ["miss"]
    assert cache._inflight == {}


async def test_followers_get_the_leaders_error_and_nothing_is_stored():
    upstream = Upstream(lambda: UpstreamUnavailable("down", provider="up"))
    upstream.gate = asyncio.Event()
    cache = make()
    tasks = [asyncio.create_task(cache(ctx(), req(), upstream)) for _ in range(3)]
    await asyncio.sleep(0.01)
    upstream.gate.set()
    results = await within(asyncio.gather(*tasks, return_exceptions=True))
    assert all(isinstance(r, UpstreamUnavailable) for r in results)
    assert upstream.calls == 1
    assert cache._inflight == {}
    upstream.gate = None
    upstream.answer = lambda: Reply(b"{}")
    await cache(ctx(), req(), upstream)
    assert upstream.calls == 2


async def test_without_coalescing_each_request_goes_upstream():
    upstream = Upstream()
    upstream.gate = asyncio.Event()
    cache = make(coalesce=False)
    tasks = [asyncio.create_task(cache(ctx(), req(), upstream)) for _ in range(3)]
    await asyncio.sleep(0.01)
    upstream.gate.set()
    await asyncio.gather(*tasks)
    assert upstream.calls == 3


async def test_different_requests_do_not_coalesce():
    upstream = Upstream()
    upstream.gate = asyncio.Event()
    cache = make()
    tasks = [asyncio.create_task(cache(ctx(), req(model=m), upstream)) for m in ("a", "b", "a")]
    await asyncio.sleep(0.01)
    upstream.gate.set()
    await asyncio.gather(*tasks)
    assert upstream.calls == 2


async def test_stream_followers_replay_the_leaders_stream_once_it_ends():
    events = chunks("a", "b")
    upstream = Upstream(stream_of(events))
    upstream.gate = asyncio.Event()
    cache = make()
    leader_ctx = ctx()
    leader = asyncio.create_task(cache(leader_ctx, req(stream=True), upstream))
    await asyncio.sleep(0)
    followers = [asyncio.create_task(cache(ctx(), req(stream=True), upstream)) for _ in range(3)]
    upstream.gate.set()
    reply = await leader
    events_iter = reply.events.__aiter__()
    await anext(events_iter)
    await asyncio.sleep(0.01)
    assert not any(f.done() for f in followers)  # they wait for the leader's end
    rest = [event async for event in events_iter]
    await reply.aclose()
    assert len(rest) == len(events) - 1
    for follower in followers:
        assert await drain(await within(follower)) == events
    assert upstream.calls == 1


async def test_stream_followers_go_upstream_themselves_when_the_leader_is_abandoned():
    upstream = Upstream(stream_of(chunks("a", "b")))
    upstream.gate = asyncio.Event()
    cache = make()
    leader = asyncio.create_task(cache(ctx(), req(stream=True), upstream))
    await asyncio.sleep(0)
    follower_ctx = ctx()
    follower = asyncio.create_task(cache(follower_ctx, req(stream=True), upstream))
    upstream.gate.set()
    reply = await leader
    await reply.aclose()  # never read: the client left at once
    assert await drain(await within(follower)) == chunks("a", "b")
    assert (upstream.calls, follower_ctx.facts.cache) == (2, "miss")
    assert cache._inflight == {}


async def test_a_cancelled_leader_releases_its_followers():
    upstream = Upstream()
    upstream.gate = asyncio.Event()
    cache = make()
    leader = asyncio.create_task(cache(ctx(), req(), upstream))
    await asyncio.sleep(0)
    follower = asyncio.create_task(cache(ctx(), req(), upstream))
    await asyncio.sleep(0.01)
    leader.cancel()
    await asyncio.sleep(0.01)
    upstream.gate.set()
    assert (await within(follower)).body == b'{"id":"x","n":1}'
    assert upstream.calls == 2
    assert cache._inflight == {}


async def test_a_cancelled_follower_leaves_the_others_waiting():
    upstream = Upstream()
    upstream.gate = asyncio.Event()
    cache = make()
    leader = asyncio.create_task(cache(ctx(), req(), upstream))
    await asyncio.sleep(0)
    quitter = asyncio.create_task(cache(ctx(), req(), upstream))
    stayer = asyncio.create_task(cache(ctx(), req(), upstream))
    await asyncio.sleep(0.01)
    quitter.cancel()
    await asyncio.sleep(0.01)
    upstream.gate.set()
    assert (await within(leader)).body == (await within(stayer)).body
    assert upstream.calls == 1


# -- a failing backend ---------------------------------------------------------------------------


class BrokenBackend:
    def __init__(self) -> None:
        self.closed = False

    async def get(self, key):
        raise ConnectionError("redis://:hunter2@cache:6379 refused")

    async def set(self, key, value, ttl):
        raise ConnectionError("redis://:hunter2@cache:6379 refused")

    async def aclose(self):
        self.closed = True


async def test_a_failing_backend_is_a_miss_and_warns_once_a_minute(caplog):
    from attrs import define

    from sluicegate.secrets import Secret

    @define(kw_only=True)
    class RedisLikeOptions(CacheOptions):
        """A backend's own key beside the cache's, as a backend's registered options add it."""

        url: Secret | None = None

    clock = Clock(0.0)
    backend = BrokenBackend()
    options = RedisLikeOptions(url=Secret("redis://:hunter2@cache:6379"))
    cache = ResponseCache(options, backend, Services(http=None, config=None, clock=clock))
    upstream = Upstream()
    with caplog.at_level(logging.WARNING, logger="sluicegate"):
        for now in (0.0, 1.0, 59.9, 60.0):
            clock.now = now
            c = ctx()
            assert (await cache(c, req(), upstream)).body == b'{"id":"x","n":1}'
            assert c.facts.cache == "miss"
    assert upstream.calls == 4
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert all("hunter2" not in w and "ConnectionError" in w for w in warnings)
    await cache.aclose()
    assert backend.closed


# -- the factory and the plugin ------------------------------------------------------------------


def test_unknown_backend_is_a_config_problem_naming_the_installed_ones():
    host = load_plugins(use_entry_points=False)
    services = Services(http=None, config=None, registry=host.registry)
    with pytest.raises(ConfigError) as info:
        make_cache(options=CacheOptions(backend="memroy"), services=services)
    [problem] = info.value.problems
    assert problem.path == "backend"
    assert problem.message == "unknown cache backend 'memroy' (did you mean \"memory\"?); installed: memory"


def test_the_default_plugin_registers_the_middleware_and_the_memory_backend():
    host = load_plugins(use_entry_points=False)
    middleware = host.registry.get(MIDDLEWARE, "cache")
    assert middleware.order == Order.CACHE and middleware.options is CacheOptions
    assert middleware.plugin.name == "sluicegate.cache"
    assert host.registry.get(CACHE_BACKEND, "memory").plugin.name == "sluicegate.memory_cache"


def test_cache_table_is_validated_strictly():
    with pytest.raises(ConfigError) as info:
        load_config_text('[cache]\nttl = 0\nmax_entries = "9"\nbogus = 1\n[cache.models.x]\nttl = -1\n',
                         env={}, use_entry_points=False)
    problems = {p.path: p.message for p in info.value.problems}
    assert set(problems) == {"cache.ttl", "cache.max_entries", "cache.bogus", "cache.models.x"}
    assert problems["cache.models.x"] == "must be greater than 0, got -1.0"
    # A backend's URL (the redis backend's own key) is a secret in the table's repr.
    loaded = load_config_text(MOCK + '[cache]\nbackend = "redis"\nurl = "redis://:pw@h:6379"\n', env={})
    assert "pw" not in repr(loaded.config.features["cache"])
    off = load_config_text(MOCK + "[cache]\nenabled = false\n", env={}, use_entry_points=False,
                           extra_plugins=MOCK_PLUGIN)
    assert "cache" not in off.config.features


def test_assembly_prefixes_the_backend_problem_and_keeps_the_middleware(build):
    with pytest.raises(ConfigError) as info:
        build(MOCK + '[cache]\nbackend = "nope"\n', use_entry_points=False, extra_plugins=MOCK_PLUGIN)
    assert [p.path for p in info.value.problems] == ["cache.backend"]
    assert build(MOCK + "[cache]\n", use_entry_points=False, extra_plugins=MOCK_PLUGIN).middleware_names == ["cache"]
    assert build(MOCK, use_entry_points=False, extra_plugins=MOCK_PLUGIN).middleware_names == []
