"""The ``type = "mock"`` provider: exact answers, streams, timing and failure injection."""

from __future__ import annotations

import random

import aiohttp
import openai
import orjson
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from sluicegate.config.loader import load_config_text
from sluicegate.errors import ConfigError, ConfigProblem, UpstreamError
from sluicegate.exchange import Endpoint, GatewayRequest, Reply, RequestContext, SSEEvent, StreamReply, Target
from sluicegate.services import Services
from sluicegate_mock import MockOptions, MockProvider

NOW = 1_730_000_000.0
RID = "req-1"


class Sleeps:
    """A fake ``sleep`` that records how long it was asked to wait and returns at once."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def make(sleep=None, rng=None, **options) -> MockProvider:
    services = Services(
        http=None, config=None, sleep=sleep or Sleeps(), wall_clock=lambda: NOW,
        rng=rng or random.Random(0),
    )
    return MockProvider("m", MockOptions(type="mock", **options), services)


def request(body: dict, endpoint: Endpoint = Endpoint.CHAT) -> GatewayRequest:
    body = {"model": "m/echo", **body}
    return GatewayRequest(endpoint, body, orjson.dumps(body), body["model"], bool(body.get("stream")), ())


async def send(provider: MockProvider, body: dict, endpoint: Endpoint = Endpoint.CHAT):
    ctx = RequestContext(RID, None, CIMultiDictProxy(CIMultiDict()), 0.0)
    return await provider.send(ctx, request(body, endpoint), Target(provider, "echo", "m/echo"))


async def events(reply: StreamReply) -> list[SSEEvent]:
    assert isinstance(reply, StreamReply)
    try:
        return [event async for event in reply]
    finally:
        await reply.aclose()


def user(content) -> dict:
    return {"role": "user", "content": content}


def chat_answer(text: str, finish: str, usage: tuple[int, int]) -> dict:
    return {
        "id": f"chatcmpl-{RID}",
        "object": "chat.completion",
        "created": int(NOW),
        "model": "echo",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text, "refusal": None},
            "finish_reason": finish,
            "logprobs": None,
        }],
        "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)},
    }


# -- answers ---------------------------------------------------------------------------------


async def test_echoes_the_last_user_message_exactly():
    body = {"messages": [
        {"role": "system", "content": "be brief"},
        user("first question"),
        {"role": "assistant", "content": "an answer"},
        user("hello there world"),
        {"role": "assistant", "content": None},
    ]}
    reply = await send(make(), body)
    assert isinstance(reply, Reply)
    # prompt: 2 + 2 + 2 + 3 + 0 words; completion: 3 words
    assert reply.data == chat_answer("hello there world", "stop", (9, 3))
    assert orjson.loads(reply.body) == reply.data


async def test_echoes_the_text_parts_of_a_content_list():
    content = [
        {"type": "text", "text": "look at"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "text", "text": "this"},
    ]
    reply = await send(make(), {"messages": [user(content)]})
    assert reply.data["choices"][0]["message"]["content"] == "look at this"
    assert reply.data["usage"] == {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}


async def test_no_user_message_gives_an_empty_answer():
    reply = await send(make(), {"messages": [{"role": "system", "content": "only system"}]})
    assert reply.data == chat_answer("", "stop", (2, 0))


async def test_fixed_reply():
    reply = await send(make(reply="Fixed answer."), {"messages": [user("anything at all")]})
    assert reply.data == chat_answer("Fixed answer.", "stop", (3, 2))


@pytest.mark.parametrize("limit_key", ["max_tokens", "max_completion_tokens"])
async def test_max_tokens_truncates_with_finish_reason_length(limit_key):
    body = {"messages": [user("one two three four five")], limit_key: 2}
    reply = await send(make(), body)
    assert reply.data == chat_answer("one two ", "length", (5, 2))


@pytest.mark.parametrize("limit", [5, 6, 100])
async def test_max_tokens_not_reached_finishes_with_stop(limit):
    reply = await send(make(), {"messages": [user("one two three four five")], "max_tokens": limit})
    assert reply.data == chat_answer("one two three four five", "stop", (5, 5))


async def test_completions_answer():
    reply = await send(make(), {"prompt": "say this back", "max_tokens": 2}, Endpoint.COMPLETIONS)
    assert reply.data == {
        "id": f"cmpl-{RID}",
        "object": "text_completion",
        "created": int(NOW),
        "model": "echo",
        "choices": [{"index": 0, "text": "say this ", "finish_reason": "length", "logprobs": None}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }


async def test_completions_usage_counts_the_prompt_even_with_a_fixed_reply():
    reply = await send(make(reply="one two three four"), {"prompt": "a b"}, Endpoint.COMPLETIONS)
    assert reply.data["choices"][0]["text"] == "one two three four"
    assert reply.data["usage"] == {"prompt_tokens": 2, "completion_tokens": 4, "total_tokens": 6}


async def test_embeddings_are_deterministic_vectors_of_the_configured_size():
    provider = make(embedding_dims=40)
    reply = await send(provider, {"input": ["alpha", "beta gamma", "alpha"]}, Endpoint.EMBEDDINGS)
    data = reply.data
    assert data["object"] == "list" and data["model"] == "echo"
    assert data["usage"] == {"prompt_tokens": 4, "total_tokens": 4}
    assert [item["index"] for item in data["data"]] == [0, 1, 2]
    assert all(item["object"] == "embedding" for item in data["data"])
    vectors = [item["embedding"] for item in data["data"]]
    assert all(len(v) == 40 for v in vectors)
    assert all(isinstance(x, float) and -1.0 <= x <= 1.0 for v in vectors for x in v)
    assert vectors[0] == vectors[2] != vectors[1]
    again = await send(make(embedding_dims=40), {"input": "alpha"}, Endpoint.EMBEDDINGS)
    assert again.data["data"][0]["embedding"] == vectors[0]
    default = await send(make(), {"input": "alpha"}, Endpoint.EMBEDDINGS)
    assert default.data["data"][0]["embedding"] == vectors[0][:8]


async def test_moderations_shape():
    reply = await send(make(), {"input": ["a", "b"]}, Endpoint.MODERATIONS)
    assert reply.data == {
        "id": f"modr-{RID}",
        "model": "echo",
        "results": [{"flagged": False, "categories": {}, "category_scores": {}}] * 2,
    }
    single = await send(make(), {"input": "a"}, Endpoint.MODERATIONS)
    assert len(single.data["results"]) == 1


# -- streaming -------------------------------------------------------------------------------


def chunk(delta: dict, finish: str | None = None) -> dict:
    return {
        "id": f"chatcmpl-{RID}", "object": "chat.completion.chunk", "created": int(NOW), "model": "echo",
        "choices": [{"index": 0, "finish_reason": finish, "logprobs": None, "delta": delta}],
    }


async def test_stream_word_by_word_with_role_first_then_finish_and_done():
    reply = await send(make(), {"messages": [user("hello big world")], "stream": True})
    got = await events(reply)
    assert got[-1].data == b"[DONE]"
    assert [event.json() for event in got[:-1]] == [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "hello "}),
        chunk({"content": "big "}),
        chunk({"content": "world"}),
        chunk({}, "stop"),
    ]


async def test_stream_include_usage_and_length_finish():
    body = {"messages": [user("a b c d")], "stream": True, "max_tokens": 3,
            "stream_options": {"include_usage": True}}
    got = await events(await send(make(), body))
    assert [e.data for e in got][-1] == b"[DONE]"
    assert got[-3].json() == chunk({}, "length")
    assert got[-2].json() == {
        "id": f"chatcmpl-{RID}", "object": "chat.completion.chunk", "created": int(NOW), "model": "echo",
        "choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7},
    }
    assert "".join(e.json()["choices"][0]["delta"].get("content", "") for e in got[:-2]) == "a b c "


async def test_stream_without_include_usage_has_no_usage_chunk():
    got = await events(await send(make(), {"messages": [user("a")], "stream": True}))
    assert all("usage" not in e.json() for e in got[:-1])


async def test_completions_stream():
    got = await events(await send(make(), {"prompt": "x y", "stream": True}, Endpoint.COMPLETIONS))
    base = {"id": f"cmpl-{RID}", "object": "text_completion", "created": int(NOW), "model": "echo"}
    assert [e.json() for e in got[:-1]] == [
        {**base, "choices": [{"index": 0, "finish_reason": None, "logprobs": None, "text": "x "}]},
        {**base, "choices": [{"index": 0, "finish_reason": None, "logprobs": None, "text": "y"}]},
        {**base, "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None, "text": ""}]},
    ]
    assert got[-1].data == b"[DONE]"


# -- timing ----------------------------------------------------------------------------------


async def test_latency_before_a_non_stream_answer():
    sleeps = Sleeps()
    await send(make(sleep=sleeps, latency=0.75, chunk_delay=0.1), {"messages": [user("a b c")]})
    assert sleeps.calls == [0.75]


async def test_latency_then_chunk_delay_between_stream_chunks():
    sleeps = Sleeps()
    provider = make(sleep=sleeps, latency=0.5, chunk_delay=0.1)
    reply = await send(provider, {"messages": [user("a b c")], "stream": True})
    assert sleeps.calls == []  # nothing waits until the stream is consumed
    stream = aiter(reply)
    await anext(stream)  # role chunk
    assert sleeps.calls == [0.5]
    await events(reply)
    assert sleeps.calls == [0.5, 0.1, 0.1, 0.1]


async def test_no_timing_options_means_no_sleep():
    sleeps = Sleeps()
    provider = make(sleep=sleeps)
    await send(provider, {"messages": [user("a b")]})
    await events(await send(provider, {"messages": [user("a b")], "stream": True}))
    assert sleeps.calls == []


# -- failure injection -----------------------------------------------------------------------


async def outcomes(provider: MockProvider, n: int) -> list[bool]:
    failed = []
    for _ in range(n):
        try:
            await send(provider, {"messages": [user("x")]})
        except UpstreamError:
            failed.append(True)
        else:
            failed.append(False)
    return failed


async def test_seeded_failures_are_reproducible():
    expected_rng = random.Random(42)
    expected = [expected_rng.random() < 0.3 for _ in range(40)]
    assert 0 < sum(expected) < 40
    first = await outcomes(make(fail_rate=0.3, seed=42, rng=random.Random(1)), 40)
    second = await outcomes(make(fail_rate=0.3, seed=42, rng=random.Random(2)), 40)
    assert first == second == expected
    other = await outcomes(make(fail_rate=0.3, seed=7), 40)
    assert other != expected


async def test_unseeded_failures_use_the_services_rng():
    expected_rng = random.Random(5)
    expected = [expected_rng.random() < 0.5 for _ in range(20)]
    assert await outcomes(make(fail_rate=0.5, rng=random.Random(5)), 20) == expected


@pytest.mark.parametrize(
    "status, kind, retryable",
    [(500, "upstream_error", True), (503, "upstream_error", True), (429, "upstream_error", True),
     (400, "invalid_request_error", False)],
)
async def test_injected_failure_shape(status, kind, retryable):
    sleeps = Sleeps()
    provider = make(sleep=sleeps, fail_rate=1.0, fail_status=status, fail_delay=0.25, fail_message="boom")
    with pytest.raises(UpstreamError) as caught:
        await send(provider, {"messages": [user("x")]})
    error = caught.value
    assert (error.status, error.code, error.type, error.retryable) == (status, "mock_failure", kind, retryable)
    assert error.message == f"provider 'm' returned HTTP {status}: boom"
    assert sleeps.calls == [0.25]
    assert provider.calls == 1


async def test_fail_rate_zero_never_draws_from_the_rng():
    rng = random.Random(3)
    state = rng.getstate()
    await outcomes(make(rng=rng), 5)
    assert rng.getstate() == state


async def test_fail_after_chunks_raises_mid_stream():
    reply = await send(make(fail_after_chunks=2), {"messages": [user("a b c d")], "stream": True})
    received = []
    with pytest.raises(UpstreamError) as caught:
        async for event in reply:
            received.append(event.json())
    await reply.aclose()
    assert received == [chunk({"role": "assistant", "content": ""}), chunk({"content": "a "}),
                        chunk({"content": "b "})]
    assert caught.value.code == "mock_stream_failure"


# -- options ---------------------------------------------------------------------------------


def load_mock(table: str):
    return load_config_text(f'[providers.m]\ntype = "mock"\n{table}\n', env={})


def test_valid_options_load():
    options = load_mock("reply = \"hi\"\nlatency = 0.5\nfail_rate = 0.25\nfail_status = 429\nseed = 3").config
    m = options.providers["m"]
    assert (m.reply, m.latency, m.fail_rate, m.fail_status, m.seed) == ("hi", 0.5, 0.25, 429, 3)


def test_invalid_options_are_config_errors_with_paths():
    with pytest.raises(ConfigError) as caught:
        load_mock("fail_rate = 2\nfail_status = 200")
    assert caught.value.problems == [
        ConfigProblem("providers.m.fail_rate", "must be between 0 and 1, got 2"),
        ConfigProblem("providers.m.fail_status", "must be an HTTP error status (400-599), got 200"),
    ]


@pytest.mark.parametrize(
    "table, path",
    [("fail_rate = 2", "providers.m.fail_rate"), ("fail_rate = -0.1", "providers.m.fail_rate"),
     ("fail_status = 200", "providers.m.fail_status"), ("fail_status = 600", "providers.m.fail_status"),
     ("latency = -1", "providers.m.latency"), ("chunk_delay = -1", "providers.m.chunk_delay"),
     ("embedding_dims = 0", "providers.m.embedding_dims"),
     ("fail_rate = \"often\"", "providers.m.fail_rate"), ("replay = \"x\"", "providers.m.replay")],
)
def test_each_bad_option_is_reported_at_its_path(table, path):
    with pytest.raises(ConfigError) as caught:
        load_mock(table)
    assert path in [problem.path for problem in caught.value.problems]


# -- through the real server -----------------------------------------------------------------

CONFIG = """
[auth]
tokens = ["tok"]

