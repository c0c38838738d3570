"""``type = "gemini"`` end to end: the real gateway, the openai SDK as client, a fake Gemini API."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import openai
import pytest
from aiohttp import web

from sluicegate_gemini import translate
from sluicegate_gemini.fake import BAD_KEY, error_body, generate_path, stream_path

KEY = "AIzaSyFakeGeminiKey0123456789abcdefghij"
TOKEN = "client-token"
FIXTURES = Path(__file__).parent / "fixtures"
MODEL = "gemini-2.5-flash"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Current weather in a city.",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
    },
}
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="


def config(url: str) -> str:
    return f"""
[auth]
tokens = ["{TOKEN}"]

[providers.google]
type = "gemini"
base_url = "{url}/v1beta"
api_key = "${{GEMINI_KEY}}"
models = ["{MODEL}"]

# One call at a time: no retries, no breaker (the resilience tests have those).
[retry]
attempts = 1

[breaker]
enabled = false

[models.chat]
targets = ["google/{MODEL}"]
"""


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def sse_responder(name: str):
    raw = (FIXTURES / name).read_bytes()

    async def respond(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for frame in raw.split(b"\r\n\r\n")[:-1]:
            await response.write(frame + b"\r\n\r\n")
        await response.write_eof()
        return response

    return respond


@pytest.fixture
async def server(gateway, fake_upstream):
    return await gateway(config(fake_upstream.url), env={"GEMINI_KEY": KEY})


def sdk(server) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=TOKEN, max_retries=0)


async def test_chat_through_the_sdk(server, fake_upstream):
    fake_upstream.json(generate_path(), fixture("text_response.json"))
    answer = await sdk(server).chat.completions.create(
        model="chat",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello in French."}],
        max_tokens=64,
        temperature=0.3,
        # A client's attempt to steer the vendor with its own key never reaches it.
        extra_headers={"x-goog-api-key": "client-chosen-key", "x-goog-user-project": "someone-else"},
    )
    message = answer.choices[0].message
    assert message.content == "Bonjour ! Comment puis-je vous aider ?"
    assert message.model_extra["reasoning_content"] == "The user wants a short greeting in French."
    assert answer.model == MODEL
    assert answer.usage.prompt_tokens_details.cached_tokens == 2048
    assert answer.usage.completion_tokens_details.reasoning_tokens == 65
    [sent] = fake_upstream.requests
    assert sent.path == generate_path() and sent.query == {}
    headers = {name.lower(): value for name, value in sent.headers.items()}
    assert headers["x-goog-api-key"] == KEY
    assert "x-goog-user-project" not in headers and "authorization" not in headers
    assert TOKEN not in " ".join(sent.headers.values())
    assert sent.json() == {
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [{"role": "user", "parts": [{"text": "Say hello in French."}]}],
        "generationConfig": {"maxOutputTokens": 64, "temperature": 0.3},
    }


async def test_stream_with_usage(server, fake_upstream):
    fake_upstream.on(stream_path(), sse_responder("stream_text.sse"))
    stream = await sdk(server).chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "Cats?"}], stream=True,
        stream_options={"include_usage": True},
    )
    text, reasoning, finish, usage = [], [], None, None
    async for chunk in stream:
        for choice in chunk.choices:
            text.append(choice.delta.content or "")
            reasoning.append((choice.delta.model_extra or {}).get("reasoning_content") or "")
            finish = choice.finish_reason or finish
        usage = chunk.usage or usage
    assert "".join(text) == "Cats purr when content."
    assert "".join(reasoning) == "Thinking about cats."
    assert finish == "stop"
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (8, 45, 53)
    assert usage.completion_tokens_details.reasoning_tokens == 40
    [sent] = fake_upstream.requests
    assert (sent.path, sent.query) == (stream_path(), {"alt": "sse"})


async def test_parallel_tool_calls_round_trip(server, fake_upstream):
    fake_upstream.on(
        generate_path(),
        fake_upstream.json_responder(fixture("function_calls_response.json")),
        fake_upstream.json_responder(fixture("text_response.json")),
    )
    client = sdk(server)
    messages = [{"role": "user", "content": "Weather in Boston and San Francisco?"}]
    first = await client.chat.completions.create(model="chat", messages=messages, tools=[WEATHER],
                                                 tool_choice="required")
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    boston, san_francisco = choice.message.tool_calls
    assert boston.id != san_francisco.id
    assert json.loads(san_francisco.function.arguments) == {"location": "San Francisco, CA"}
    messages += [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": boston.id, "content": "21C"},
        {"role": "tool", "tool_call_id": san_francisco.id, "content": "17C"},
    ]
    await client.chat.completions.create(model="chat", messages=messages, tools=[WEATHER])
    first_sent, second_sent = (request.json() for request in fake_upstream.requests)
    assert first_sent["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert first_sent["tools"][0]["functionDeclarations"][0]["name"] == "get_current_weather"
    boston_id = boston.id.partition(translate.SIGNATURE_SEPARATOR)[0]
    assert second_sent["contents"][1:] == [
        {"role": "model", "parts": [
            {"functionCall": {"id": boston_id, "name": "get_current_weather", "args": {"location": "Boston, MA"}},
             "thoughtSignature": "CiQB0e2Kb3Yx9mFhGm1bRkVDc1pQ"},
            {"functionCall": {"id": san_francisco.id, "name": "get_current_weather",
                              "args": {"location": "San Francisco, CA"}}},
        ]},
        {"role": "user", "parts": [
            {"functionResponse": {"id": boston_id, "name": "get_current_weather", "response": {"result": "21C"}}},
            {"functionResponse": {"id": san_francisco.id, "name": "get_current_weather",
                                  "response": {"result": "17C"}}},
        ]},
    ]


async def test_images(server, fake_upstream):
    fake_upstream.json(generate_path(), fixture("text_response.json"))
    await sdk(server).chat.completions.create(model="chat", messages=[{"role": "user", "content": [
        {"type": "text", "text": "What is in these?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + PIXEL}},
        {"type": "image_url", "image_url": {"url": "https://example.com/photos/dog.png"}},
    ]}])
    [sent] = fake_upstream.requests
    assert sent.json()["contents"][0]["parts"][1:] == [
        {"inlineData": {"mimeType": "image/png", "data": PIXEL}},
        {"fileData": {"fileUri": "https://example.com/photos/dog.png", "mimeType": "image/png"}},
    ]


async def test_blocked_prompt_is_a_content_filter_answer(server, fake_upstream):
    fake_upstream.json(generate_path(), fixture("blocked_response.json"))
    answer = await sdk(server).chat.completions.create(model="chat", messages=[{"role": "user", "content": "..."}])
    assert answer.choices[0].finish_reason == "content_filter"


async def test_rate_limit_gives_its_retry_delay_as_retry_after(server, fake_upstream):
    fake_upstream.json(generate_path(), fixture("rate_limited.json"), status=429)
    with pytest.raises(openai.RateLimitError) as caught:
        await sdk(server).chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.response.headers["retry-after"] == "29"
    error = caught.value.response.json()["error"]
    assert "exceeded your current quota" in error["message"]
    assert error["type"] == "rate_limit_error"


async def test_bad_key_is_a_401_and_the_key_never_shows(server, fake_upstream):
    fake_upstream.on(generate_path(), BAD_KEY)
    with pytest.raises(openai.AuthenticationError) as caught:
        await sdk(server).chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
    assert "API key not valid" in caught.value.response.json()["error"]["message"]
    # Even a vendor that echoes the key gets it scrubbed.
    echoed = error_body(400, "INVALID_ARGUMENT", f"API key {KEY} not valid.",
                        [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}])
    fake_upstream.json(generate_path(), echoed, status=400)
    with pytest.raises(openai.AuthenticationError) as caught:
        await sdk(server).chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
    assert KEY not in caught.value.response.text
    assert KEY[:12] not in caught.value.response.text


async def test_untranslatable_request_is_a_400_with_no_upstream_call(server, fake_upstream):
    async with aiohttp.ClientSession() as session:
        async with session.post(
            server.base_url + "/v1/chat/completions",
            headers={"Authorization": f"Bearer {TOKEN}"},
            json={"model": "chat", "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}}]}]},
        ) as response:
            assert response.status == 400
            body = await response.json()
    assert "not valid base64" in body["error"]["message"]
    assert fake_upstream.requests == []


async def test_garbled_answer_is_a_502(server, fake_upstream):
    fake_upstream.json(generate_path(), {"candidates": "not a list"})
    with pytest.raises(openai.APIStatusError) as caught:
        await sdk(server).chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 502
    assert "not a Gemini answer" in caught.value.response.json()["error"]["message"]
