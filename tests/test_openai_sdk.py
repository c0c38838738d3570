"""The official openai SDK through the real server to fake OpenAI upstreams: routing, every
endpoint, streaming, the model listing, and unknown fields passing through untouched."""

from __future__ import annotations

import aiohttp
import openai
import orjson
import pytest

from sluicegate.testing import openai_chat_completion, openai_chunks

CLIENT_TOKEN = "client-token-xyz"
UP_KEY = "sk-up-secret-111111"
BACKUP_KEY = "sk-backup-secret-222222"
MSG = [{"role": "user", "content": "hi"}]


@pytest.fixture
async def setup(gateway, fake_upstream):
    server = await gateway(f"""
[auth]
tokens = ["{CLIENT_TOKEN}"]

[providers.up]
type = "openai"
base_url = "{fake_upstream.url}/v1"
api_key = "${{UP_KEY}}"
models = ["gpt-4o-mini", "text-embedding-3-small"]

[providers.backup]
type = "openai"
base_url = "{fake_upstream.url}/v1"
api_key = "${{BACKUP_KEY}}"

[models.chat]
targets = ["up/gpt-4o-mini", "backup/gpt-4o"]

[models.reserve]
targets = ["backup/deepseek-chat"]

[models.embed]
targets = ["up/text-embedding-3-small"]
""", env={"UP_KEY": UP_KEY, "BACKUP_KEY": BACKUP_KEY})
    client = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=CLIENT_TOKEN, max_retries=0)
    yield server, client, fake_upstream
    await client.close()


def assert_clean(sent, key: str) -> None:
    """Upstream got its own key, never the client's token."""
    assert sent.headers["Authorization"] == f"Bearer {key}"
    assert not any(CLIENT_TOKEN in value for value in sent.headers.values())
    assert CLIENT_TOKEN.encode() not in sent.body


async def test_chat_non_stream_and_stream(setup):
    _, client, upstream = setup
    upstream.json("/v1/chat/completions", openai_chat_completion("Hi there"))
    reply = await client.chat.completions.create(model="chat", messages=MSG)
    assert reply.choices[0].message.content == "Hi there"
    assert reply.usage.total_tokens == 7
    (sent,) = upstream.requests
    assert sent.path == "/v1/chat/completions"
    assert_clean(sent, UP_KEY)
    assert sent.json() == {"model": "gpt-4o-mini", "messages": MSG}

    upstream.sse("/v1/chat/completions", openai_chunks(["Hel", "lo", " world"], usage=True))
    stream = await client.chat.completions.create(
        model="up/gpt-4o", messages=MSG, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello world"
    assert chunks[-1].usage.total_tokens == 7
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    sent = upstream.requests[-1]
    assert sent.json() == {"model": "gpt-4o", "messages": MSG, "stream": True,
                           "stream_options": {"include_usage": True}}


async def test_alias_routes_to_first_target(setup):
    _, client, upstream = setup
    upstream.json("/v1/chat/completions", openai_chat_completion("x"))
    await client.chat.completions.create(model="chat", messages=MSG)
    await client.chat.completions.create(model="reserve", messages=MSG)
    first, second = upstream.requests
    assert first.json()["model"] == "gpt-4o-mini"
    assert_clean(first, UP_KEY)
    assert second.json()["model"] == "deepseek-chat"
    assert_clean(second, BACKUP_KEY)


@pytest.mark.parametrize(
    ("model", "upstream_model", "key"),
    [
        ("backup/deepseek-chat", "deepseek-chat", BACKUP_KEY),
        ("up/gpt-4o", "gpt-4o", UP_KEY),
        ("up/org/fine-tuned:v1", "org/fine-tuned:v1", UP_KEY),  # only the first '/' splits
        ("gpt-4o-mini", "gpt-4o-mini", UP_KEY),  # a bare name a provider lists
    ],
)
async def test_direct_provider_model(setup, model, upstream_model, key):
    _, client, upstream = setup
    upstream.json("/v1/chat/completions", openai_chat_completion("x"))
    await client.chat.completions.create(model=model, messages=MSG)
    (sent,) = upstream.requests
    assert sent.json()["model"] == upstream_model
    assert_clean(sent, key)


async def test_unknown_provider_prefix_is_404(setup):
    _, client, upstream = setup
    with pytest.raises(openai.NotFoundError) as caught:
        await client.chat.completions.create(model="nobody/gpt-4o", messages=MSG)
    assert caught.value.code == "model_not_found"
    assert upstream.requests == []


async def test_models_list_and_retrieve(setup):
    _, client, upstream = setup
    page = await client.models.list()
    listed = [(m.id, m.owned_by, m.object) for m in page.data]
    assert listed == [
        ("chat", "sluicegate", "model"),
        ("reserve", "sluicegate", "model"),
        ("embed", "sluicegate", "model"),
        ("up/gpt-4o-mini", "up", "model"),
        ("up/text-embedding-3-small", "up", "model"),
    ]
    alias = await client.models.retrieve("chat")
    assert (alias.id, alias.owned_by) == ("chat", "sluicegate")
    slashed = await client.models.retrieve("up/text-embedding-3-small")
    assert (slashed.id, slashed.owned_by) == ("up/text-embedding-3-small", "up")
    direct = await client.models.retrieve("backup/some/model")
    assert (direct.id, direct.owned_by) == ("backup/some/model", "backup")
    with pytest.raises(openai.NotFoundError) as caught:
        await client.models.retrieve("nope")
    assert caught.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("nobody/x")
    assert upstream.requests == []


async def test_completions(setup):
    _, client, upstream = setup
    upstream.json("/v1/completions", {
        "id": "cmpl-1", "object": "text_completion", "created": 1, "model": "gpt-3.5-turbo-instruct",
        "choices": [{"index": 0, "text": " world", "finish_reason": "stop", "logprobs": None}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    })
    reply = await client.completions.create(model="up/gpt-3.5-turbo-instruct", prompt="hello", max_tokens=5,
                                            extra_body={"best_of_vendor": 2})
    assert reply.choices[0].text == " world"
    (sent,) = upstream.requests
    assert sent.path == "/v1/completions"
    assert sent.json() == {"model": "gpt-3.5-turbo-instruct", "prompt": "hello", "max_tokens": 5,
                           "best_of_vendor": 2}
    assert_clean(sent, UP_KEY)


async def test_completions_stream(setup):
    _, client, upstream = setup
    base = {"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m"}
    upstream.sse("/v1/completions", [
        {**base, "choices": [{"index": 0, "text": piece, "finish_reason": None, "logprobs": None}]}
        for piece in ("a", "b", "c")
    ])
    stream = await client.completions.create(model="up/m", prompt="x", stream=True)
    assert "".join([c.choices[0].text async for c in stream]) == "abc"
    assert upstream.requests[-1].json()["stream"] is True


async def test_embeddings(setup):
    _, client, upstream = setup
    upstream.json("/v1/embeddings", {
        "object": "list", "model": "text-embedding-3-small",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.25, -0.5]},
                 {"object": "embedding", "index": 1, "embedding": [1.0, 0.0]}],
        "usage": {"prompt_tokens": 2, "total_tokens": 2},
    })
    reply = await client.embeddings.create(model="embed", input=["a", "b"], encoding_format="float",
                                           dimensions=2)
    assert [d.embedding for d in reply.data] == [[0.25, -0.5], [1.0, 0.0]]
    (sent,) = upstream.requests
    assert sent.path == "/v1/embeddings"
    assert sent.json() == {"model": "text-embedding-3-small", "input": ["a", "b"],
                           "encoding_format": "float", "dimensions": 2}
    assert_clean(sent, UP_KEY)


