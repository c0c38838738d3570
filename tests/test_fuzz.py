"""A bounded fuzz of the API routes through the real server (issue 11, "Proof").

Hypothesis writes request bodies for ``/v1/chat/completions``, ``/v1/completions``,
``/v1/embeddings`` and ``/v1/messages``: plausible requests with fields dropped, retyped or
added, wrong types everywhere, huge numbers, unicode and lone surrogates, invalid UTF-8,
truncated JSON, random bytes and nesting bombs. Routes go to an OpenAI-compatible and an
Anthropic fake (``echo_vendor``) that always succeed, directly, renamed by an alias, and
translated both ways, with the cache on. Whatever the body:

- the gateway answers below 500, in the route's API error shape when it refuses;
- no traceback, in a response or in the log (captured at DEBUG);
- a refused request reaches no vendor; every request a vendor gets is valid JSON carrying a
  configured model, the API's required fields, and none of the client's credentials.

One server per route serves every example; examples are derandomized, so CI runs the same
bodies every time.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import echo_vendor
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TOKEN = "client-token-fuzz-0123456789"
UPSTREAM_MODELS = {"gpt-4o-mini", "claude-x"}
EXAMPLES = 600  # per route: 3,000 bodies in all
SLOT = "\u2063slot\u2063"  # where a raw fragment (not expressible as a Python value) goes
RESPONSES = "/v1/responses"  # bridged: the vendor sees chat (or Anthropic's Messages)

CONFIG = f"""
[auth]
tokens = ["{TOKEN}"]

[providers.up]
type = "openai"
base_url = "{{url}}/v1"
api_key = "sk-up-fuzz-00000000000000"

[providers.claude]
type = "anthropic"
base_url = "{{url}}/v1"
api_key = "sk-ant-fuzz-0000000000000"

[models.chat]
targets = ["up/gpt-4o-mini"]

[models.to-claude]
targets = ["claude/claude-x"]

[cache]
ttl = 60

[retry]
attempts = 1

[access_log]
enabled = false
"""

# -- values ---------------------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
def mostly(valid, wrong=json_values):
    """Usually ``valid``, sometimes anything."""
    return st.integers(0, 7).flatmap(lambda n: wrong if n == 0 else valid)


texts = st.text(max_size=16) | st.sampled_from(["", " ", "\x00", "\u202e", "😀" * 3, "\\u0000", "[{", "data: [DONE]"])
models = mostly(st.sampled_from(["chat", "to-claude", "up/gpt-4o-mini", "claude/claude-x"]),
                st.sampled_from(["nope", "up/", "/x", "", "claude/", "chat "]) | json_values)
flags = mostly(st.booleans())


def nested(levels: int) -> bytes:
    opens = [b"[" if level % 2 == 0 else b'{"a":' for level in range(levels)]
    closes = [b"]" if level % 2 == 0 else b"}" for level in reversed(range(levels))]
    return b"".join(opens) + b"1" + b"".join(closes)


#: Raw JSON fragments no Python value encodes to: numbers beyond 64 bits or a double's range,
#: lone surrogates (escaped and as raw bytes), invalid UTF-8, control characters, deep nesting.
fragments = st.one_of(
    st.integers(min_value=20, max_value=400).map(lambda n: b"9" * n),
    st.sampled_from([b"1e400", b"-1e400", b"1E-400", b"-0", b"1.0e+308", b"NaN", b"Infinity", b"0x10", b"01"]),
    st.sampled_from([b'"\\ud800"', b'"\\udfff x"', b'"\\ud83d\\ude00"', b'"\\u0000"', b'"\\uZZZZ"']),
    st.sampled_from([b'"\xed\xa0\x80"', b'"\xff\xfe"', b'"\xc3"', b'"\xe2\x82"', b'"\x00\x1f"', b"\xef\xbb\xbf1"]),
    st.integers(min_value=150, max_value=1100).map(nested),
    st.binary(max_size=8).map(lambda data: b'"' + data.replace(b'"', b"") + b'"'),
)

# -- plausible requests, then broken ----------------------------------------------------------------


def maybe(strategy, absent: float = 0.5):
    """A field's value, or ``None`` meaning "leave the field out"."""
    return st.one_of(st.none(), strategy) if absent else strategy