[providers.m]
type = "mock"
{extra}

# Adapter tests check one call at a time: no retries, no breaker (tests/test_resilience_*.py have those).
[retry]
attempts = 1

[breaker]
enabled = false

[models.echo]
targets = ["m/echo-1"]
"""


async def test_sdk_chat_non_stream_and_stream(gateway):
    server = await gateway(CONFIG.format(extra=""))
    sdk = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key="tok", max_retries=0)
    reply = await sdk.chat.completions.create(model="echo", messages=[user("hi from the sdk")])
    assert reply.choices[0].message.content == "hi from the sdk"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.model == "echo-1"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (4, 4)

    stream = await sdk.chat.completions.create(
        model="m/anything", messages=[user("streamed words here")], stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [c async for c in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].delta.content for c in chunks[1:4]] == ["streamed ", "words ", "here"]
    assert chunks[4].choices[0].finish_reason == "stop"
    assert chunks[5].choices == [] and chunks[5].usage.total_tokens == 6
    assert len(chunks) == 6


async def test_sdk_embeddings(gateway):
    server = await gateway(CONFIG.format(extra="embedding_dims = 16"))
    sdk = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key="tok", max_retries=0)
    result = await sdk.embeddings.create(model="echo", input=["same", "same", "other"])
    vectors = [item.embedding for item in result.data]
    direct = await send(make(embedding_dims=16), {"input": "same"}, Endpoint.EMBEDDINGS)
    assert vectors[0] == vectors[1] == direct.data["data"][0]["embedding"]
    assert vectors[2] != vectors[0]
    assert all(len(v) == 16 for v in vectors)


async def test_fail_after_chunks_gives_an_in_band_error_through_the_server(gateway):
    server = await gateway(CONFIG.format(extra="fail_after_chunks = 1"))
    body = {"model": "echo", "messages": [user("one two three")], "stream": True}
    async with aiohttp.ClientSession() as client:
        async with client.post(server.base_url + "/v1/chat/completions", json=body,
                               headers={"Authorization": "Bearer tok"}) as resp:
            assert resp.status == 200
            raw = await resp.read()
    data = [block[6:] for block in raw.split(b"\n\n") if block.startswith(b"data: ")]
    assert len(data) == 3
    assert orjson.loads(data[0])["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert orjson.loads(data[1])["choices"][0]["delta"] == {"content": "one "}
    assert orjson.loads(data[2]) == {"error": {
        "message": "provider 'm' broke off the stream (injected)",
        "type": "upstream_error", "param": None, "code": "mock_stream_failure",
    }}
    assert b"[DONE]" not in raw


async def test_injected_failure_through_the_server(gateway):
    server = await gateway(CONFIG.format(extra="fail_rate = 1.0\nfail_status = 503"))
    sdk = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key="tok", max_retries=0)
    with pytest.raises(openai.InternalServerError) as caught:
        await sdk.chat.completions.create(model="echo", messages=[user("x")])
    assert caught.value.status_code == 503
    assert caught.value.body == {
        "message": "provider 'm' returned HTTP 503: mock provider injected failure",
        "type": "upstream_error", "param": None, "code": "mock_failure",
    }


async def test_completions_and_moderations_through_the_server(gateway):
    server = await gateway(CONFIG.format(extra=""))
    sdk = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key="tok", max_retries=0)
    completion = await sdk.completions.create(model="echo", prompt="complete me", max_tokens=1)
    assert completion.choices[0].text == "complete "
    assert completion.choices[0].finish_reason == "length"
    moderation = await sdk.moderations.create(model="echo", input=["a", "b"])
    assert [r.flagged for r in moderation.results] == [False, False]
