"""The Anthropic entrance, ``POST /v1/messages``: auth, validation and errors in Anthropic's shape,
and answers bridged from OpenAI-speaking providers, driven by the official ``anthropic`` SDK."""

from __future__ import annotations

import aiohttp
import anthropic
import orjson
import pytest

CLIENT_TOKEN = "client-token-anthropic-entrance"
UP_KEY = "sk-up-secret-3333333333"

CONFIG = f"""
[auth]
tokens = ["{CLIENT_TOKEN}"]

[providers.mock]
type = "mock"

[providers.broken]
type = "mock"
fail_after_chunks = 2

[providers.up]
type = "openai"
base_url = "{{url}}/v1"
api_key = "${{UP_KEY}}"

[models.echo]
targets = ["mock/echo-1"]

[models.breaks]
targets = ["broken/echo-1"]

[models.gpt]
targets = ["up/gpt-4o-mini"]

[retry]
attempts = 1
"""


@pytest.fixture
async def server(gateway, fake_upstream):
    return await gateway(CONFIG.replace("{url}", fake_upstream.url), env={"UP_KEY": UP_KEY})


def claude(server, token: str = CLIENT_TOKEN) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=server.base_url, api_key=token, max_retries=0)


async def post(server, body, headers=None, method="POST"):
    headers = {"x-api-key": CLIENT_TOKEN, **(headers or {})}
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    async with aiohttp.ClientSession() as session, session.request(
        method, server.base_url + "/v1/messages", data=data, headers=headers
    ) as response:
        return response.status, await response.read(), response.headers


def assert_anthropic_error(raw: bytes, kind: str) -> dict:
    body = orjson.loads(raw)
    assert body["type"] == "error"
    assert body["error"]["type"] == kind
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert body["request_id"].startswith("req_")
    return body


async def test_the_sdk_gets_a_message_from_an_openai_speaking_provider(server):
    message = await claude(server).messages.create(
        model="echo", max_tokens=100, messages=[{"role": "user", "content": "hello there gateway"}]
    )
    assert message.type == "message"
    assert message.content[0].type == "text"
    assert message.content[0].text == "hello there gateway"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens == 3


async def test_max_tokens_truncation_reads_as_max_tokens(server):
    message = await claude(server).messages.create(
        model="echo", max_tokens=2, messages=[{"role": "user", "content": "one two three four"}]
    )
    assert message.content[0].text.split() == ["one", "two"]
    assert message.stop_reason == "max_tokens"


async def test_the_sdk_streams_through_the_bridge(server):
    async with claude(server).messages.stream(
        model="echo", max_tokens=100, messages=[{"role": "user", "content": "streamed words arrive in order"}]
    ) as stream:
        events = [event.type async for event in stream]
        message = await stream.get_final_message()
    assert events[0] == "message_start"
    assert events[-1] == "message_stop"
    assert "content_block_start" in events and "content_block_stop" in events
    assert message.content[0].text == "streamed words arrive in order"
    assert message.stop_reason == "end_turn"


async def test_a_stream_broken_after_content_ends_with_an_anthropic_error_event(server):
    texts: list[str] = []
    with pytest.raises(anthropic.APIError) as caught:
        async with claude(server).messages.stream(
            model="breaks", max_tokens=100, messages=[{"role": "user", "content": "a b c d e f"}]
        ) as stream:
            async for text in stream.text_stream:
                texts.append(text)
    assert "".join(texts) == "a b "
    assert "broke off the stream" in str(caught.value)


async def test_the_raw_stream_ends_with_an_error_event_not_a_clean_stop(server):
    body = {"model": "breaks", "max_tokens": 50, "stream": True, "messages": [{"role": "user", "content": "a b c d"}]}
    status, raw, headers = await post(server, body)
    assert status == 200
    assert headers["Content-Type"].startswith("text/event-stream")
    frames = [frame for frame in raw.split(b"\n\n") if frame]
    assert frames[0].startswith(b"event: message_start\n")
    assert frames[-1].startswith(b"event: error\ndata: ")
    assert not any(frame.startswith(b"event: message_stop") for frame in frames)
    error = orjson.loads(frames[-1].split(b"data: ", 1)[1])
    assert error["type"] == "error" and error["error"]["type"] == "api_error"


