"""Rate limits, unit level: GCRA on a fake clock, estimates and usage, the middleware and its gate."""

from __future__ import annotations

import logging

import orjson
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from sluicegate.errors import ConfigError, GatewayError, UpstreamError
from sluicegate.exchange import Endpoint, GatewayRequest, Reply, RequestContext, SSEEvent, StreamReply
from sluicegate.features.memory_limiter import MemoryRateLimiter
from sluicegate.features.ratelimit import (
    GatedRateLimit,
    ModelLimits,
    ProviderLimits,
    RateLimit,
    RateLimitOptions,
    format_duration,
    make_ratelimit,
    retry_after_header,
)
from sluicegate.features.token_usage import completion_allowance, estimate_prompt_tokens, usage_counts
from sluicegate.plugins import load_plugins
from sluicegate.services import Services
from sluicegate.testing import openai_chunks
from sluicegate.usage import StreamObserver


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- GCRA ---------------------------------------------------------------------------------------


async def test_gcra_burst_is_a_full_minute_then_exact_retry_after():
    clock = Clock()
    limiter = MemoryRateLimiter(clock)
    # 60 rpm: one a second, a burst of 60.
    for spent in range(1, 61):
        decision = await limiter.acquire("k", 1, 1.0, 60)
        assert decision.allowed
        assert decision.remaining == 60 - spent
        assert decision.reset_after == spent
    refused = await limiter.acquire("k", 1, 1.0, 60)
    assert not refused.allowed
    assert (refused.retry_after, refused.remaining, refused.reset_after) == (1.0, 0.0, 60.0)
    # A refusal spends nothing: asking again gives the same answer.
    assert await limiter.acquire("k", 1, 1.0, 60) == refused


async def test_gcra_steady_rate_after_the_burst():
    clock = Clock()
    limiter = MemoryRateLimiter(clock)
    for _ in range(3):
        assert (await limiter.acquire("k", 1, 0.05, 3)).allowed  # 3 rpm
    assert (await limiter.acquire("k", 1, 0.05, 3)).retry_after == pytest.approx(20.0)
    clock.now += 5
    assert (await limiter.acquire("k", 1, 0.05, 3)).retry_after == pytest.approx(15.0)
    clock.now += 15
    assert (await limiter.acquire("k", 1, 0.05, 3)).allowed
    assert not (await limiter.acquire("k", 1, 0.05, 3)).allowed
    clock.now += 20
    assert (await limiter.acquire("k", 1, 0.05, 3)).allowed


async def test_gcra_cost_waits_for_enough_tokens():
    clock = Clock()
    limiter = MemoryRateLimiter(clock)
    # 600 tokens a minute: 10 a second.
    assert (await limiter.acquire("t", 500, 10.0, 600)).remaining == 100
    refused = await limiter.acquire("t", 150, 10.0, 600)
    assert not refused.allowed
    assert (refused.retry_after, refused.remaining, refused.reset_after) == (5.0, 100.0, 50.0)
    clock.now += 5
    decision = await limiter.acquire("t", 150, 10.0, 600)
    assert decision.allowed and decision.remaining == 0


async def test_gcra_negative_cost_gives_back_but_never_beyond_full():
    clock = Clock()
    limiter = MemoryRateLimiter(clock)
    await limiter.acquire("t", 500, 10.0, 600)
    assert (await limiter.acquire("t", -100, 10.0, 600)).remaining == 200
    full = await limiter.acquire("t", -10_000, 10.0, 600)
    assert full.allowed and (full.remaining, full.reset_after) == (600, 0)
    assert len(limiter) == 0  # a full bucket is forgotten
    # Giving back to a full bucket creates no extra capacity.
    await limiter.acquire("t", -300, 10.0, 600)
    assert (await limiter.acquire("t", 600, 10.0, 600)).allowed
    assert not (await limiter.acquire("t", 1, 10.0, 600)).allowed


async def test_concurrency_slots_refuse_at_the_limit_free_on_leave_and_expire():
    clock = Clock()
    limiter = MemoryRateLimiter(clock)
    assert await limiter.enter("c", 2, 600)
    assert await limiter.enter("c", 2, 600)
    assert not await limiter.enter("c", 2, 600)
    await limiter.leave("c")
    assert await limiter.enter("c", 2, 600)
    clock.now += 600  # both holders vanished without leaving
    assert await limiter.enter("c", 2, 600)
    await limiter.leave("c")
    await limiter.leave("c")  # more leaves than slots: harmless
    await limiter.leave("never-entered")
    assert len(limiter) == 0


