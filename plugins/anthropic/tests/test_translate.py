"""The pure translation, over payloads shaped as Anthropic's API documents and sends them."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import orjson
import pytest

from sluicegate.errors import InvalidRequest
from sluicegate.sse import iter_sse
from sluicegate.translate.anthropic_dialect import ERROR_STATUS, client_status
from sluicegate_anthropic.translate import (
    DROPPED_FIELDS,
    StreamTranslator,
    is_retryable,
    openai_error_type,
    to_anthropic_request,
    to_openai_completion,
)

FIXTURES = Path(__file__).with_name("fixtures")
MODEL = "claude-sonnet-4-5-20250929"
CREATED = 1730000000


def load(name: str):
    return json.loads((FIXTURES / name).read_text())


def translate(body: dict, default_max_tokens: int = 4096) -> dict:
    return to_anthropic_request(body, MODEL, default_max_tokens)


def chat(*messages: dict, **fields) -> dict:
    return {"model": "chat", "messages": list(messages), **fields}


USER = {"role": "user", "content": "hi"}


# -- requests ---------------------------------------------------------------------------------


def test_full_conversation_matches_the_recorded_anthropic_request():
    fixture = load("request_conversation.json")
    original = copy.deepcopy(fixture["openai"])
    assert translate(fixture["openai"]) == fixture["anthropic"]
    assert fixture["openai"] == original  # the client's parsed body is shared; it must not change


def test_dropped_fields_are_the_documented_ones_and_unknown_fields_pass():
    body = chat(USER, **{name: 1 for name in DROPPED_FIELDS}, top_k=5, thinking={"type": "enabled"})
    sent = translate(body)
    assert DROPPED_FIELDS.isdisjoint(sent)
    assert sent["top_k"] == 5 and sent["thinking"] == {"type": "enabled"}
    assert "stream_options" not in translate(chat(USER, stream=True, stream_options={"include_usage": True}))


def test_minimal_request_gets_the_default_max_tokens_and_plain_string_content():
    assert translate(chat(USER), default_max_tokens=1234) == {
        "model": MODEL,
        "max_tokens": 1234,
        "messages": [{"role": "user", "content": "hi"}],
    }


@pytest.mark.parametrize(
    "fields, expected",
    [({"max_tokens": 7}, 7), ({"max_completion_tokens": 9}, 9), ({"max_tokens": 7, "max_completion_tokens": 9}, 9),
     ({"max_tokens": None}, 4096)],
)
def test_max_tokens_sources(fields, expected):
    assert translate(chat(USER, **fields))["max_tokens"] == expected


def test_single_system_message_is_a_string_wherever_it_stands():
    sent = translate(chat(USER, {"role": "assistant", "content": "ok"}, {"role": "system", "content": "Be kind."}))
    assert sent["system"] == "Be kind."
    assert [turn["role"] for turn in sent["messages"]] == ["user", "assistant"]


def test_stop_list_and_cache_control_pass():
    part = {"type": "text", "text": "long document", "cache_control": {"type": "ephemeral"}}
    sent = translate(chat({"role": "system", "content": [part]}, USER, stop=["END", "STOP"]))
    assert sent["stop_sequences"] == ["END", "STOP"]
    assert sent["system"] == [{"type": "text", "text": "long document", "cache_control": {"type": "ephemeral"}}]


def test_tool_results_go_first_in_their_user_turn():
    call = {"id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": ""}}
    sent = translate(chat(
        USER,
        {"role": "assistant", "content": "Calling.", "tool_calls": [call]},
        {"role": "user", "content": "(while you are at it)"},
        {"role": "tool", "tool_call_id": "toolu_1", "content": ""},
    ))
    assert sent["messages"][1] == {"role": "assistant", "content": [
        {"type": "text", "text": "Calling."}, {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]}
    assert sent["messages"][2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1"}, {"type": "text", "text": "(while you are at it)"}]}


TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]


@pytest.mark.parametrize(
    "choice, parallel, expected",
    [
        (None, None, None),
        ("auto", None, {"type": "auto"}),
        ("required", None, {"type": "any"}),
        ("none", None, {"type": "none"}),
        ({"type": "function", "function": {"name": "f"}}, None, {"type": "tool", "name": "f"}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        ({"type": "function", "function": {"name": "f"}}, False,
         {"type": "tool", "name": "f", "disable_parallel_tool_use": True}),
        ("none", False, {"type": "none"}),
        ("auto", True, {"type": "auto"}),
    ],
)
def test_tool_choice(choice, parallel, expected):
    fields = {"tools": TOOLS}
    if choice is not None:
        fields["tool_choice"] = choice
    if parallel is not None:
        fields["parallel_tool_calls"] = parallel
    sent = translate(chat(USER, **fields))
    assert sent.get("tool_choice") == expected
    assert sent["tools"] == [{"name": "f", "input_schema": {"type": "object"}}]


def test_tool_choice_without_tools_is_left_out():
    sent = translate(chat(USER, tool_choice="none", parallel_tool_calls=False, tools=[]))
    assert "tool_choice" not in sent and "tools" not in sent


def _parts(*parts: dict) -> dict:
    return {"role": "user", "content": list(parts)}


def _image(url: str) -> dict:
    return {"type": "image_url", "image_url": {"url": url}}


def _tool_calls(arguments) -> dict:
    return {"role": "assistant", "content": None,
            "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": arguments}}]}


@pytest.mark.parametrize(
    "body, param",
    [
        (chat(USER, n=2), "n"),
        (chat(_parts({"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}})),
         "messages[0].content[0].type"),
        (chat(_parts({"type": "text", "text": "read"}, {"type": "file", "file": {"file_id": "file-1"}})),
         "messages[0].content[1].type"),
        (chat(_parts({"type": "video_url", "video_url": {"url": "https://x"}})), "messages[0].content[0].type"),
        (chat(USER, _tool_calls("{}"), {"role": "tool", "content": "42"}), "messages[2].tool_call_id"),
        (chat(_parts(_image("ftp://example.com/a.png"))), "messages[0].content[0].image_url.url"),
        (chat(_parts(_image("data:image/png,not-base64"))), "messages[0].content[0].image_url.url"),
        (chat(_parts(_image("/relative/a.png"))), "messages[0].content[0].image_url.url"),
        (chat(USER, _tool_calls('{"city": "Par')), "messages[1].tool_calls[0].function.arguments"),
        (chat(USER, _tool_calls("[1, 2]")), "messages[1].tool_calls[0].function.arguments"),
        (chat(USER, tools=[{"type": "custom", "custom": {"name": "grammar"}}]), "tools[0].type"),
        (chat(USER, tools=TOOLS, tool_choice={"type": "allowed_tools"}), "tool_choice"),
        (chat(USER, functions=[{"name": "f"}]), "functions"),
        (chat({"role": "function", "name": "f", "content": "x"}), "messages[0].role"),
        (chat({"role": "system", "content": [_image("https://x/a.png")]}, USER), "messages[0].content[0].type"),
    ],
)
def test_untranslatable_input_is_an_invalid_request_naming_the_field(body, param):
    with pytest.raises(InvalidRequest) as caught:
        translate(body)
    assert caught.value.status == 400
    assert caught.value.param == param


# -- answers ----------------------------------------------------------------------------------


def test_text_message():
    assert to_openai_completion(load("message_text.json"), CREATED) == {
        "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
        "object": "chat.completion",
        "created": CREATED,
        "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi! My name is Claude.", "refusal": None},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 12, "total_tokens": 22,
                  "prompt_tokens_details": {"cached_tokens": 0},
                  "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
    }


def test_tool_use_message_drops_thinking_and_counts_cached_prompt_tokens():
    answer = to_openai_completion(load("message_tool_use.json"), CREATED)
    [choice] = answer["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"] == {
        "role": "assistant",
        "content": "I'll check the weather and the time in Paris.",
        "refusal": None,
        "tool_calls": [
            {"id": "toolu_01A09q90qw90lq917835lq9", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city":"Paris","unit":"celsius"}'}},
            {"id": "toolu_01BvXyRaKcQ7kL4xS2vEoN3m", "type": "function",
             "function": {"name": "get_time", "arguments": "{}"}},
        ],
    }
    assert answer["usage"] == {
        "prompt_tokens": 472 + 1024 + 2048, "completion_tokens": 89, "total_tokens": 472 + 1024 + 2048 + 89,
        "prompt_tokens_details": {"cached_tokens": 2048},
        "cache_creation_input_tokens": 1024, "cache_read_input_tokens": 2048,
        # 5-minute and 1-hour writes apart, as Anthropic reports them: priced apart.
        "cache_creation": {"ephemeral_5m_input_tokens": 1024, "ephemeral_1h_input_tokens": 0},
    }


def test_missing_usage_counts_as_zero():
    message = {**load("message_text.json"), "usage": {"output_tokens": 3}}
    usage = to_openai_completion(message, CREATED)["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (0, 3, 3)


def test_message_with_only_tool_use_has_null_content():
    message = load("message_tool_use.json")
    message["content"] = [block for block in message["content"] if block["type"] == "tool_use"]
    assert to_openai_completion(message, CREATED)["choices"][0]["message"]["content"] is None


@pytest.mark.parametrize(
    "stop_reason, finish",
    [("end_turn", "stop"), ("stop_sequence", "stop"), ("pause_turn", "stop"), ("max_tokens", "length"),
     ("tool_use", "tool_calls"), ("refusal", "content_filter"), ("something_new", "stop")],
)
def test_finish_reasons(stop_reason, finish):
    message = {**load("message_text.json"), "stop_reason": stop_reason}
    assert to_openai_completion(message, CREATED)["choices"][0]["finish_reason"] == finish


# -- streams ----------------------------------------------------------------------------------


async def replay(name: str, include_usage: bool = False) -> tuple[list[dict], StreamTranslator]:
    """Send a recorded stream through the gateway's SSE reader and the translator, as the adapter does."""
    wire = b"".join(
        b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n" for event, data in load(name)
    )

    async def body():
        for start in range(0, len(wire), 37):  # arbitrary TCP-sized pieces
            yield wire[start:start + 37]

    translator = StreamTranslator(CREATED, include_usage=include_usage)
    chunks = []
    async for event in iter_sse(body()):
        data = event.json()
        assert data["type"] == event.event
        chunks += translator.feed(data)
    return chunks, translator


