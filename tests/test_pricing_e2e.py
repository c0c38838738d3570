"""Usage and cost through the real server: the official openai and anthropic SDKs as clients, fake
OpenAI and Anthropic vendors behind. Tokens come from what the vendor reported, in answers and in
streams (asked for upstream, hidden from a client that did not ask), and the cost from
``[pricing]`` for the target that answered; cache hits cost nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import openai
import pytest
from aiohttp import web

from sluicegate import hookimpl
from sluicegate.testing.vendor import Usage
from sluicegate_anthropic.fake import AnthropicScript
from sluicegate_openai.fake import OpenAIScript

TOKEN = "client-token-pricing-e2e"
CHAT = "/v1/chat/completions"
CLAUDE = "/anthropic/v1/messages"
MSG = [{"role": "user", "content": "price me"}]
# Per million tokens.
GPT_IN, GPT_OUT = 0.15, 0.60
CLAUDE_IN, CLAUDE_OUT = 3.0, 15.0
WIDE_IN, WIDE_OUT = 1.0, 2.0
USAGE = Usage(prompt_tokens=1200, completion_tokens=345)


def expected(usage: Usage, price_in: float, price_out: float) -> float:
    return (usage.prompt_tokens * price_in + usage.completion_tokens * price_out) / 1e6


class Recorder:
    """An extension after pricing (order 2000) keeping every finished record."""

    def __init__(self) -> None:
        self.records: list[Any] = []
        self.seen = asyncio.Event()

    def request_finished(self, record: Any) -> None:
        self.records.append(record)
        self.seen.set()

    @hookimpl
    def register_extensions(self, register):
        register("recorder", lambda options, services: self, order=2000, always=True)

    async def last(self) -> Any:
        # A stream's record is finished just after its last byte reaches the client.
        for _ in range(100):
            if self.records:
                return self.records[-1]
            await asyncio.sleep(0.01)
        raise AssertionError("no request finished")

    async def only(self) -> Any:
        record = await self.last()
        assert len(self.records) == 1, [r.request_id for r in self.records]
        return record


def config(url: str, extra: str = "") -> str:
    return f"""
[auth]
tokens = ["{TOKEN}"]

[providers.up]
type = "openai"
base_url = "{url}/v1"
api_key = "sk-up-pricing-000000"

[providers.backup]
type = "openai"
base_url = "{url}/backup/v1"
api_key = "sk-backup-pricing-000"

[providers.claude]
type = "anthropic"
base_url = "{url}/anthropic/v1"
api_key = "sk-ant-pricing-000000"

[models.chat]
targets = ["up/gpt-4o-mini"]

[models.sonnet]
targets = ["claude/claude-sonnet-4-5"]

[models.failover]
targets = ["up/gpt-4o-mini", "backup/other-model"]

[retry]
attempts = 1

[pricing]
currency = "EUR"

[pricing.prices."up/gpt-4o-mini"]
input = {GPT_IN}
output = {GPT_OUT}

[pricing.prices."claude/claude-sonnet-4-5"]
input = {CLAUDE_IN}
output = {CLAUDE_OUT}

