"""Deeply nested JSON through the real server (issue 11, defect 5).

orjson parses 1,024 levels but encodes only 254, and the gateway encodes a client's body again
(a renamed model, the stream-usage option, the cache key, translations). A body nested deeper
than ``sluicegate.nesting.MAX_DEPTH`` (200) is refused at parse with a 400 in the API's shape
and ``x-should-retry: false``, before anything is sent upstream; up to the limit every route
works with renames, the cache and stream usage on. No traceback anywhere, at any depth.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import echo_vendor
import orjson
import pytest

from sluicegate import nesting

TOKEN = "client-token-depth"
MSG = [{"role": "user", "content": "hi"}]
DEEP = "__deep__"
REFUSED_DEPTHS = (201, 254, 255, 600, 1024, 1025)
ACCEPTED_DEPTHS = (200,)


def config(url: str) -> str:
    return f"""
[auth]
tokens = ["{TOKEN}"]

[providers.up]
type = "openai"
base_url = "{url}/v1"
api_key = "sk-up-0000000000000000"

[providers.claude]
type = "anthropic"
base_url = "{url}/v1"
api_key = "sk-ant-claude-000000000"

[models.chat]
targets = ["up/gpt-4o-mini"]

[models.to-claude]
targets = ["claude/claude-x"]

[cache]
ttl = 60