def chunk(message_id: str, delta: dict, finish: str | None = None) -> dict:
    return {"id": message_id, "object": "chat.completion.chunk", "created": CREATED, "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}


async def test_text_stream():
    chunks, translator = await replay("stream_text.json")
    msg = "msg_01PPTB1VfAYm5zB6hT3hLW8y"
    assert chunks == [
        chunk(msg, {"role": "assistant", "content": ""}),
        chunk(msg, {"content": "Hello"}),
        chunk(msg, {"content": "! How can I help?"}),
        chunk(msg, {}, "stop"),
    ]
    assert translator.finished


async def test_text_stream_with_usage_ends_with_a_usage_chunk():
    chunks, _ = await replay("stream_text.json", include_usage=True)
    assert chunks[-1] == {
        "id": "msg_01PPTB1VfAYm5zB6hT3hLW8y", "object": "chat.completion.chunk", "created": CREATED, "model": MODEL,
        "choices": [],
        "usage": {"prompt_tokens": 25 + 1200, "completion_tokens": 15, "total_tokens": 25 + 1200 + 15,
                  "prompt_tokens_details": {"cached_tokens": 1200},
                  "cache_creation_input_tokens": 0, "cache_read_input_tokens": 1200},
    }
    assert len(chunks) == 5


async def test_tool_use_stream_numbers_tool_calls_from_zero_and_drops_thinking():
    chunks, translator = await replay("stream_tool_use.json", include_usage=True)
    msg = "msg_014p7gG3wDgGV9EUtLvnow3U"

    def call(index: int, function: dict, **start) -> dict:
        return {"tool_calls": [{"index": index, **start, "function": function}]}

    assert chunks[:-1] == [
        chunk(msg, {"role": "assistant", "content": ""}),
        chunk(msg, {"content": "Let me check."}),
        chunk(msg, call(0, {"name": "get_weather", "arguments": ""}, id="toolu_01T1x1fJ34qAmk2tNTrN7Up6",
                        type="function")),
        chunk(msg, call(0, {"arguments": ""})),
        chunk(msg, call(0, {"arguments": '{"city": "Par'})),
        chunk(msg, call(0, {"arguments": 'is"}'})),
        chunk(msg, call(1, {"name": "get_time", "arguments": ""}, id="toolu_01BvXyRaKcQ7kL4xS2vEoN3m",
                        type="function")),
        chunk(msg, call(1, {"arguments": '{"timezone":"Europe/Paris"}'})),
        chunk(msg, {}, "tool_calls"),
    ]
    # Output usage comes from message_delta; input usage was only in message_start.
    assert chunks[-1]["usage"]["prompt_tokens"] == 472
    assert chunks[-1]["usage"]["completion_tokens"] == 89
    assert translator.finished


def test_unknown_events_and_server_tool_input_are_ignored():
    translator = StreamTranslator(CREATED)
    assert translator.feed({"type": "ping"}) == []
    assert translator.feed({"type": "some_future_event", "x": 1}) == []
    server_tool = {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}
    assert translator.feed({"type": "content_block_start", "index": 0, "content_block": server_tool}) == []
    delta = {"type": "input_json_delta", "partial_json": '{"query": "x"}'}
    assert translator.feed({"type": "content_block_delta", "index": 0, "delta": delta}) == []
    assert not translator.finished
    assert translator.feed({"type": "message_stop"}) == []
    assert translator.finished


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "vendor_status, status, kind, retryable",
    [(400, 400, "invalid_request_error", False), (401, 401, "authentication_error", False),
     (403, 403, "permission_error", False), (404, 404, "invalid_request_error", False),
     (413, 413, "invalid_request_error", False), (429, 429, "rate_limit_error", True),
     (500, 500, "upstream_error", True), (529, 503, "upstream_error", True)],
)
def test_error_mapping_covers_every_documented_error(vendor_status, status, kind, retryable):
    body = load("errors.json")[str(vendor_status)]
    assert client_status(vendor_status) == status
    assert openai_error_type(status) == kind
    assert is_retryable(vendor_status) is retryable
    # An in-stream error of the same type stands for the same HTTP status.
    assert ERROR_STATUS[body["error"]["type"]] == vendor_status


@pytest.mark.parametrize("vendor_status", [408, 409, 502, 504])
def test_other_transient_statuses_are_retryable(vendor_status):
    assert is_retryable(vendor_status)