async def test_bearer_token_works_as_well_as_x_api_key(server):
    body = {"model": "echo", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    status, raw, _ = await post(server, body, headers={"x-api-key": "", "Authorization": f"Bearer {CLIENT_TOKEN}"})
    assert status == 200
    assert orjson.loads(raw)["content"][0]["text"] == "hi"


async def test_a_wrong_key_is_an_anthropic_authentication_error(server):
    with pytest.raises(anthropic.AuthenticationError) as caught:
        await claude(server, token="not-a-token").messages.create(
            model="echo", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.status_code == 401
    body = assert_anthropic_error(caught.value.response.content, "authentication_error")
    assert "not-a-token" not in body["error"]["message"]


async def test_an_unknown_model_is_an_anthropic_not_found_error(server):
    with pytest.raises(anthropic.NotFoundError) as caught:
        await claude(server).messages.create(
            model="claude-nope", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    assert_anthropic_error(caught.value.response.content, "not_found_error")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        ({"model": "echo", "messages": [{"role": "user", "content": "hi"}]}, "max_tokens: Field required"),
        ({"model": "echo", "max_tokens": 0, "messages": [{"role": "user", "content": "hi"}]}, "max_tokens"),
        ({"model": "echo", "max_tokens": 5, "messages": []}, "at least one message"),
        ({"model": "echo", "max_tokens": 5, "messages": [{"role": "tool", "content": "x"}]}, "messages.0.role"),
        ({"model": "echo", "max_tokens": 5, "messages": [{"role": "user", "content": 7}]}, "messages.0.content"),
        ({"model": "echo", "max_tokens": 5, "system": 3, "messages": [{"role": "user", "content": "x"}]}, "system"),
        ({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "gpt", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "document"}]}]},
         "messages.0.content.0"),
    ],
)
async def test_bad_requests_get_anthropic_invalid_request_errors_and_reach_no_vendor(
    server, fake_upstream, body, fragment
):
    status, raw, headers = await post(server, body)
    assert status == 400
    error = assert_anthropic_error(raw, "invalid_request_error")
    assert fragment in error["error"]["message"]
    assert headers["x-request-id"] == error["request_id"]
    assert fake_upstream.requests == []


async def test_wrong_method_is_an_anthropic_shaped_405(server):
    status, raw, headers = await post(server, b"", method="GET")
    assert status == 405
    assert headers["Allow"] == "POST"
    assert_anthropic_error(raw, "invalid_request_error")


async def test_openai_routes_keep_the_openai_error_shape(server):
    async with aiohttp.ClientSession() as session, session.post(
        server.base_url + "/v1/chat/completions", data=b"{", headers={"Authorization": f"Bearer {CLIENT_TOKEN}"}
    ) as response:
        body = await response.json()
    assert response.status == 400
    assert set(body) == {"error"} and body["error"]["code"] == "invalid_json"


async def test_vendor_errors_keep_their_status_in_anthropic_shape(server, fake_upstream):
    fake_upstream.json(
        "/v1/chat/completions",
        {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}},
        status=429,
        headers={"retry-after": "3"},
    )
    with pytest.raises(anthropic.RateLimitError) as caught:
        await claude(server).messages.create(model="gpt", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert caught.value.response.headers["retry-after"] == "3"
    body = assert_anthropic_error(caught.value.response.content, "rate_limit_error")
    assert "Rate limit reached" in body["error"]["message"]
    assert UP_KEY not in caught.value.response.text


async def test_an_openai_answer_that_is_not_a_completion_is_a_clean_502(server, fake_upstream):
    fake_upstream.json("/v1/chat/completions", {"unexpected": True})
    with pytest.raises(anthropic.APIStatusError) as caught:
        await claude(server).messages.create(model="gpt", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 502
    assert_anthropic_error(caught.value.response.content, "api_error")


async def test_the_vendor_receives_an_openai_request_with_its_own_key(server, fake_upstream):
    fake_upstream.json("/v1/chat/completions", {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    })
    message = await claude(server).messages.create(
        model="gpt", max_tokens=5, system="Be brief.", stop_sequences=["END"],
        messages=[{"role": "user", "content": "x"}],
    )
    assert message.content[0].text == "ok"
    (sent,) = fake_upstream.calls("/v1/chat/completions")
    assert sent.headers["Authorization"] == f"Bearer {UP_KEY}"
    assert CLIENT_TOKEN not in " ".join(sent.headers.values())
    assert "anthropic-version" not in {name.lower() for name in sent.headers}
    body = sent.json()
    assert body["model"] == "gpt-4o-mini"
    assert body["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "x"}]
    assert (body["max_tokens"], body["stop"]) == (5, ["END"])