async def test_memory_stays_bounded_by_evicting_full_buckets():
    clock = Clock()
    limiter = MemoryRateLimiter(clock, max_keys=10)
    for index in range(10):
        await limiter.acquire(f"old{index}", 1, 1.0, 60)
    clock.now += 2  # their TATs are now in the past: full buckets
    for index in range(30):
        await limiter.acquire(f"new{index}", 1, 1.0, 60)
    assert not any(key.startswith("old") for key in limiter._tat)
    assert len(limiter._tat) <= 30
    for index in range(25):
        await limiter.enter(f"s{index}", 1, 1)  # holders that never leave
    clock.now += 2
    for index in range(30):
        await limiter.enter(f"fresh{index}", 1, 600)
    assert not any(key.startswith("s") for key in limiter._slots)
    assert len(limiter._slots) <= 30


# -- formats ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (0.0004, "0s"), (0.12, "120ms"), (1, "1s"), (1.5, "1.5s"), (59.999, "59.999s"),
    (60, "1m0s"), (360, "6m0s"), (61.25, "1m1.25s"), (3600, "1h0m0s"), (3725, "1h2m5s"),
])
def test_reset_duration_in_openai_format(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize(("seconds", "text"), [(0.2, "1"), (20.000000000000004, "20"), (20.5, "21"), (60, "60")])
def test_retry_after_header_rounds_up_whole_seconds(seconds, text):
    assert retry_after_header(seconds) == text


# -- estimates and usage ---------------------------------------------------------------------------


def request(body: dict, endpoint: Endpoint = Endpoint.CHAT, model: str = "echo", stream: bool = False,
            raw: bytes | None = None) -> GatewayRequest:
    return GatewayRequest(endpoint, body, raw if raw is not None else orjson.dumps(body), model, stream, ())


def test_prompt_estimate_is_bytes_over_four_with_base64_payloads_flat():
    assert estimate_prompt_tokens(b"x" * 400) == 100
    assert estimate_prompt_tokens(b"x" * 401) == 101
    image = b'{"url": "data:image/png;base64,' + b"iVBO" * 5000 + b'"}'
    assert estimate_prompt_tokens(image) == -(-(len(image) - 20_000 + 4 * 1000) // 4)
    # base64 mentioned in prose changes nothing
    assert estimate_prompt_tokens(b"what is base64? " * 25) == 100


def test_completion_allowance():
    assert completion_allowance(request({"max_tokens": 200}), 1024) == 200
    assert completion_allowance(request({"max_tokens": 200, "max_completion_tokens": 50}), 1024) == 50
    assert completion_allowance(request({}), 1024) == 1024
    assert completion_allowance(request({"max_tokens": True}), 1024) == 1024
    assert completion_allowance(request({"max_tokens": 100, "n": 3}), 1024) == 300
    assert completion_allowance(request({"max_tokens": 100}, Endpoint.MESSAGES), 1024) == 100
    assert completion_allowance(request({"input": "x"}, Endpoint.EMBEDDINGS), 1024) == 0


def test_usage_counts_both_dialects():
    assert usage_counts({"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}) == (5, 2)
    assert usage_counts({"prompt_tokens": 9, "total_tokens": 9}) == (9, None)
    assert usage_counts({"total_tokens": 9}) == (9, None)
    assert usage_counts({"input_tokens": 10, "output_tokens": 4, "cache_read_input_tokens": 100,
                         "cache_creation_input_tokens": 20}) == (130, 4)
    assert usage_counts({"output_tokens": 4}) == (None, 4)
    assert usage_counts(None) == (None, None)
    assert usage_counts({"prompt_tokens": "5"}) == (None, None)


def events_of(chunks: list) -> list[SSEEvent]:
    return [SSEEvent.from_data(chunk) for chunk in chunks] + [SSEEvent(b"[DONE]")]


def test_stream_meter_prefers_reported_usage():
    meter = StreamObserver(count_content=True)
    for event in events_of(openai_chunks(["Hello", " world"], usage=True)):
        meter.see(event)
    assert meter.tokens(prompt_estimate=999) == 7


def test_stream_meter_estimates_from_streamed_text_without_usage():
    meter = StreamObserver(count_content=True)
    for event in events_of(openai_chunks(["word "] * 80)):  # 400 characters: about 100 tokens
        meter.see(event)
    assert 100 <= meter.tokens(prompt_estimate=10) - 10 <= 106


def test_stream_meter_reads_anthropic_usage_and_estimates_an_unfinished_answer():
    start = ("message_start", {"type": "message_start", "message": {
        "id": "msg_1", "usage": {"input_tokens": 11, "output_tokens": 1}}})
    delta = ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                     "delta": {"type": "text_delta", "text": "abcd" * 10}})
    end = ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                             "usage": {"output_tokens": 7}})
    meter = StreamObserver(count_content=True)
    for name, data in (start, delta, delta):
        meter.see(SSEEvent.from_data(data, name))
    assert meter.tokens(prompt_estimate=500) == 11 + 20  # reported prompt, 80 characters streamed
    meter.see(SSEEvent.from_data(end[1], end[0]))
    assert meter.tokens(prompt_estimate=500) == 18