content_parts = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": texts}),
    st.fixed_dictionaries({"type": st.just("image_url"),
                           "image_url": st.fixed_dictionaries({"url": st.sampled_from(
                               ["https://x.test/a.png", "data:image/png;base64,iVBORw0KGgo=", "", "data:,"])})}),
    st.fixed_dictionaries({"type": st.just("input_audio"), "input_audio": json_values}),
    json_values,
)
tool_calls = st.lists(st.fixed_dictionaries({
    "id": texts, "type": st.just("function"),
    "function": st.fixed_dictionaries({"name": texts, "arguments": st.one_of(
        texts, json_values.map(lambda v: orjson.dumps(v).decode()), st.just('{"a":' * 300 + "1" + "}" * 300))}),
}), max_size=2)
chat_messages = st.lists(mostly(
    st.fixed_dictionaries(
        {"role": mostly(st.sampled_from(["system", "user", "assistant", "tool", "developer"]),
                        st.sampled_from(["function", "robot", ""]) | json_values),
         "content": mostly(texts | st.lists(content_parts, max_size=3))},
        optional={"tool_calls": tool_calls, "tool_call_id": texts, "name": texts}),
), min_size=1, max_size=4) | st.lists(json_values, max_size=2)
chat_tools = st.lists(st.one_of(
    st.fixed_dictionaries({"type": st.just("function"),
                           "function": st.fixed_dictionaries({"name": texts}, optional={"parameters": json_values,
                                                                                        "description": texts})}),
    json_values,
), max_size=2)

anthropic_blocks = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": texts}),
    st.fixed_dictionaries({"type": st.just("image"), "source": st.one_of(
        st.fixed_dictionaries({"type": st.just("base64"), "media_type": st.just("image/png"), "data": texts}),
        st.fixed_dictionaries({"type": st.just("url"), "url": texts}), json_values)}),
    st.fixed_dictionaries({"type": st.just("tool_use"), "id": texts, "name": texts, "input": json_values}),
    st.fixed_dictionaries({"type": st.just("tool_result"), "tool_use_id": texts},
                          optional={"content": st.one_of(texts, st.lists(json_values, max_size=2)),
                                    "is_error": json_values}),
    st.fixed_dictionaries({"type": st.sampled_from(["thinking", "document", "server_tool_use", "x"])},
                          optional={"thinking": texts, "signature": texts}),
    json_values,
)
anthropic_messages = st.lists(mostly(
    st.fixed_dictionaries({"role": mostly(st.sampled_from(["user", "assistant"]),
                                          st.sampled_from(["system", "tool"]) | json_values),
                           "content": mostly(texts | st.lists(anthropic_blocks, min_size=1, max_size=3))}),
), min_size=1, max_size=4) | st.lists(json_values, max_size=2)
anthropic_tools = st.lists(st.one_of(
    st.fixed_dictionaries({"name": texts}, optional={"input_schema": json_values, "description": texts,
                                                     "type": texts}),
    json_values,
), max_size=2)
stream_options = st.one_of(json_values, st.fixed_dictionaries({"include_usage": json_values}))

response_parts = st.one_of(
    st.fixed_dictionaries({"type": st.sampled_from(["input_text", "output_text"]), "text": texts}),
    st.fixed_dictionaries({"type": st.just("input_image")},
                          optional={"image_url": texts, "file_id": texts, "detail": json_values}),
    json_values,
)
response_items = st.lists(st.one_of(
    st.fixed_dictionaries(
        {"role": mostly(st.sampled_from(["user", "assistant", "system", "developer"]), json_values),
         "content": mostly(texts | st.lists(response_parts, max_size=3))},
        optional={"type": st.just("message")}),
    st.fixed_dictionaries({"type": st.just("function_call"), "call_id": texts, "name": texts,
                           "arguments": st.one_of(texts, st.just('{"a":' * 300 + "1" + "}" * 300))}),
    st.fixed_dictionaries({"type": st.just("function_call_output"), "call_id": texts},
                          optional={"output": st.one_of(texts, json_values)}),
    st.fixed_dictionaries({"type": st.sampled_from(["reasoning", "custom_tool_call", "web_search_call", "x"])},
                          optional={"summary": json_values, "input": texts, "call_id": texts}),
    json_values,
), max_size=4)
response_tools = st.lists(st.one_of(
    st.fixed_dictionaries({"type": st.just("function"), "name": texts},
                          optional={"parameters": json_values, "strict": json_values}),
    st.fixed_dictionaries({"type": st.sampled_from(["web_search", "custom", "namespace", "file_search"])},
                          optional={"name": texts, "tools": json_values, "format": json_values}),
    json_values,
), max_size=2)

