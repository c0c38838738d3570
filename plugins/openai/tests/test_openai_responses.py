"""``type = "openai"`` and the Responses API: which providers pass ``/v1/responses`` through
(the ``responses`` option), and how a native Responses stream is relayed (named events, held
preamble, a required terminal event), through the real gateway server."""

from __future__ import annotations

import aiohttp
import orjson
import pytest

from sluicegate.exchange import Endpoint
from sluicegate.services import Services
from sluicegate.testing import openai_chat_completion
from sluicegate.testing.vendor import Usage
from sluicegate_openai import OpenAIOptions, OpenAIProvider
from sluicegate_openai.fake import ResponsesScript

TOKEN = "client-token-native-responses"
RESPONSES = "/v1/responses"


@pytest.mark.parametrize(
    ("base_url", "option", "native"),
    [
        ("https://api.openai.com/v1", None, True),
        ("https://api.openai.com", None, True),
        ("https://api.deepseek.com/v1", None, False),
        ("http://127.0.0.1:8000/v1", True, True),
        ("https://api.openai.com/v1", False, False),
    ],
)
async def test_the_responses_option_decides_native_or_bridged(base_url, option, native):
    async with aiohttp.ClientSession() as http:
        provider = OpenAIProvider(
            "up", OpenAIOptions(type="openai", base_url=base_url, responses=option), Services(http=http, config=None)
        )
    assert (Endpoint.RESPONSES in provider.endpoints) is native
    # Either way the provider serves /v1/responses: natively, or bridged onto chat.
    sender = provider.senders[Endpoint.RESPONSES]
    assert (sender == provider.send) is native


def config(url: str) -> str:
    return f"""
[auth]
tokens = ["{TOKEN}"]

[providers.native]
type = "openai"
base_url = "{url}/v1"
responses = true

[providers.chat]
type = "openai"
base_url = "{url}/chat-vendor/v1"

[models.native]
targets = ["native/gpt-4.1"]

[models.fallback]
targets = ["native/gpt-4.1", "chat/gpt-4o-mini"]

[retry]
attempts = 1
"""


@pytest.fixture
async def server(gateway, fake_upstream):
    return await gateway(config(fake_upstream.url))


async def post(server, body) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session, session.post(
        server.base_url + RESPONSES, json=body, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as response:
        return response.status, await response.read()


def frames(raw: bytes) -> list[tuple[str | None, dict]]:
    out = []
    for block in raw.split(b"\n\n"):
        if not block.strip():
            continue
        name = None
        data = b""
        for line in block.split(b"\n"):
            if line.startswith(b"event: "):
                name = line[7:].decode()
            elif line.startswith(b"data: "):
                data = line[6:]
        out.append((name, orjson.loads(data)))
    return out


def unnamed(frame: bytes) -> bytes:
    """The same event without its ``event:`` line, as some compatible servers write them."""
    return b"\n".join(line for line in frame.split(b"\n") if not line.startswith(b"event: "))


async def test_events_without_names_are_named_and_the_response_is_stored(server, fake_upstream):
    script = ResponsesScript()
    events = script.stream_frames({"model": "gpt-4.1"}, script.output_items("Hi there", ()), Usage())
    fake_upstream.sse(RESPONSES, [unnamed(frame) for frame in events], done=False)
    status, raw = await post(server, {"model": "native", "input": "hi", "stream": True})
    assert status == 200
    relayed = frames(raw)
    assert [name for name, _ in relayed] == [data["type"] for _, data in relayed]
    assert relayed[-1][0] == "response.completed"
    response_id = relayed[-1][1]["response"]["id"]
    async with aiohttp.ClientSession() as session, session.get(
        f"{server.base_url}{RESPONSES}/{response_id}", headers={"Authorization": f"Bearer {TOKEN}"}
    ) as response:
        assert response.status == 200
        assert (await response.json())["output"][0]["content"][0]["text"] == "Hi there"


async def test_a_stream_that_ends_without_a_terminal_event_ends_with_an_error(server, fake_upstream):
    script = ResponsesScript()
    events = script.stream_frames({"model": "gpt-4.1"}, script.output_items("cut short", ()), Usage())
    fake_upstream.sse(RESPONSES, events[:5], done=False)  # through the first text delta, then EOF
    status, raw = await post(server, {"model": "native", "input": "hi", "stream": True})
    assert status == 200
    relayed = frames(raw)
    assert [name for name, _ in relayed][-2:] == ["response.output_text.delta", "error"]
    assert "ended the stream before the response was complete" in relayed[-1][1]["message"]
    assert relayed[-1][1]["sequence_number"] == 5


async def test_a_vendor_failing_before_content_is_failed_over_unseen(server, fake_upstream):
    """``response.created``/``in_progress`` wait for content: a vendor that breaks after them
    has sent the client nothing, so the next target answers."""
    script = ResponsesScript()
    started = script.stream_frames({"model": "gpt-4.1"}, [], Usage())[:2]
    error = {"type": "error", "sequence_number": 2,
             "error": {"type": "server_error", "code": "server_error", "message": "overloaded", "param": None}}
    fake_upstream.sse(RESPONSES, [*started, ("error", error)], done=False)
    fake_upstream.sse("/chat-vendor/v1/chat/completions", [
        {**openai_chat_completion("from the fallback"), "object": "chat.completion.chunk",
         "choices": [{"index": 0, "delta": {"content": "from the fallback"}, "finish_reason": "stop"}]}])
    status, raw = await post(server, {"model": "fallback", "input": "hi", "stream": True})
    assert status == 200
    relayed = frames(raw)
    ids = {data["response"]["id"] for _, data in relayed if "response" in data}
    assert len(ids) == 1  # one response: the fallback's, none of the first vendor's events
    assert relayed[-1][0] == "response.completed"
    assert relayed[-1][1]["response"]["output"][0]["content"][0]["text"] == "from the fallback"
    assert [data["sequence_number"] for _, data in relayed] == list(range(len(relayed)))


async def test_a_json_answer_to_a_stream_request_is_relayed_as_its_completion(server, fake_upstream):
    script = ResponsesScript()
    answer = script.response({"model": "gpt-4.1"}, [], Usage())
    fake_upstream.json(RESPONSES, answer)
    status, raw = await post(server, {"model": "native", "input": "hi", "stream": True})
    assert status == 200
    assert frames(raw) == [("response.completed", {"type": "response.completed", "sequence_number": 0,
                                                   "response": answer})]