async def test_moderations(setup):
    _, client, upstream = setup
    upstream.json("/v1/moderations", {
        "id": "modr-1", "model": "omni-moderation-latest",
        "results": [{"flagged": True, "categories": {"violence": True}, "category_scores": {"violence": 0.9}}],
    })
    reply = await client.moderations.create(model="up/omni-moderation-latest", input="text")
    assert reply.results[0].flagged is True
    (sent,) = upstream.requests
    assert sent.path == "/v1/moderations"
    assert sent.json() == {"model": "omni-moderation-latest", "input": "text"}
    assert_clean(sent, UP_KEY)


@pytest.mark.parametrize("stream", [False, True])
async def test_unknown_fields_pass_through(setup, stream):
    _, client, upstream = setup
    if stream:
        upstream.sse("/v1/chat/completions", openai_chunks(["ok"]))
    else:
        upstream.json("/v1/chat/completions", openai_chat_completion("ok"))
    extra = {
        "top_k": 40,
        "vendor_flags": {"nested": [1, 2.5, None, {"deep": "ünï"}], "on": True},
        "reasoning": {"effort": "low"},
    }
    result = await client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "hi", "name": "bob", "x_msg": 1}],
        temperature=0.2, stream=stream, extra_body=extra,
    )
    if stream:
        assert "".join([c.choices[0].delta.content or "" async for c in result if c.choices]) == "ok"
    sent = upstream.requests[-1].json()
    want = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi", "name": "bob", "x_msg": 1}],
        "temperature": 0.2,
        "stream": stream,
        **extra,
    }
    if stream:
        # The gateway asks for the usage so it can count tokens (README, "Usage and cost").
        want["stream_options"] = {"include_usage": True}
    assert sent == want


async def test_unchanged_body_is_forwarded_byte_for_byte(setup):
    """Same dialect and same model name: the client's bytes go upstream as they are."""
    server, _, upstream = setup
    upstream.json("/v1/chat/completions", openai_chat_completion("ok"))
    raw = (b'{ "model" : "gpt-4o-mini",\n  "messages": [{"role":"user","content":"caf\\u00e9"}],'
           b' "x_order": [3,1,2], "num": 1.50 }')
    async with aiohttp.ClientSession() as http:
        async with http.post(server.base_url + "/v1/chat/completions", data=raw,
                             headers={"Authorization": f"Bearer {CLIENT_TOKEN}",
                                      "Content-Type": "application/json"}) as resp:
            assert resp.status == 200
            assert orjson.loads(await resp.read())["choices"][0]["message"]["content"] == "ok"
    assert upstream.requests[-1].body == raw
