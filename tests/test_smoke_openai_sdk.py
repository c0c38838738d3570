"""Smoke: the official openai SDK through the real server to a fake OpenAI upstream."""

import openai

from sluicegate.testing import openai_chat_completion, openai_chunks


async def test_chat_non_stream_and_stream(gateway, fake_upstream):
    fake_upstream.json("/v1/chat/completions", openai_chat_completion("Hi there"))
    server = await gateway(f"""
[auth]
tokens = ["client-token"]
[providers.up]
type = "openai"
base_url = "{fake_upstream.url}/v1"
api_key = "${{UP_KEY}}"
[models.chat]
targets = ["up/gpt-4o-mini"]
""", env={"UP_KEY": "sk-upstream-secret"})
    client = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key="client-token")
    reply = await client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "Hi there"
    sent = fake_upstream.requests[-1]
    assert sent.headers["Authorization"] == "Bearer sk-upstream-secret"
    assert sent.json()["model"] == "gpt-4o-mini"

    fake_upstream.sse("/v1/chat/completions", openai_chunks(["Hel", "lo"]))
    stream = await client.chat.completions.create(
        model="up/gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "Hello"
    assert fake_upstream.requests[-1].json()["model"] == "gpt-4o"