# -- the middleware ----------------------------------------------------------------------------------


def middleware(clock: Clock, **options) -> RateLimit:
    host = load_plugins(use_entry_points=False)
    services = Services(http=None, config=None, registry=host.registry, clock=clock)
    made = make_ratelimit(options=RateLimitOptions(**options), services=services)
    assert made is not None
    return made


def context(tenant: str | None = "t-alice") -> RequestContext:
    return RequestContext("req-1", tenant, CIMultiDictProxy(CIMultiDict()), 0.0)


def chat(raw_size: int = 400, max_tokens: int | None = 200, model: str = "echo", stream: bool = False):
    body: dict = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    raw = orjson.dumps(body)
    return request(body, model=model, stream=stream, raw=raw + b" " * (raw_size - len(raw)))


def answer(prompt: int = 50, completion: int = 20) -> Reply:
    return Reply(orjson.dumps({"choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": completion}}))


def replying(result=None, seen: list | None = None):
    async def call_next(ctx, req):
        if seen is not None:
            seen.append(dict(ctx.response_headers))
        return answer() if result is None else result

    return call_next


async def remaining(mw: RateLimit, key: str, per_minute: int) -> float:
    """The bucket's remaining capacity, read without spending (a zero cost)."""
    return (await mw.limiter.acquire(key, 0, per_minute / 60, per_minute)).remaining


async def test_client_requests_limit_with_headers_and_exact_retry_after():
    clock = Clock()
    mw = middleware(clock, requests_per_minute=2)
    ctx = context()
    await mw(ctx, chat(), replying())
    assert ctx.response_headers == {
        "x-ratelimit-limit-requests": "2", "x-ratelimit-remaining-requests": "1",
        "x-ratelimit-reset-requests": "30s",
    }
    await mw(context(), chat(), replying())
    with pytest.raises(GatewayError) as refused:
        await mw(context(), chat(), replying())
    error = refused.value
    assert (error.status, error.type, error.code, error.error_class) == (429, "requests", "rate_limit_exceeded",
                                                                          "rate_limit")
    assert error.retry_after == pytest.approx(30.0)
    assert error.headers == {
        "Retry-After": "30", "x-ratelimit-limit-requests": "2", "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1m0s",
    }
    assert "Limit 2" in error.message and "30s" in error.message
    clock.now += 30
    await mw(context(), chat(), replying())


async def test_tenants_are_limited_apart_and_the_open_gateway_is_one_client():
    mw = middleware(Clock(), requests_per_minute=1)
    await mw(context("t-alice"), chat(), replying())
    await mw(context("t-bob"), chat(), replying())
    await mw(context(None), chat(), replying())
    for tenant in ("t-alice", "t-bob", None):
        with pytest.raises(GatewayError):
            await mw(context(tenant), chat(), replying())