ROUTES: dict[str, dict[str, Any]] = {
    # field -> (strategy, chance the field is left out); "model" is always considered.
    "/v1/chat/completions": {
        "messages": (chat_messages, 0.05), "stream": (flags, 0.3), "stream_options": (stream_options, 0.6),
        "tools": (chat_tools, 0.6), "tool_choice": (json_values, 0.8), "max_tokens": (json_values, 0.6),
        "temperature": (json_values, 0.8), "n": (json_values, 0.9), "response_format": (json_values, 0.9),
    },
    "/v1/completions": {
        "prompt": (mostly(texts | st.lists(texts, max_size=3)), 0.05), "stream": (flags, 0.3),
        "stream_options": (stream_options, 0.6), "max_tokens": (json_values, 0.6), "suffix": (json_values, 0.9),
    },
    "/v1/embeddings": {
        "input": (mostly(texts | st.lists(st.integers(0, 100_000), max_size=8)), 0.05),
        "encoding_format": (json_values, 0.8), "dimensions": (json_values, 0.8),
    },
    "/v1/messages": {
        "messages": (anthropic_messages, 0.05), "max_tokens": (mostly(st.integers(1, 4096), st.integers(-2, 0) | json_values), 0.05),
        "stream": (flags, 0.3), "system": (st.one_of(texts, st.lists(anthropic_blocks, max_size=2)), 0.6),
        "tools": (anthropic_tools, 0.6), "tool_choice": (json_values, 0.8), "metadata": (json_values, 0.8),
        "stop_sequences": (json_values, 0.8), "thinking": (json_values, 0.9),
    },
    "/v1/responses": {
        "input": (mostly(texts | response_items), 0.05), "instructions": (mostly(texts), 0.6),
        "stream": (flags, 0.3), "tools": (response_tools, 0.6), "tool_choice": (json_values, 0.8),
        "max_output_tokens": (json_values, 0.7), "previous_response_id": (json_values, 0.9),
        "store": (json_values, 0.8), "reasoning": (json_values, 0.9), "text": (json_values, 0.9),
    },
}


@st.composite
def shaped(draw, path: str) -> bytes:
    """A request for ``path`` with each field kept, retyped or dropped, plus stray fields,
    and maybe one raw fragment spliced in where a value was."""
    body: dict[str, Any] = {}
    if draw(st.integers(0, 19)):
        body["model"] = draw(models)
    for name, (strategy, absent) in ROUTES[path].items():
        if draw(st.integers(0, 99)) >= absent * 100:
            body[name] = draw(strategy)
    if draw(st.booleans()):
        body.update(draw(st.dictionaries(st.text(max_size=8), json_values, max_size=2)))
    if draw(st.integers(0, 5)) == 0 and body:
        # One value (a field, or a field inside the first message) becomes a raw fragment.
        field = draw(st.sampled_from(sorted(body)))
        holder = body
        first = body.get("messages")
        if draw(st.booleans()) and isinstance(first, list) and first and isinstance(first[0], dict) and first[0]:
            holder, field = first[0], draw(st.sampled_from(sorted(first[0])))
        holder[field] = SLOT
        raw = orjson.dumps(body)
        return raw.replace(orjson.dumps(SLOT), draw(fragments), 1)
    raw = orjson.dumps(body)
    if draw(st.integers(0, 14)) == 0:
        raw = raw[: draw(st.integers(0, max(0, len(raw) - 1)))]  # cut short
    return raw


def bodies(path: str):
    return st.one_of(
        shaped(path),
        shaped(path),
        shaped(path),
        st.binary(max_size=64),
        st.text(max_size=32).map(lambda text: text.encode("utf-8", "surrogatepass")),
        json_values.map(orjson.dumps),
    )


# -- the run ----------------------------------------------------------------------------------------


@pytest.fixture
async def fuzz_server(gateway, fake_upstream, caplog):
    caplog.set_level(logging.DEBUG)
    echo_vendor.serve(fake_upstream)
    server = await gateway(CONFIG.replace("{url}", fake_upstream.url))
    async with aiohttp.ClientSession() as http:
        yield server, fake_upstream, http


# no-cache: answers are stored (so cache keys are made) but never read, so a replayed example
# reaches the vendor again and a failure reproduces.
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json", "Cache-Control": "no-cache"}


def check_error_shape(path: str, raw: bytes) -> None:
    body = orjson.loads(raw)
    if path == echo_vendor.MESSAGES:
        assert body["type"] == "error" and isinstance(body["error"]["type"], str), raw
        assert isinstance(body["error"]["message"], str) and body["error"]["message"], raw
    else:
        assert set(body["error"]) == {"message", "type", "param", "code"}, raw
        assert isinstance(body["error"]["message"], str) and body["error"]["message"], raw