[pricing.prices."backup/*"]
input = {WIDE_IN}
output = {WIDE_OUT}
{extra}
"""


class Harness:
    def __init__(self, gateway, upstream) -> None:
        self._gateway = gateway
        self.up = upstream
        self.recorder = Recorder()
        self.server = None
        self._clients: list[Any] = []

    async def start(self, extra: str = "", text: str | None = None) -> Harness:
        self.server = await self._gateway(text or config(self.up.url, extra),
                                          extra_plugins=[("recorder", self.recorder)])
        return self

    def openai(self) -> openai.AsyncOpenAI:
        client = openai.AsyncOpenAI(base_url=self.server.base_url + "/v1", api_key=TOKEN, max_retries=0)
        self._clients.append(client)
        return client

    def claude(self) -> anthropic.AsyncAnthropic:
        client = anthropic.AsyncAnthropic(base_url=self.server.base_url, api_key=TOKEN, max_retries=0)
        self._clients.append(client)
        return client

    async def aclose(self) -> None:
        for client in self._clients:
            await client.close()


@pytest.fixture
async def h(gateway, fake_upstream):
    harness = Harness(gateway, fake_upstream)
    yield harness
    await harness.aclose()


OPENAI = OpenAIScript()
ANTHROPIC = AnthropicScript()


def assert_priced(record: Any, usage: Usage, price_in: float, price_out: float, currency: str = "EUR") -> None:
    assert (record.tokens_in, record.tokens_out) == (usage.prompt_tokens, usage.completion_tokens)
    assert record.cost == pytest.approx(expected(usage, price_in, price_out), rel=1e-12)
    assert record.cost > 0
    assert record.extras["currency"] == currency


# -- OpenAI clients, OpenAI vendor ----------------------------------------------------------------


async def test_a_json_answer_is_priced_from_its_usage(h):
    h.up.on(CHAT, OPENAI.answer_text("fine", USAGE))
    await h.start()
    reply = await h.openai().chat.completions.create(model="chat", messages=MSG)
    assert reply.usage.prompt_tokens == USAGE.prompt_tokens
    record = await h.recorder.only()
    assert (record.provider, record.upstream_model, record.status) == ("up", "gpt-4o-mini", 200)
    assert_priced(record, USAGE, GPT_IN, GPT_OUT)


async def test_a_stream_is_priced_and_its_client_sees_no_usage_chunk_it_did_not_ask_for(h):
    h.up.on(CHAT, OPENAI.answer_stream(["Hel", "lo"], USAGE))
    await h.start()
    stream = await h.openai().chat.completions.create(model="chat", messages=MSG, stream=True)
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello"
    # Every chunk the client got has choices and none carries usage.
    assert all(chunk.choices for chunk in chunks)
    assert all(chunk.usage is None for chunk in chunks)
    # ...but the gateway asked the vendor for it.
    assert h.up.calls(CHAT)[0].json()["stream_options"] == {"include_usage": True}
    record = await h.recorder.only()
    assert record.stream is True
    assert_priced(record, USAGE, GPT_IN, GPT_OUT)


async def test_a_stream_whose_client_asked_for_usage_shows_it_and_is_priced(h):
    h.up.on(CHAT, OPENAI.answer_stream(["Hel", "lo"], USAGE))
    await h.start()
    stream = await h.openai().chat.completions.create(
        model="chat", messages=MSG, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    assert chunks[-1].choices == []
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (1200, 345)
    record = await h.recorder.only()
    assert_priced(record, USAGE, GPT_IN, GPT_OUT)


async def test_a_fallback_is_priced_at_the_target_that_answered(h):
    h.up.json(CHAT, {"error": {"message": "down", "type": "server_error", "param": None, "code": None}},
              status=500)
    h.up.on("/backup/v1/chat/completions", OPENAI.answer_text("from backup", USAGE))
    await h.start()
    reply = await h.openai().chat.completions.create(model="failover", messages=MSG)
    assert reply.choices[0].message.content == "from backup"
    record = await h.recorder.only()
    assert (record.provider, record.upstream_model, record.fallback) == ("backup", "other-model", True)
    # "backup/*" prices every model of the provider.
    assert_priced(record, USAGE, WIDE_IN, WIDE_OUT)


async def test_a_target_without_a_price_has_no_cost_and_an_error_has_none_either(h):
    h.up.on(CHAT, OPENAI.answer_text("fine", USAGE),
            web_error(400, "bad temperature"))
    await h.start()
    client = h.openai()
    # "up/gpt-4o" is not priced and "up" has no "up/*".
    await client.chat.completions.create(model="up/gpt-4o", messages=MSG)
    record = await h.recorder.last()
    assert (record.tokens_in, record.tokens_out) == (1200, 345)
    assert record.cost is None
    assert "currency" not in record.extras
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(model="chat", messages=MSG)
    record = await h.recorder.last()
    assert (record.status, record.tokens_in, record.cost) == (400, None, None)


def web_error(status: int, message: str):
    async def respond(request: web.Request) -> web.Response:
        return web.json_response({"error": {"message": message, "type": "invalid_request_error",
                                             "param": None, "code": None}}, status=status)

    return respond


async def test_without_a_pricing_table_tokens_are_counted_and_nothing_is_priced(h):
    h.up.on(CHAT, OPENAI.answer_text("fine", USAGE))
    text = config(h.up.url).split("[pricing]")[0]
    await h.start(text=text)
    await h.openai().chat.completions.create(model="chat", messages=MSG)
    record = await h.recorder.only()
    assert (record.tokens_in, record.tokens_out, record.cost) == (1200, 345, None)


async def test_embeddings_cost_their_input(h):
    h.up.json("/v1/embeddings", {"object": "list", "model": "text-embedding-3-small",
                                 "data": [{"object": "embedding", "index": 0, "embedding": [0.5, 0.25]}],
                                 "usage": {"prompt_tokens": 4000, "total_tokens": 4000}})
    await h.start(extra='[pricing.prices."up/text-embedding-3-small"]\ninput = 0.02\noutput = 0\n')
    await h.openai().embeddings.create(model="up/text-embedding-3-small", input="a", encoding_format="float")
    record = await h.recorder.only()
    assert (record.tokens_in, record.tokens_out) == (4000, None)
    assert record.cost == pytest.approx(4000 * 0.02 / 1e6)


# -- the Anthropic vendor behind the OpenAI API ----------------------------------------------------


async def test_an_anthropic_answer_behind_chat_completions_is_priced(h):
    h.up.on(CLAUDE, ANTHROPIC.answer_text("from claude", USAGE))
    await h.start()
    reply = await h.openai().chat.completions.create(model="sonnet", messages=MSG)
    assert reply.choices[0].message.content == "from claude"
    record = await h.recorder.only()
    assert (record.provider, record.upstream_model) == ("claude", "claude-sonnet-4-5")
    assert_priced(record, USAGE, CLAUDE_IN, CLAUDE_OUT)


async def test_an_anthropic_stream_behind_chat_completions_is_priced_without_a_usage_chunk(h):
    h.up.on(CLAUDE, ANTHROPIC.answer_stream(["Hel", "lo"], USAGE))
    await h.start()
    stream = await h.openai().chat.completions.create(model="sonnet", messages=MSG, stream=True)
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello"
    assert all(chunk.choices and chunk.usage is None for chunk in chunks)
    record = await h.recorder.only()
    assert_priced(record, USAGE, CLAUDE_IN, CLAUDE_OUT)


async def test_anthropic_cache_reads_count_as_prompt_tokens(h):
    usage = Usage(prompt_tokens=5000, completion_tokens=10, cached_tokens=4000)
    h.up.on(CLAUDE, ANTHROPIC.answer_text("cached prompt", usage))
    await h.start()
    await h.openai().chat.completions.create(model="sonnet", messages=MSG)
    record = await h.recorder.only()
    # Without a cached_input price every prompt token is priced as input.
    assert_priced(record, usage, CLAUDE_IN, CLAUDE_OUT)


# -- the Anthropic entrance (/v1/messages) ---------------------------------------------------------


async def test_messages_entrance_to_an_anthropic_vendor_is_priced(h):
    h.up.on(CLAUDE, ANTHROPIC.answer_text("hello", USAGE), ANTHROPIC.answer_stream(["he", "llo"], USAGE))
    await h.start()
    claude = h.claude()
    message = await claude.messages.create(model="sonnet", max_tokens=50, messages=MSG)
    assert message.usage.output_tokens == USAGE.completion_tokens
    record = await h.recorder.last()
    assert record.path == "/v1/messages"
    assert_priced(record, USAGE, CLAUDE_IN, CLAUDE_OUT)

    async with claude.messages.stream(model="sonnet", max_tokens=50, messages=MSG) as stream:
        text = "".join([piece async for piece in stream.text_stream])
        final = await stream.get_final_message()
    assert text == "hello"
    assert final.usage.output_tokens == USAGE.completion_tokens
    record = await h.recorder.last()
    assert len(h.recorder.records) == 2
    assert record.stream is True
    assert_priced(record, USAGE, CLAUDE_IN, CLAUDE_OUT)


async def test_messages_entrance_to_an_openai_vendor_is_priced(h):
    h.up.on(CHAT, OPENAI.answer_text("bridged", USAGE), OPENAI.answer_stream(["bri", "dged"], USAGE))
    await h.start()
    claude = h.claude()
    message = await claude.messages.create(model="chat", max_tokens=50, messages=MSG)
    assert message.content[0].text == "bridged"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (1200, 345)
    assert_priced(await h.recorder.last(), USAGE, GPT_IN, GPT_OUT)

    async with claude.messages.stream(model="chat", max_tokens=50, messages=MSG) as stream:
        text = "".join([piece async for piece in stream.text_stream])
        final = await stream.get_final_message()
    assert text == "bridged"
    assert final.usage.output_tokens == USAGE.completion_tokens
    record = await h.recorder.last()
    assert len(h.recorder.records) == 2 and record.stream is True
    assert_priced(record, USAGE, GPT_IN, GPT_OUT)


# -- the cache ---------------------------------------------------------------------------------------


async def test_a_cache_hit_costs_nothing(h):
    h.up.on(CHAT, OPENAI.answer_text("cached", USAGE))
    await h.start(extra="\n[cache]\nttl = 300\n")
    client = h.openai()
    first = await client.chat.completions.with_raw_response.create(model="chat", messages=MSG)
    assert first.headers["x-sluicegate-cache"] == "miss"
    assert_priced(await h.recorder.last(), USAGE, GPT_IN, GPT_OUT)
    second = await client.chat.completions.with_raw_response.create(model="chat", messages=MSG)
    assert second.headers["x-sluicegate-cache"] == "hit"
    assert len(h.up.calls(CHAT)) == 1
    record = await h.recorder.last()
    assert len(h.recorder.records) == 2
    assert record.cache == "hit"
    assert record.cost == 0.0
    assert record.extras["currency"] == "EUR"


async def test_a_streamed_cache_hit_costs_nothing(h):
    h.up.on(CHAT, OPENAI.answer_stream(["a", "b"], USAGE))
    await h.start(extra="\n[cache]\nttl = 300\n")
    client = h.openai()
    for _ in range(2):
        stream = await client.chat.completions.create(model="chat", messages=MSG, stream=True)
        assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices]) == "ab"
    await asyncio.sleep(0.05)
    miss, hit = h.recorder.records
    assert (miss.cache, hit.cache) == ("miss", "hit")
    assert_priced(miss, USAGE, GPT_IN, GPT_OUT)
    assert hit.cost == 0.0
    assert len(h.up.calls(CHAT)) == 1


async def test_requests_coalesced_onto_one_vendor_call_are_priced_once(h):
    arrived, release = asyncio.Event(), asyncio.Event()
    answer = OPENAI.answer_text("together", USAGE)

    async def held(request: web.Request) -> web.StreamResponse:
        arrived.set()
        await release.wait()
        return await answer(request)

    h.up.on(CHAT, held)
    await h.start(extra="\n[cache]\nttl = 300\n")
    client = h.openai()
    tasks = [asyncio.create_task(client.chat.completions.with_raw_response.create(model="chat", messages=MSG))
             for _ in range(3)]
    await asyncio.wait_for(arrived.wait(), 5)
    await asyncio.sleep(0.3)  # the other two reach the gateway and wait on the first
    release.set()
    replies = await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert sorted(r.headers["x-sluicegate-cache"] for r in replies) == ["coalesced", "coalesced", "miss"]
    assert len(h.up.calls(CHAT)) == 1
    records = {record.cache: record for record in h.recorder.records}
    assert len(h.recorder.records) == 3
    assert_priced(records["miss"], USAGE, GPT_IN, GPT_OUT)
    assert [r.cost for r in h.recorder.records if r.cache == "coalesced"] == [0.0, 0.0]
    # What the gateway spent on the three is one vendor call.
    assert sum(r.cost for r in h.recorder.records) == pytest.approx(expected(USAGE, GPT_IN, GPT_OUT))


async def test_cache_reads_are_priced_at_the_cached_input_price(h):
    """Claude Code's long, cached prompts: read from the cache at a tenth of the input price."""
    usage = Usage(prompt_tokens=5000, completion_tokens=10, cached_tokens=4000)
    h.up.on(CLAUDE, ANTHROPIC.answer_text("cached", usage), ANTHROPIC.answer_stream(["cac", "hed"], usage))
    text = config(h.up.url).replace(f"output = {CLAUDE_OUT}\n", f"output = {CLAUDE_OUT}\ncached_input = 0.3\n", 1)
    await h.start(text=text)
    want = (1000 * CLAUDE_IN + 4000 * 0.3 + 10 * CLAUDE_OUT) / 1e6
    await h.openai().chat.completions.create(model="sonnet", messages=MSG)
    record = await h.recorder.last()
    assert (record.tokens_in, record.tokens_cached, record.tokens_out) == (5000, 4000, 10)
    assert record.cost == pytest.approx(want, rel=1e-9)
    async with h.claude().messages.stream(model="sonnet", max_tokens=50, messages=MSG) as stream:
        assert "".join([piece async for piece in stream.text_stream]) == "cached"
    record = await h.recorder.last()
    assert (record.path, record.stream, record.tokens_cached) == ("/v1/messages", True, 4000)
    assert record.cost == pytest.approx(want, rel=1e-9)