async def test_token_estimate_is_reserved_then_settled_with_the_reported_usage():
    mw = middleware(Clock(), tokens_per_minute=6000)
    seen: list = []
    ctx = context()
    await mw(ctx, chat(raw_size=400, max_tokens=200), replying(answer(50, 20), seen))
    # During the call: 100 (prompt) + 200 (max_tokens) reserved.
    assert seen[0]["x-ratelimit-remaining-tokens"] == "5700"
    # After it: the real 70 only; the response reports the settled budget.
    assert await remaining(mw, "rl:client:t-alice:tokens", 6000) == 5930
    assert ctx.response_headers["x-ratelimit-remaining-tokens"] == "5930"


async def test_without_max_tokens_the_default_allowance_is_reserved():
    mw = middleware(Clock(), tokens_per_minute=6000, default_max_tokens=500)
    seen: list = []
    await mw(context(), chat(raw_size=400, max_tokens=None), replying(seen=seen))
    assert seen[0]["x-ratelimit-remaining-tokens"] == "5400"


async def test_an_answer_without_usage_keeps_the_estimate():
    mw = middleware(Clock(), tokens_per_minute=6000)
    await mw(context(), chat(raw_size=400, max_tokens=200), replying(Reply(b'{"results": []}')))
    assert await remaining(mw, "rl:client:t-alice:tokens", 6000) == 5700


async def test_a_failed_request_gives_its_tokens_back_but_counts_as_a_request():
    mw = middleware(Clock(), tokens_per_minute=6000, requests_per_minute=10)

    async def failing(ctx, req):
        raise UpstreamError("vendor down", provider="a", status=502)

    with pytest.raises(UpstreamError):
        await mw(context(), chat(), failing)
    assert await remaining(mw, "rl:client:t-alice:tokens", 6000) == 6000
    assert await remaining(mw, "rl:client:t-alice:requests", 10) == 9


async def test_usage_over_the_estimate_is_charged_up_to_an_empty_bucket():
    mw = middleware(Clock(), tokens_per_minute=1000)
    await mw(context(), chat(raw_size=400, max_tokens=100), replying(answer(600, 900)))
    assert await remaining(mw, "rl:client:t-alice:tokens", 1000) == 0


async def test_an_estimate_over_the_whole_budget_waits_for_a_full_bucket():
    clock = Clock()
    mw = middleware(clock, tokens_per_minute=600)
    await mw(context(), chat(raw_size=400, max_tokens=100), replying(answer(100, 60)))  # 160 used
    with pytest.raises(GatewayError) as refused:
        await mw(context(), chat(raw_size=400, max_tokens=5000), replying())
    assert refused.value.type == "tokens"
    assert refused.value.retry_after == pytest.approx(16.0)  # 160 tokens at 10 a second
    assert refused.value.headers["x-ratelimit-remaining-tokens"] == "440"
    clock.now += 16
    await mw(context(), chat(raw_size=400, max_tokens=5000), replying())


def stream_of(chunks: list) -> tuple[StreamReply, list[bool]]:
    """A stream of ``chunks`` and a list that gets True once the stream is closed."""
    closed: list[bool] = []

    async def events():
        for event in events_of(chunks):
            yield event

    async def record() -> None:
        closed.append(True)

    return StreamReply(events(), on_close=record), closed


async def test_stream_is_settled_with_its_usage_chunk_when_closed():
    mw = middleware(Clock(), tokens_per_minute=6000)
    upstream, closed = stream_of(openai_chunks(["Hello", " world"], usage=True))
    reply = await mw(context(), chat(stream=True), replying(upstream))
    assert await remaining(mw, "rl:client:t-alice:tokens", 6000) == 5700
    async for _ in reply:
        pass
    await reply.aclose()
    assert closed == [True]
    assert await remaining(mw, "rl:client:t-alice:tokens", 6000) == 6000 - 7