[retry]
attempts = 1
"""


def nested(levels: int) -> bytes:
    """JSON of exactly ``levels`` levels of containers, arrays and objects alternating."""
    opens = [b"[" if level % 2 == 0 else b'{"a":' for level in range(levels)]
    closes = [b"]" if level % 2 == 0 else b"}" for level in reversed(range(levels))]
    return b"".join(opens) + b'"leaf"' + b"".join(closes)


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


def placeholder_level(value: Any, level: int = 1) -> int:
    """The level of the container holding the ``DEEP`` placeholder (0: none)."""
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    found = [level if child == DEEP else placeholder_level(child, level + 1) for child in children]
    return max(found, default=0)


def encode(template: dict[str, Any], total: int) -> bytes:
    """``template`` as JSON nested exactly ``total`` levels deep: the ``DEEP`` placeholder
    becomes a value nested as deeply as that takes at its place."""
    raw = orjson.dumps(template).replace(b'"' + DEEP.encode() + b'"', nested(total - placeholder_level(template)))
    assert raw.count(b'"leaf"') == 1
    return raw


# What each case sends; DEEP marks where the nesting goes (unknown fields pass through to an
# OpenAI-compatible vendor; translations read tool schemas, so those carry it there).
OPENAI_TOOL = [{"type": "function", "function": {"name": "t", "parameters": {"type": "object",
                                                                               "properties": {"p": DEEP}}}}]
ANTHROPIC_TOOL = [{"name": "t", "input_schema": {"type": "object", "properties": {"p": DEEP}}}]
CASES = {
    # (path, body, error shape): "chat" renames the model; "to-claude" translates to Anthropic.
    "chat": ("/v1/chat/completions", {"model": "chat", "messages": MSG, "x_nested": DEEP}, "openai"),
    "chat-tools-to-claude": ("/v1/chat/completions", {"model": "to-claude", "messages": MSG,
                                                      "tools": OPENAI_TOOL}, "openai"),
    "completions": ("/v1/completions", {"model": "chat", "prompt": "hi", "x_nested": DEEP}, "openai"),
    "embeddings": ("/v1/embeddings", {"model": "chat", "input": "hi", "x_nested": DEEP}, "openai"),
    # Native pass-through to Anthropic (renamed), and bridged onto an OpenAI chat vendor.
    "messages-native": ("/v1/messages", {"model": "to-claude", "max_tokens": 10, "messages": MSG,
                                         "x_nested": DEEP}, "anthropic"),
    "messages-bridged": ("/v1/messages", {"model": "chat", "max_tokens": 10, "messages": MSG,
                                          "tools": ANTHROPIC_TOOL}, "anthropic"),
}
STREAMS = {"embeddings": (False,)}


def requests():
    for name, (path, template, api) in CASES.items():
        for stream in STREAMS.get(name, (False, True)):
            yield name, path, {**template, "stream": stream}, api


@pytest.fixture
async def depth_server(gateway, fake_upstream, caplog):
    caplog.set_level(logging.DEBUG)
    echo_vendor.serve(fake_upstream)
    server = await gateway(config(fake_upstream.url))
    async with aiohttp.ClientSession() as http:
        yield server, fake_upstream, http


async def post(http, server, path: str, raw: bytes):
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    async with http.post(server.base_url + path, data=raw, headers=headers) as response:
        return response.status, response.headers, await response.read()


def assert_no_traceback(caplog) -> None:
    assert "Traceback" not in caplog.text
    assert [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize("total", REFUSED_DEPTHS)
async def test_a_body_nested_past_the_limit_is_a_400_in_the_api_shape_sent_nowhere(depth_server, caplog, total):
    server, upstream, http = depth_server
    for name, path, template, api in requests():
        status, headers, raw = await post(http, server, path, encode(template, total))
        assert status == 400, (name, template["stream"], raw[:300])
        assert headers["Content-Type"].startswith("application/json")
        assert headers["x-should-retry"] == "false"
        body = orjson.loads(raw)
        if api == "anthropic":
            assert body["type"] == "error"
            assert body["error"]["type"] == "invalid_request_error"
        else:
            assert body["error"]["type"] == "invalid_request_error"
            assert body["error"]["code"] == "json_too_deep"
        assert f"at most {nesting.MAX_DEPTH}" in body["error"]["message"]
    assert upstream.requests == []
    assert_no_traceback(caplog)


@pytest.mark.parametrize("total", ACCEPTED_DEPTHS)
async def test_a_body_nested_up_to_the_limit_works_on_every_route(depth_server, caplog, total):
    server, upstream, http = depth_server
    for name, path, template, _ in requests():
        sent = len(upstream.requests)
        raw_body = encode(template, total)
        assert depth(orjson.loads(raw_body)) == total
        status, headers, raw = await post(http, server, path, raw_body)
        assert status == 200, (name, template["stream"], raw[:300])
        if template["stream"]:
            assert headers["Content-Type"].startswith("text/event-stream")
            assert b"error" not in raw
            assert raw.rstrip().endswith(b"[DONE]") or b"message_stop" in raw, raw[-200:]
        # Exactly one call, valid JSON, as deep as the client's body (or one translation deeper).
        (forwarded,) = upstream.requests[sent:]
        received = forwarded.json()
        assert received["model"] in ("gpt-4o-mini", "claude-x")
        assert total - 1 <= depth(received) <= total + 2
        if "x_nested" in received:
            assert received["x_nested"] == orjson.loads(raw_body)["x_nested"]
    assert_no_traceback(caplog)


async def test_brackets_inside_strings_do_not_count_as_nesting(depth_server, caplog):
    server, upstream, http = depth_server
    # More brackets than the limit (so the body is walked), none of them nesting.
    messages = [{"role": "user", "content": "[{" * 600}] + [{"role": "assistant", "content": [{"type": "text",
                                                                                            "text": "x"}]}] * 150
    status, _, raw = await post(http, server, "/v1/chat/completions",
                                orjson.dumps({"model": "chat", "messages": messages}))
    assert status == 200, raw[:300]
    assert upstream.requests[-1].json()["messages"] == messages
    assert_no_traceback(caplog)


@pytest.mark.parametrize("kind", [list, dict])
def test_the_limit_is_exact(kind):
    def build(levels: int) -> Any:
        value: Any = 1
        for _ in range(levels):
            value = [value] if kind is list else {"k": value}
        return value

    assert not nesting.exceeds(build(nesting.MAX_DEPTH))
    assert nesting.exceeds(build(nesting.MAX_DEPTH + 1))
    # A wide value is not a deep one; scalars and empty containers nest nothing.
    assert not nesting.exceeds([[1] * 1000] * 1000)
    assert not nesting.exceeds("[" * 1000)
    assert not nesting.exceeds({}, 1)
    assert nesting.exceeds({"a": []}, 1)


# Nesting hidden in a string: tool-call arguments are JSON text that translations parse.
DEEP_ARGUMENTS = '{"a":' * 300 + "1" + "}" * 300


async def test_tool_arguments_nested_past_the_limit_are_a_400_before_translating_to_anthropic(depth_server, caplog):
    server, upstream, http = depth_server
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": DEEP_ARGUMENTS}}
    body = {"model": "to-claude", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "done"},
    ]}
    status, _, raw = await post(http, server, "/v1/chat/completions", orjson.dumps(body))
    assert status == 400, raw
    error = orjson.loads(raw)["error"]
    assert (error["code"], error["param"]) == ("json_too_deep", "messages[1].tool_calls[0].function.arguments")
    assert upstream.requests == []
    assert_no_traceback(caplog)


async def test_a_vendor_answering_with_tool_arguments_nested_past_the_limit_gets_no_500(depth_server, caplog):
    """Bridged onto an OpenAI vendor, /v1/messages parses the vendor's tool arguments into the
    tool_use block's input: too deep to encode, they become ``{}`` (as unparsable ones do)."""
    server, upstream, http = depth_server
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": DEEP_ARGUMENTS}}
    answer = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
              "choices": [{"index": 0, "finish_reason": "tool_calls",
                           "message": {"role": "assistant", "content": None, "tool_calls": [call]}}],
              "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}
    upstream.json(echo_vendor.CHAT, answer)
    body = {"model": "chat", "max_tokens": 10, "messages": MSG, "tools": [{"name": "f", "input_schema": {}}]}
    status, _, raw = await post(http, server, "/v1/messages", orjson.dumps(body))
    assert status == 200, raw
    (block,) = orjson.loads(raw)["content"]
    assert (block["type"], block["name"], block["input"]) == ("tool_use", "f", {})
    assert_no_traceback(caplog)