def check_forwarded(request, route: str) -> None:
    """What the gateway promises a vendor: valid JSON with a configured model and the
    fields its API requires, and none of the client's credentials. A ``/v1/messages`` request
    passed through to Anthropic is the exception: Anthropic judges its fields itself."""
    assert request.path in echo_vendor.PATHS, request.path
    body = orjson.loads(request.body)
    assert isinstance(body, dict)
    assert body.get("model") in UPSTREAM_MODELS, body.get("model")
    assert body.get("stream") in (True, False, None)  # OpenAI's API takes null for "not set"
    if request.path == echo_vendor.CHAT:
        assert isinstance(body["messages"], list) and body["messages"]
        assert all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in body["messages"])
    elif request.path == echo_vendor.MESSAGES and route == echo_vendor.MESSAGES:
        pass  # passed through as sent: never stricter than Anthropic (issue 12)
    elif request.path == echo_vendor.MESSAGES:
        assert isinstance(body["messages"], list) and body["messages"]
        assert type(body["max_tokens"]) is int and body["max_tokens"] >= 1
    elif request.path == echo_vendor.COMPLETIONS:
        assert isinstance(body["prompt"], str | list)
    else:
        assert isinstance(body["input"], str | list)
    assert all(TOKEN not in value for value in request.headers.values())


# -- what the fuzz found, pinned --------------------------------------------------------------------


async def post(server, http, path: str, body: dict[str, Any]):
    async with http.post(server.base_url + path, data=orjson.dumps(body), headers=HEADERS) as response:
        return response.status, orjson.loads(await response.read())


async def test_system_text_alone_is_refused_before_translating_to_anthropic(fuzz_server):
    server, upstream, http = fuzz_server
    messages = [{"role": "developer", "content": "be brief"}, {"role": "system", "content": None}]
    status, answer = await post(server, http, "/v1/chat/completions", {"model": "to-claude", "messages": messages})
    assert status == 400, answer
    assert answer["error"]["param"] == "messages"
    assert upstream.requests == []


@pytest.mark.parametrize("limit", [1e20, 1.5, "100", 0, -1, True])
async def test_a_max_tokens_anthropic_cannot_take_is_refused_before_a_call(fuzz_server, limit):
    server, upstream, http = fuzz_server
    for name in ("max_tokens", "max_completion_tokens"):
        body = {"model": "to-claude", "messages": [{"role": "user", "content": "hi"}], name: limit}
        status, answer = await post(server, http, "/v1/chat/completions", body)
        assert status == 400, answer
        assert answer["error"]["param"] == name
    assert upstream.requests == []


# -- the fuzz ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", list(ROUTES))
async def test_fuzzed_bodies_never_break_the_gateway(fuzz_server, caplog, path):
    server, upstream, http = fuzz_server
    loop = asyncio.get_running_loop()
    seen = {"examples": 0, "ok": 0}

    async def send(raw: bytes):
        before = len(upstream.requests)
        async with http.post(server.base_url + path, data=raw, headers=HEADERS) as response:
            answer = await response.read()
        return response.status, response.headers, answer, upstream.requests[before:]

    # Hypothesis runs its (synchronous) examples in a worker thread; each request runs on this
    # loop, where the server and the fake vendor live.
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
    @given(raw=bodies(path))
    def one(raw: bytes) -> None:
        status, headers, answer, sent = asyncio.run_coroutine_threadsafe(send(raw), loop).result(60)
        seen["examples"] += 1
        assert status < 500, (status, raw[:300], answer[:300])
        assert b"Traceback" not in answer, answer[:300]
        for request in sent:
            check_forwarded(request, path)
        if status >= 400:
            assert headers["Content-Type"].startswith("application/json"), (status, answer[:300])
            check_error_shape(path, answer)
            assert sent == [], (status, raw[:300], answer[:300])  # refused: nothing went upstream
            return
        seen["ok"] += 1
        assert len(sent) == 1, (raw[:300], headers)
        if headers["Content-Type"].startswith("text/event-stream") and path == RESPONSES:
            # A Response object carries "error": null, so the stream's end is what tells.
            assert b"event: response.completed" in answer or b"event: response.incomplete" in answer, answer[-300:]
            assert b"event: error" not in answer and b"event: response.failed" not in answer, answer[-300:]
        elif headers["Content-Type"].startswith("text/event-stream"):
            assert answer.rstrip().endswith(b"[DONE]") or b"event: message_stop" in answer, answer[-300:]
            assert b'"error"' not in answer, answer[-300:]
        else:
            orjson.loads(answer)

    await asyncio.to_thread(one)
    assert seen["examples"] >= EXAMPLES
    assert seen["ok"] > 0  # the fuzz reaches the vendors, not only the front door
    assert "Traceback" not in caplog.text
    assert [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []
