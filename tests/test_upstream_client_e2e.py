"""``[server] upstream_client`` through the real server, with the official OpenAI SDK as client:
the gateway's own pool (the default) and aiohttp's session carry the same answers and streams,
the pool keeps its connections to the vendor, and the server closes them when it stops."""

from __future__ import annotations

import openai
import pytest

from sluicegate.http_pool import PoolTransport
from sluicegate.testing import FakeUpstream, running_gateway

TOKEN = "client-token-upstream-client"
CHAT = "/v1/chat/completions"
ANSWER = {"id": "c1", "object": "chat.completion", "created": 1, "model": "m1",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "pooled"}, "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}


def chunk(text: str | None, finish: str | None = None) -> dict:
    delta = {"content": text} if text is not None else {}
    return {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m1",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def config(upstream: FakeUpstream, client: str | None) -> str:
    chosen = f'upstream_client = "{client}"\n' if client else ""
    return f"""
[server]
{chosen}
[auth]
tokens = ["{TOKEN}"]

[providers.up]
type = "openai"
base_url = "{upstream.url}/v1"
api_key = "sk-upstream-000000000000"

[models.chat]
targets = ["up/m1"]
"""


@pytest.mark.parametrize("client", [None, "pool", "aiohttp"])
async def test_answers_and_streams_arrive_the_same_through_either_client(client):
    async with FakeUpstream() as upstream:
        upstream.on(CHAT, *[upstream.json_responder(ANSWER)] * 3,
                    upstream.sse_responder([chunk("str"), chunk("eam"), chunk(None, "stop")]))
        async with running_gateway(config(upstream, client)) as server:
            pool = server.gateway.transport
            assert isinstance(pool, PoolTransport) is (client != "aiohttp")
            sdk = openai.AsyncOpenAI(api_key=TOKEN, base_url=server.base_url + "/v1", max_retries=0)
            for _ in range(3):
                answer = await sdk.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
                assert answer.choices[0].message.content == "pooled"
            stream = await sdk.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}],
                                                       stream=True)
            assert "".join([part.choices[0].delta.content or "" async for part in stream if part.choices]) == "stream"
            await sdk.close()
            calls = upstream.calls(CHAT)
            assert len(calls) == 4
            assert calls[0].headers["Authorization"] == "Bearer sk-upstream-000000000000"
            if pool is not None:
                assert pool.connections == 1  # four calls, one connection kept
        if pool is not None:
            assert pool.connections == 0  # closed with the server
