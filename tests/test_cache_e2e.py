"""The response cache through the real server, with the official openai and anthropic SDKs as
clients and fake vendors behind: hits cost no upstream call, streams replay byte for byte,
tenants stay apart unless ``shared``, errors, broken and abandoned streams are never stored,
and identical requests in flight share one upstream call."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import anthropic
import openai
import orjson
import pytest
from aiohttp import web

from sluicegate.testing import FakeUpstream, openai_chat_completion, openai_chunks
from sluicegate.testing.vendor import Usage
from sluicegate_anthropic.fake import AnthropicScript

TOKEN_A = "client-token-cache-a"
TOKEN_B = "client-token-cache-b"
CHAT = "/v1/chat/completions"
EMBED = "/v1/embeddings"
CLAUDE = "/anthropic/v1/messages"
MSG = [{"role": "user", "content": "hi"}]
HEADER = "x-sluicegate-cache"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def config(url: str, cache: str = "") -> str:
    return f"""
[auth]
tokens = ["{TOKEN_A}", "{TOKEN_B}"]

[providers.up]
type = "openai"
base_url = "{url}/v1"
api_key = "sk-up-cache-0000000000"

[providers.claude]
type = "anthropic"
base_url = "{url}/anthropic/v1"
api_key = "sk-ant-cache-000000000"

[models.chat]
targets = ["up/gpt-4o-mini"]

[models.fast]
targets = ["up/gpt-4o-mini"]

[models.fresh]
targets = ["up/gpt-4o-mini"]

[models.sonnet]
targets = ["claude/claude-sonnet-4-5"]

[retry]
attempts = 1

[cache]
ttl = 300
{cache}

[cache.models.fast]
ttl = 10