async def test_cache_writes_are_priced_at_their_own_rates_five_minutes_and_an_hour_apart(h):
    """Anthropic bills a prompt written to its cache at 1.25 x input for 5 minutes and 2 x for an
    hour: each part at its own price, through the chat entrance (translated) and /v1/messages
    (passed through, whole and streamed)."""
    usage = Usage(prompt_tokens=5000, completion_tokens=10, cache_written=3000, cache_written_1h=1000)
    h.up.on(CLAUDE, ANTHROPIC.answer_text("written", usage), ANTHROPIC.answer_text("written", usage),
            ANTHROPIC.answer_stream(["writ", "ten"], usage))
    text = config(h.up.url).replace(f"output = {CLAUDE_OUT}\n",
                                    f"output = {CLAUDE_OUT}\ncache_write = 3.75\ncache_write_1h = 6.0\n", 1)
    await h.start(text=text)
    want = (2000 * CLAUDE_IN + 2000 * 3.75 + 1000 * 6.0 + 10 * CLAUDE_OUT) / 1e6
    await h.openai().chat.completions.create(model="sonnet", messages=MSG)
    record = await h.recorder.last()
    assert (record.tokens_in, record.tokens_cache_written, record.tokens_cache_written_1h) == (5000, 3000, 1000)
    assert record.cost == pytest.approx(want, rel=1e-9)
    claude = h.claude()
    message = await claude.messages.create(model="sonnet", max_tokens=50, messages=MSG)
    assert message.usage.cache_creation.ephemeral_1h_input_tokens == 1000
    assert (await h.recorder.last()).cost == pytest.approx(want, rel=1e-9)
    async with claude.messages.stream(model="sonnet", max_tokens=50, messages=MSG) as stream:
        assert "".join([piece async for piece in stream.text_stream]) == "written"
    record = await h.recorder.last()
    assert (record.stream, record.tokens_cache_written_1h) == (True, 1000)
    assert record.cost == pytest.approx(want, rel=1e-9)