async def test_abandoned_stream_is_settled_with_what_was_streamed_and_frees_its_slot():
    mw = middleware(Clock(), tokens_per_minute=6000, concurrency=1)
    upstream, closed = stream_of(openai_chunks(["word "] * 100, usage=True))
    reply = await mw(context(), chat(raw_size=400, max_tokens=200, stream=True), replying(upstream))
    with pytest.raises(GatewayError) as busy:
        await mw(context(), chat(), replying())
    assert (busy.value.status, busy.value.code, busy.value.headers["Retry-After"]) == (
        429, "concurrency_limit_exceeded", "1")
    events = reply.events.__aiter__()
    for _ in range(9):  # the role chunk and 8 words: 40 characters, about 10 tokens
        await anext(events)
    await reply.aclose()  # the client left
    assert closed == [True]
    used = 6000 - await remaining(mw, "rl:client:t-alice:tokens", 6000)
    assert 100 + 10 <= used <= 100 + 16
    await mw(context(), chat(), replying())  # the slot is free again


async def test_concurrency_slot_is_held_until_a_non_stream_answer_and_freed_on_failure():
    mw = middleware(Clock(), concurrency=1)
    inner: list = []

    async def nested(ctx, req):
        try:
            await mw(context(), chat(), replying())
        except GatewayError as error:
            inner.append(error.code)
        return answer()

    await mw(context(), chat(), nested)
    assert inner == ["concurrency_limit_exceeded"]

    async def failing(ctx, req):
        raise UpstreamError("down", provider="a", status=502)

    with pytest.raises(UpstreamError):
        await mw(context(), chat(), failing)
    await mw(context(), chat(), replying())


async def test_model_limits_are_shared_by_clients_and_a_refusal_gives_back_the_client_charge():
    mw = middleware(Clock(), requests_per_minute=10, models={"echo": ModelLimits(requests_per_minute=1)})
    await mw(context("t-alice"), chat(), replying())
    with pytest.raises(GatewayError) as refused:
        await mw(context("t-bob"), chat(), replying())
    assert "model 'echo'" in refused.value.message
    assert refused.value.retry_after == pytest.approx(60.0)
    # Bob's own budget is untouched by the refused request; other models are not limited.
    assert refused.value.headers["x-ratelimit-remaining-requests"] == "0"  # the model's bucket
    assert await remaining(mw, "rl:client:t-bob:requests", 10) == 10
    await mw(context("t-bob"), chat(model="other"), replying())


async def test_model_token_limit():
    mw = middleware(Clock(), models={"echo": ModelLimits(tokens_per_minute=600)})
    await mw(context("t-alice"), chat(raw_size=400, max_tokens=200), replying(answer(250, 250)))
    with pytest.raises(GatewayError) as refused:
        await mw(context("t-bob"), chat(raw_size=400, max_tokens=200), replying())
    assert refused.value.type == "tokens" and "model 'echo'" in refused.value.message
    assert refused.value.retry_after == pytest.approx(20.0)  # needs 200 more at 10 a second


# -- provider limits: gate_target -------------------------------------------------------------------


class FakeProvider:
    def __init__(self, name: str) -> None:
        self.name = name


class FakeTarget:
    def __init__(self, provider: str) -> None:
        self.provider = FakeProvider(provider)
        self.label = f"{provider}/m"


def test_gate_target_exists_only_with_provider_limits():
    assert not hasattr(middleware(Clock(), requests_per_minute=1), "gate_target")
    gated = middleware(Clock(), providers={"a": ProviderLimits(requests_per_minute=1)})
    assert isinstance(gated, GatedRateLimit)


async def test_provider_requests_limit_refuses_the_target_for_the_router():
    clock = Clock()
    mw = middleware(clock, providers={"a": ProviderLimits(requests_per_minute=1)})
    assert await mw.gate_target(context(), chat(), FakeTarget("a")) is None
    with pytest.raises(GatewayError) as refused:
        await mw.gate_target(context(), chat(), FakeTarget("a"))
    error = refused.value
    assert (error.status, error.error_class, error.code) == (429, "rate_limit", "rate_limit_exceeded")
    assert error.retry_after == pytest.approx(60.0) and error.headers["Retry-After"] == "60"
    assert "provider 'a'" in error.message
    assert await mw.gate_target(context(), chat(), FakeTarget("b")) is None  # not limited
    clock.now += 60
    assert await mw.gate_target(context(), chat(), FakeTarget("a")) is None