[cache.models.fresh]
enabled = false
"""


class Harness:
    def __init__(self, gateway, upstream: FakeUpstream) -> None:
        self._gateway = gateway
        self.up = upstream
        self.clock = Clock()
        self.server = None
        self._clients: list[Any] = []

    async def start(self, cache: str = "") -> Harness:
        self.server = await self._gateway(config(self.up.url, cache), services={"clock": self.clock})
        return self

    def openai(self, token: str = TOKEN_A) -> openai.AsyncOpenAI:
        client = openai.AsyncOpenAI(base_url=self.server.base_url + "/v1", api_key=token, max_retries=0)
        self._clients.append(client)
        return client

    def claude(self) -> anthropic.AsyncAnthropic:
        client = anthropic.AsyncAnthropic(base_url=self.server.base_url, api_key=TOKEN_A, max_retries=0)
        self._clients.append(client)
        return client

    def calls(self, path: str = CHAT) -> int:
        return len(self.up.calls(path))

    async def chat(self, model: str = "chat", token: str = TOKEN_A, **kwargs: Any) -> tuple[str | None, Any]:
        """One non-streaming call through the SDK: (the cache header, the parsed completion)."""
        raw = await self.openai(token).chat.completions.with_raw_response.create(model=model, messages=MSG, **kwargs)
        return raw.headers.get(HEADER), raw.parse()

    async def post(self, body: dict[str, Any], path: str = CHAT, headers: dict[str, str] | None = None):
        async with aiohttp.ClientSession() as http, http.post(
            self.server.base_url + path, data=orjson.dumps(body),
            headers={"Authorization": f"Bearer {TOKEN_A}", "Content-Type": "application/json", **(headers or {})},
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


def streamed(model: str = "chat", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": MSG, "stream": True, **extra}


class Gate:
    """Holds a responder's answer until ``open()``, so requests pile up in flight; ``arrived``
    is set when the first request reaches the vendor."""

    def __init__(self) -> None:
        self.arrived = asyncio.Event()
        self._open = asyncio.Event()

    def open(self) -> None:
        self._open.set()

    def hold(self, responder):
        async def respond(request: web.Request) -> web.StreamResponse:
            self.arrived.set()
            await self._open.wait()
            return await responder(request)

        return respond

    async def first_call(self) -> None:
        await asyncio.wait_for(self.arrived.wait(), 2)
        await asyncio.sleep(0.3)  # the identical requests reach the gateway and wait on the first


def broken_stream(frames: list[bytes]):
    """Send ``frames``, then reset the connection (a vendor dying mid-answer)."""

    async def respond(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for frame in frames:
            await response.write(frame)
        await asyncio.sleep(0.05)  # the frames reach the gateway before the reset
        request.transport.abort()
        await asyncio.sleep(10)  # cancelled at once: the connection is gone
        return response

    return respond


# -- hits ------------------------------------------------------------------------------------------


async def test_a_second_identical_chat_is_a_hit_with_no_upstream_call(h):
    h.up.json(CHAT, openai_chat_completion("cached answer"))
    await h.start()
    header, first = await h.chat()
    assert (header, h.calls()) == ("miss", 1)
    header, second = await h.chat()
    assert (header, h.calls()) == ("hit", 1)
    assert second.choices[0].message.content == "cached answer"
    assert second.model_dump() == first.model_dump()
    # The bytes are the vendor's, as first relayed.
    status, headers, raw = await h.post({"model": "chat", "messages": MSG})
    assert (status, headers[HEADER], h.calls()) == (200, "hit", 1)
    assert orjson.loads(raw) == openai_chat_completion("cached answer")


async def test_a_different_request_is_a_miss(h):
    h.up.json(CHAT, openai_chat_completion("x"))
    await h.start()
    await h.chat()
    header, _ = await h.chat(temperature=0.5)
    assert (header, h.calls()) == ("miss", 2)
    header, _ = await h.chat(user="someone-else")  # user does not shape the answer
    assert (header, h.calls()) == ("hit", 2)


async def test_a_stream_replays_byte_for_byte_and_the_sdk_parses_it(h):
    h.up.sse(CHAT, openai_chunks(["Hel", "lo", " world"], usage=True))
    await h.start()
    body = streamed(stream_options={"include_usage": True})
    status, headers, original = await h.post(body)
    assert (status, headers[HEADER], h.calls()) == (200, "miss", 1)
    status, headers, replayed = await h.post(body)
    assert (status, headers[HEADER], h.calls()) == (200, "hit", 1)
    assert headers["Content-Type"].startswith("text/event-stream")
    assert replayed == original
    assert replayed.endswith(b"data: [DONE]\n\n")

    stream = await h.openai().chat.completions.create(
        model="chat", messages=MSG, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello world"
    assert chunks[-1].usage.total_tokens == 7
    assert h.calls() == 1
    # Without include_usage the answer differs (no usage chunk): another entry.
    await h.post(streamed())
    assert h.calls() == 2


async def test_a_stream_and_a_json_answer_are_separate_entries(h):
    h.up.on(CHAT, h.up.json_responder(openai_chat_completion("json")), h.up.sse_responder(openai_chunks(["sse"])))
    await h.start()
    await h.chat()
    _, headers, raw = await h.post(streamed())
    assert (headers[HEADER], h.calls()) == ("miss", 2)
    assert b'"sse"' in raw


async def test_embeddings_are_cached(h):
    h.up.json(EMBED, {"object": "list", "model": "m", "data": [{"object": "embedding", "index": 0,
                                                                 "embedding": [0.5, 0.25]}],
                      "usage": {"prompt_tokens": 1, "total_tokens": 1}})
    await h.start()
    client = h.openai()
    for _ in range(2):
        reply = await client.embeddings.create(model="up/m", input="a", encoding_format="float")
        assert reply.data[0].embedding == [0.5, 0.25]
    assert h.calls(EMBED) == 1


# -- tenants -----------------------------------------------------------------------------------------


async def test_another_client_token_is_a_miss(h):
    h.up.json(CHAT, openai_chat_completion("private"))
    await h.start()
    await h.chat(token=TOKEN_A)
    header, _ = await h.chat(token=TOKEN_B)
    assert (header, h.calls()) == ("miss", 2)
    header, _ = await h.chat(token=TOKEN_B)
    assert (header, h.calls()) == ("hit", 2)


async def test_a_shared_cache_hits_across_tokens(h):
    h.up.json(CHAT, openai_chat_completion("shared"))
    await h.start("shared = true")
    await h.chat(token=TOKEN_A)
    header, reply = await h.chat(token=TOKEN_B)
    assert (header, h.calls()) == ("hit", 1)
    assert reply.choices[0].message.content == "shared"


# -- per model and TTL ---------------------------------------------------------------------------------


async def test_per_model_disable_and_ttl_on_the_injected_clock(h):
    h.up.json(CHAT, openai_chat_completion("x"))
    await h.start()
    for _ in range(2):
        header, _ = await h.chat(model="fresh")
        assert header == "bypass"
    assert h.calls() == 2
    await h.chat(model="fast")
    await h.chat(model="chat")
    assert h.calls() == 4
    h.clock.now += 9.9
    assert [(await h.chat(model=m))[0] for m in ("fast", "chat")] == ["hit", "hit"]
    h.clock.now += 0.1  # "fast" is 10 s old: expired; "chat" lives 300 s
    assert [(await h.chat(model=m))[0] for m in ("fast", "chat")] == ["miss", "hit"]
    assert h.calls() == 5
    h.clock.now += 300
    assert (await h.chat(model="chat"))[0] == "miss"
    assert h.calls() == 6


async def test_a_glob_alias_setting_covers_every_name_it_matches(h):
    h.up.json(CHAT, openai_chat_completion("x"))
    await h.start('\n[models."gpt-*"]\ntargets = ["up/*"]\n\n[cache.models."gpt-*"]\nenabled = false')
    assert [(await h.chat(model=m))[0] for m in ("gpt-5", "gpt-5", "gpt-4.1")] == ["bypass"] * 3
    assert h.calls() == 3


async def test_an_entry_under_one_name_is_not_served_for_another(h):
    h.up.json(CHAT, openai_chat_completion("x"))
    await h.start()
    await h.chat(model="chat")
    header, _ = await h.chat(model="up/gpt-4o-mini")  # same upstream model, another requested name
    assert (header, h.calls()) == ("miss", 2)


# -- Cache-Control ---------------------------------------------------------------------------------------


async def test_no_cache_refreshes_and_no_store_bypasses(h):
    h.up.on(CHAT, *(h.up.json_responder(openai_chat_completion(f"answer {n}")) for n in range(1, 5)))
    await h.start()
    await h.chat()
    header, reply = await h.chat(extra_headers={"Cache-Control": "no-cache"})
    assert (header, reply.choices[0].message.content, h.calls()) == ("miss", "answer 2", 2)
    header, reply = await h.chat()
    assert (header, reply.choices[0].message.content) == ("hit", "answer 2")  # no-cache stored its answer
    header, reply = await h.chat(extra_headers={"Cache-Control": "no-store"})
    assert (header, reply.choices[0].message.content, h.calls()) == ("bypass", "answer 3", 3)
    header, reply = await h.chat()
    assert (header, reply.choices[0].message.content, h.calls()) == ("hit", "answer 2", 3)


# -- never stored ------------------------------------------------------------------------------------------


async def test_an_upstream_error_is_not_cached(h):
    error = {"error": {"message": "The server had an error", "type": "server_error", "param": None, "code": None}}
    h.up.on(CHAT, h.up.json_responder(error, 500), h.up.json_responder(openai_chat_completion("recovered")))
    await h.start()
    with pytest.raises(openai.InternalServerError):
        await h.chat()
    header, reply = await h.chat()
    assert (header, reply.choices[0].message.content, h.calls()) == ("miss", "recovered", 2)
    assert (await h.chat())[0] == "hit"
    assert h.calls() == 2


async def test_a_stream_broken_mid_way_is_not_cached(h):
    content = [FakeUpstream.frame(chunk) for chunk in openai_chunks(["Hel", "lo"])[:2]]
    h.up.on(CHAT, broken_stream(content), h.up.sse_responder(openai_chunks(["whole"])))
    await h.start()
    status, headers, raw = await h.post(streamed())
    assert (status, headers[HEADER]) == (200, "miss")
    assert b'"error"' in raw  # ended in band
    status, headers, raw = await h.post(streamed())
    assert (headers[HEADER], h.calls()) == ("miss", 2)
    assert b'"whole"' in raw
    assert (await h.post(streamed()))[1][HEADER] == "hit"
    assert h.calls() == 2


async def test_a_client_that_leaves_early_stores_nothing(h):
    h.up.on(CHAT, h.up.sse_responder(openai_chunks(["one ", "two ", "three"]), delay=0.3),
            h.up.sse_responder(openai_chunks(["again"])))
    await h.start()
    async with aiohttp.ClientSession() as http, http.post(
        h.server.base_url + CHAT, data=orjson.dumps(streamed()),
        headers={"Authorization": f"Bearer {TOKEN_A}", "Content-Type": "application/json"},
    ) as response:
        assert response.status == 200
        await response.content.readuntil(b"\n\n")
    await asyncio.wait_for(h.up.abort_event.wait(), 2.0)
    await asyncio.sleep(0.05)
    _, headers, raw = await h.post(streamed())
    assert (headers[HEADER], h.calls()) == ("miss", 2)
    assert b'"again"' in raw


# -- coalescing ------------------------------------------------------------------------------------------------


async def test_five_identical_requests_in_flight_make_one_upstream_call(h):
    gate = Gate()
    h.up.on(CHAT, gate.hold(h.up.json_responder(openai_chat_completion("together"))))
    await h.start()
    tasks = [asyncio.create_task(h.chat()) for _ in range(5)]
    await gate.first_call()
    assert h.calls() == 1
    gate.open()
    results = await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert h.calls() == 1
    assert {reply.choices[0].message.content for _, reply in results} == {"together"}
    assert sorted(header for header, _ in results) == ["coalesced"] * 4 + ["miss"]
    assert (await h.chat())[0] == "hit"


async def test_identical_streams_in_flight_replay_the_first_once_it_ends(h):
    gate = Gate()
    h.up.on(CHAT, gate.hold(h.up.sse_responder(openai_chunks(["to", "gether"]))))
    await h.start()
    tasks = [asyncio.create_task(h.post(streamed())) for _ in range(3)]
    await gate.first_call()
    gate.open()
    results = await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert h.calls() == 1
    assert len({raw for _, _, raw in results}) == 1
    assert sorted(headers[HEADER] for _, headers, _ in results) == ["coalesced", "coalesced", "miss"]


async def test_followers_share_the_leaders_error(h):
    gate = Gate()
    error = {"error": {"message": "bad things", "type": "invalid_request_error", "param": None, "code": "bad"}}
    h.up.on(CHAT, gate.hold(h.up.json_responder(error, 400)))
    await h.start()
    tasks = [asyncio.create_task(h.chat()) for _ in range(3)]
    await gate.first_call()
    gate.open()
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5)
    assert all(isinstance(r, openai.BadRequestError) and r.code == "bad" for r in results)
    assert h.calls() == 1


# -- the Anthropic entrance --------------------------------------------------------------------------------------


async def test_messages_are_cached_for_the_anthropic_sdk(h):
    script = AnthropicScript()
    h.up.on(CLAUDE, script.answer_text("Bonjour", Usage()), script.answer_stream(["Bon", "jour"], Usage()))
    await h.start()
    client = h.claude()
    headers = []
    for _ in range(2):
        raw = await client.messages.with_raw_response.create(model="sonnet", max_tokens=100, messages=MSG)
        headers.append(raw.headers.get(HEADER))
        assert (await raw.parse()).content[0].text == "Bonjour"
    assert (headers, h.calls(CLAUDE)) == (["miss", "hit"], 1)

    texts = []
    for _ in range(2):
        async with client.messages.stream(model="sonnet", max_tokens=100, messages=MSG) as stream:
            texts.append("".join([text async for text in stream.text_stream]))
            final = await stream.get_final_message()
        assert final.stop_reason == "end_turn"
    assert (texts, h.calls(CLAUDE)) == (["Bonjour", "Bonjour"], 2)
