"""Rate limits end to end: the official SDKs through the real server to fake vendors and the mock.

The gateway runs on a test clock (``services.clock``), so buckets refill only when a test moves
time and every Retry-After is exact. Bodies whose size matters are sent raw with aiohttp, so the
reserved estimate (bytes / 4 + max_tokens) is known to the token.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import anthropic
import openai
import orjson
import pytest

import sluicegate
from sluicegate.testing import FakeUpstream, openai_chat_completion, openai_chunks

ALICE = "tok-alice-0000000000"
BOB = "tok-bob-00000000000000"
MSG = [{"role": "user", "content": "hi"}]
A = "/a/v1/chat/completions"
B = "/b/v1/chat/completions"


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


def config(url: str, limits: str) -> str:
    return f"""
[auth]
tokens = ["{ALICE}", "{BOB}"]

[providers.a]
type = "openai"
base_url = "{url}/a/v1"
api_key = "sk-a-000000000000"

[providers.b]
type = "openai"
base_url = "{url}/b/v1"
api_key = "sk-b-000000000000"

[providers.mock]
type = "mock"

[models.chat]
targets = ["a/m1", "b/m2"]

[models.echo]
targets = ["mock/echo-1"]

[ratelimit]
{limits}
"""


class Harness:
    """One gateway on a test clock, the fake vendors, and SDK clients per token."""

    def __init__(self, gateway, upstream: FakeUpstream) -> None:
        self._gateway = gateway
        self.up = upstream
        self.clock = Clock()
        self.server = None
        self._clients: list[Any] = []

    async def start(self, limits: str, **kwargs: Any) -> Harness:
        self.server = await self._gateway(config(self.up.url, limits), services={"clock": self.clock}, **kwargs)
        return self

    def openai(self, token: str = ALICE) -> openai.AsyncOpenAI:
        client = openai.AsyncOpenAI(base_url=self.server.base_url + "/v1", api_key=token, max_retries=0)
        self._clients.append(client)
        return client

    def claude(self, token: str = ALICE) -> anthropic.AsyncAnthropic:
        client = anthropic.AsyncAnthropic(base_url=self.server.base_url, api_key=token, max_retries=0)
        self._clients.append(client)
        return client

    async def chat(self, model: str = "echo", token: str = ALICE, **kwargs: Any):
        """The raw SDK response (headers and parsed completion)."""
        return await self.openai(token).chat.completions.with_raw_response.create(
            model=model, messages=MSG, **kwargs)

    async def post(self, raw: bytes, token: str = ALICE) -> tuple[int, Any, bytes]:
        async with aiohttp.ClientSession() as http, http.post(
            self.server.base_url + "/v1/chat/completions", data=raw,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        ) as response:
            return response.status, response.headers, await response.read()

    async def aclose(self) -> None:
        for client in self._clients:
            await client.close()


@pytest.fixture
async def h(gateway, fake_upstream):
    harness = Harness(gateway, fake_upstream)
    yield harness
    await harness.aclose()


def sized(body: dict[str, Any], size: int = 400) -> bytes:
    """``body`` as JSON padded with trailing spaces to exactly ``size`` bytes (100 tokens)."""
    raw = orjson.dumps(body)
    assert len(raw) <= size
    return raw + b" " * (size - len(raw))


def limit_headers(headers) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items() if k.lower().startswith(("x-ratelimit", "retry-after"))}


# -- client limits -------------------------------------------------------------------------------


async def test_requests_limit_headers_then_openai_shaped_429_with_exact_retry_after(h):
    await h.start("requests_per_minute = 2")
    first = await h.chat()
    assert first.parse().choices[0].message.content == "hi"
    assert limit_headers(first.headers) == {
        "x-ratelimit-limit-requests": "2", "x-ratelimit-remaining-requests": "1",
        "x-ratelimit-reset-requests": "30s",
    }
    assert limit_headers((await h.chat()).headers)["x-ratelimit-remaining-requests"] == "0"
    with pytest.raises(openai.RateLimitError) as refused:
        await h.chat()
    error = refused.value
    assert error.status_code == 429
    assert error.body["code"] == "rate_limit_exceeded" and error.body["type"] == "requests"
    assert "Please try again in 30s" in error.body["message"]
    assert limit_headers(error.response.headers) == {
        "retry-after": "30", "x-ratelimit-limit-requests": "2", "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1m0s",
    }
    h.clock.now += 29.5
    with pytest.raises(openai.RateLimitError):
        await h.chat()
    h.clock.now += 0.5
    assert (await h.chat()).parse().choices[0].message.content == "hi"


async def test_each_client_token_has_its_own_budget(h):
    await h.start("requests_per_minute = 1")
    await h.chat(token=ALICE)
    with pytest.raises(openai.RateLimitError):
        await h.chat(token=ALICE)
    await h.chat(token=BOB)
    with pytest.raises(openai.RateLimitError):
        await h.chat(token=BOB)


async def test_the_messages_entrance_gets_the_429_in_anthropic_shape(h):
    await h.start("requests_per_minute = 1")
    claude = h.claude()
    message = await claude.messages.create(model="echo", max_tokens=20, messages=MSG)
    assert message.content[0].text == "hi"
    with pytest.raises(anthropic.RateLimitError) as refused:
        await claude.messages.create(model="echo", max_tokens=20, messages=MSG)
    error = refused.value
    assert error.status_code == 429
    assert error.body["type"] == "error"
    assert error.body["error"]["type"] == "rate_limit_error"
    assert "requests per minute" in error.body["error"]["message"]
    assert error.response.headers["retry-after"] == "60"


async def test_model_limit_is_shared_by_every_client(h):
    await h.start("[ratelimit.models.echo]\nrequests_per_minute = 1")
    await h.chat(token=ALICE)
    with pytest.raises(openai.RateLimitError) as refused:
        await h.chat(token=BOB)
    assert "model 'echo'" in refused.value.body["message"]
    assert refused.value.response.headers["retry-after"] == "60"
    h.up.json(A, openai_chat_completion("from a"))
    assert (await h.chat(model="chat", token=BOB)).parse().choices[0].message.content == "from a"


async def test_a_glob_alias_limit_covers_every_name_it_matches(h):
    await h.start('[ratelimit.models."claude-*"]\nrequests_per_minute = 1\n\n'
                  '[models."claude-*"]\ntargets = ["mock/echo-1"]')
    await h.chat(model="claude-opus-4-8", token=ALICE)
    with pytest.raises(openai.RateLimitError) as refused:
        await h.chat(model="claude-sonnet-4-6", token=BOB)
    assert "model 'claude-*'" in refused.value.body["message"]


# -- tokens: estimate, then the real usage ------------------------------------------------------------


async def test_non_stream_usage_settles_the_estimate(h):
    await h.start("tokens_per_minute = 6000")
    h.up.json(A, openai_chat_completion("ok"))  # usage: 5 + 2
    status, headers, _ = await h.post(sized({"model": "chat", "messages": MSG, "max_tokens": 200}))
    assert status == 200
    # Reserved 100 + 200 at admission; the response already reports the settled 7.
    assert limit_headers(headers) == {
        "x-ratelimit-limit-tokens": "6000", "x-ratelimit-remaining-tokens": "5993",
        "x-ratelimit-reset-tokens": "70ms",
    }


async def test_stream_usage_chunk_settles_the_estimate(h):
    await h.start("tokens_per_minute = 6000")
    h.up.sse(A, openai_chunks(["Hel", "lo"], usage=True))
    stream = await h.openai().chat.completions.create(
        model="chat", messages=MSG, max_tokens=200, stream=True, stream_options={"include_usage": True})
    chunks = [chunk async for chunk in stream]
    assert chunks[-1].usage.total_tokens == 7
    h.up.json(A, openai_chat_completion("ok", usage={"prompt_tokens": 0, "completion_tokens": 0}))
    _, headers, _ = await h.post(sized({"model": "chat", "messages": MSG, "max_tokens": 200}))
    assert headers["x-ratelimit-remaining-tokens"] == str(6000 - 7)


async def test_concurrency_refuses_fast_and_an_abandoned_stream_frees_its_slot_and_tokens(h):
    await h.start("concurrency = 1\ntokens_per_minute = 6000")
    h.up.sse(A, openai_chunks([f"word{i} " for i in range(80)]), delay=0.05)
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            h.server.base_url + "/v1/chat/completions",
            data=sized({"model": "chat", "messages": MSG, "max_tokens": 200, "stream": True}),
            headers={"Authorization": f"Bearer {ALICE}"},
        )
        assert response.status == 200
        assert response.headers["x-ratelimit-remaining-tokens"] == "5700"
        await response.content.readuntil(b"\n\n")
        started = time.monotonic()
        with pytest.raises(openai.RateLimitError) as busy:
            await h.chat()
        assert time.monotonic() - started < 1.0  # refused at once, not queued
        assert busy.value.body["code"] == "concurrency_limit_exceeded"
        assert busy.value.response.headers["retry-after"] == "1"
        await h.chat(token=BOB)  # another client has its own slot
        response.close()  # the client leaves mid-stream
    await asyncio.wait_for(h.up.abort_event.wait(), 3)
    h.up.json(A, openai_chat_completion("ok", usage={"prompt_tokens": 0, "completion_tokens": 0}))
    for _ in range(100):  # the gateway settles right after it notices the client left
        status, headers, _ = await h.post(sized({"model": "chat", "messages": MSG, "max_tokens": 200}))
        if status == 200:
            break
        await asyncio.sleep(0.02)
    assert status == 200
    # The abandoned stream kept its prompt (100) and what it streamed (a few words), and gave
    # back the rest of its 200-token allowance; this request reported zero usage.
    used = 6000 - int(headers["x-ratelimit-remaining-tokens"])
    assert 100 < used < 100 + 60


# -- provider limits: outbound, per upstream call ------------------------------------------------------


async def test_provider_limit_falls_back_to_the_next_target_of_the_alias(h):
    await h.start("[ratelimit.providers.a]\nrequests_per_minute = 1")
    h.up.json(A, openai_chat_completion("from a"))
    h.up.json(B, openai_chat_completion("from b"))
    answers = [(await h.chat(model="chat")).parse().choices[0].message.content for _ in range(3)]
    assert answers == ["from a", "from b", "from b"]
    assert (len(h.up.calls(A)), len(h.up.calls(B))) == (1, 2)
    h.clock.now += 60
    assert (await h.chat(model="chat")).parse().choices[0].message.content == "from a"


async def test_provider_limit_on_the_only_target_is_a_429_and_no_call(h):
    await h.start("[ratelimit.providers.a]\nrequests_per_minute = 1")
    h.up.json(A, openai_chat_completion("from a"))
    await h.chat(model="a/m1")
    with pytest.raises(openai.RateLimitError) as refused:
        await h.chat(model="a/m1")
    assert "provider 'a'" in refused.value.body["message"]
    assert refused.value.response.headers["retry-after"] == "60"
    assert len(h.up.calls(A)) == 1


async def test_every_target_limited_is_a_429_with_the_soonest_retry_after(h):
    await h.start("[ratelimit.providers.a]\nrequests_per_minute = 1\n"
                  "[ratelimit.providers.b]\nrequests_per_minute = 2")
    h.up.json(A, openai_chat_completion("from a"))
    h.up.json(B, openai_chat_completion("from b"))
    for _ in range(3):
        await h.chat(model="chat")
    with pytest.raises(openai.RateLimitError) as refused:
        await h.chat(model="chat")
    assert refused.value.response.headers["retry-after"] == "30"


async def test_provider_concurrency_is_held_until_the_stream_closes(h):
    await h.start("[ratelimit.providers.a]\nconcurrency = 1")
    h.up.on(A, h.up.sse_responder(openai_chunks([f"w{i} " for i in range(40)]), delay=0.05),
            FakeUpstream.json_responder(openai_chat_completion("from a")))
    h.up.json(B, openai_chat_completion("from b"))
    stream = await h.openai().chat.completions.create(model="chat", messages=MSG, stream=True)
    await anext(stream.__aiter__())
    assert (await h.chat(model="chat")).parse().choices[0].message.content == "from b"
    await stream.close()
    await asyncio.wait_for(h.up.abort_event.wait(), 3)
    for _ in range(100):
        answer = (await h.chat(model="chat")).parse().choices[0].message.content
        if answer == "from a":
            break
        await asyncio.sleep(0.02)
    assert answer == "from a"


# -- failing open ----------------------------------------------------------------------------------------


class BrokenLimiterPlugin:
    """Registers rate limiter ``broken``: a backend whose every call fails (Redis down)."""

    class Limiter:
        async def acquire(self, key, cost, rate, burst):
            raise ConnectionRefusedError("limiter unreachable")

        async def enter(self, key, limit, ttl):
            raise ConnectionRefusedError("limiter unreachable")

        async def leave(self, key):
            raise ConnectionRefusedError("limiter unreachable")

        async def aclose(self):
            pass

    @sluicegate.hookimpl
    def register_rate_limiters(self, register):
        register("broken", lambda options, services: self.Limiter())


async def test_a_failing_limiter_fails_open(h, caplog):
    await h.start('backend = "broken"\nrequests_per_minute = 1\nconcurrency = 1\ntokens_per_minute = 10',
                  extra_plugins=[("broken", BrokenLimiterPlugin())])
    for _ in range(3):
        reply = await h.chat()
        assert reply.parse().choices[0].message.content == "hi"
        assert limit_headers(reply.headers) == {}
    warnings = [r for r in caplog.records if "fail open" in r.getMessage()]
    assert len(warnings) == 1


@pytest.mark.parametrize("path, body", [
    ("/v1/chat/completions", {"model": "chat", "messages": MSG, "max_tokens": 200, "stream": True}),
    ("/v1/responses", {"model": "chat", "input": "hi", "max_output_tokens": 200, "stream": True}),
])
async def test_a_stream_reserves_its_answer_allowance_on_every_generating_route(h, path, body):
    """A Responses request reserves its max_output_tokens as chat reserves max_tokens."""
    await h.start("tokens_per_minute = 6000")
    h.up.sse(A, openai_chunks(["o", "k"], usage=True))
    async with aiohttp.ClientSession() as http, http.post(
        h.server.base_url + path, data=sized(body), headers={"Authorization": f"Bearer {ALICE}"},
    ) as response:
        assert response.status == 200, await response.text()
        # Admission reserved the prompt estimate (100) and the 200-token allowance.
        assert response.headers["x-ratelimit-remaining-tokens"] == "5700"
        await response.read()