async def test_provider_concurrency_is_released_by_the_returned_callable():
    mw = middleware(Clock(), providers={"a": ProviderLimits(concurrency=1, requests_per_minute=100)})
    release = await mw.gate_target(context(), chat(), FakeTarget("a"))
    assert release is not None
    with pytest.raises(GatewayError) as busy:
        await mw.gate_target(context(), chat(), FakeTarget("a"))
    assert busy.value.code == "concurrency_limit_exceeded"
    await release()
    assert await mw.gate_target(context(), chat(), FakeTarget("a")) is not None
    # A refused rate limit gives the slot back at once.
    assert await remaining(mw, "rl:provider:a:requests", 100) == 98


async def test_provider_tokens_failed_call_gives_back_and_the_answering_call_is_settled():
    mw = middleware(Clock(), providers={"a": ProviderLimits(tokens_per_minute=6000),
                                        "b": ProviderLimits(tokens_per_minute=6000)})

    async def router(ctx, req):
        # What the router does: gate a, call it (fails), gate b, call it (answers).
        await mw.gate_target(ctx, req, FakeTarget("a"))
        await mw.gate_target(ctx, req, FakeTarget("b"))
        assert await remaining(mw, "rl:provider:a:tokens", 6000) == 5700
        ctx.target = FakeTarget("b")
        return answer(50, 20)

    await mw(context(), chat(raw_size=400, max_tokens=200), router)
    assert await remaining(mw, "rl:provider:a:tokens", 6000) == 6000
    assert await remaining(mw, "rl:provider:b:tokens", 6000) == 5930


# -- failing open --------------------------------------------------------------------------------------


class BrokenLimiter:
    async def acquire(self, key, cost, rate, burst):
        raise ConnectionError("redis://:hunter2@cache:6379 is down")

    async def enter(self, key, limit, ttl):
        raise ConnectionError("down")

    async def leave(self, key):
        raise ConnectionError("down")

    async def aclose(self):
        pass


async def test_a_failing_limiter_lets_requests_through_and_warns_once_a_minute(caplog):
    clock = Clock()
    mw = middleware(clock, requests_per_minute=1, tokens_per_minute=100, concurrency=1,
                    models={"echo": ModelLimits(requests_per_minute=1)})
    mw.limiter = BrokenLimiter()
    mw.secrets = ["hunter2"]
    with caplog.at_level(logging.WARNING, logger="sluicegate"):
        for _ in range(3):
            ctx = context()
            assert (await mw(ctx, chat(), replying())).status == 200
            assert ctx.response_headers == {}
        clock.now += 59
        await mw(context(), chat(), replying())
        assert len(caplog.records) == 1
        clock.now += 1
        await mw(context(), chat(), replying())
    assert len(caplog.records) == 2
    assert "fail open" in caplog.records[0].getMessage()
    assert "hunter2" not in caplog.text


# -- config ---------------------------------------------------------------------------------------------

MOCK = '[providers.mock]\ntype = "mock"\n[models.echo]\ntargets = ["mock/echo-1"]\n'


def problems(build, text: str) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as info:
        build(MOCK + text)
    return [(p.path, p.message) for p in info.value.problems]


def test_unknown_backend_and_provider_are_config_errors(build):
    found = problems(build, '[ratelimit]\nbackend = "memroy"\nrequests_per_minute = 1\n'
                            '[ratelimit.providers.mokc]\nrequests_per_minute = 1\n')
    [(backend, message), provider] = found
    assert backend == "ratelimit.backend"
    assert message.startswith("unknown rate-limiter backend 'memroy' (did you mean \"memory\"?); "
                              "installed backends: memory")
    assert provider == ("ratelimit.providers.mokc", "unknown provider 'mokc' (did you mean \"mock\"?)")


def test_limits_must_be_positive(build):
    found = problems(build, "[ratelimit]\nrequests_per_minute = 0\n[ratelimit.models.echo]\ntokens_per_minute = -1\n")
    assert ("ratelimit.requests_per_minute", "must be at least 1, got 0") in found
    assert any(path.startswith("ratelimit.models") for path, _ in found)


def test_the_middleware_joins_the_chain_only_with_limits(build):
    assert "ratelimit" in build(MOCK + "[ratelimit]\nconcurrency = 4\n").middleware_names
    assert "ratelimit" not in build(MOCK + "[ratelimit]\n").middleware_names
    assert "ratelimit" not in build(MOCK + "[ratelimit]\nenabled = false\nconcurrency = 4\n").middleware_names
