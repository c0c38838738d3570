"""Anthropic Messages <-> OpenAI chat translation, on recorded payloads and through the anthropic SDK."""

from __future__ import annotations

import copy
import hashlib
import importlib
from pathlib import Path
from typing import Any

import anthropic
import orjson
import pydantic
import pytest

from sluicegate.errors import InvalidRequest
from sluicegate.exchange import SSEEvent
from sluicegate.sse import parse_block
from sluicegate.translate.anthropic_dialect import anthropic_error_body, anthropic_error_type
from sluicegate.translate.anthropic_inbound import (
    TOOL_ERROR_PREFIX,
    ChatToMessageStream,
    chat_to_message,
    messages_to_chat,
)

FIXTURES = Path(__file__).parent / "fixtures" / "anthropic_inbound"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Get the current weather in a given location",
    "input_schema": {
        "type": "object",
        "properties": {
            "location": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["location"],
    },
}


PARIS_CALL = "call_r8YqjL0Hh3nG2vD6kW1xZ5aB"
TOKYO_CALL = "call_T4mNpQ7sV9wX2yZ3aB5cD6eF"


def usage_of(fresh: int, output: int, cached: int) -> dict[str, int]:
    """An Anthropic usage object as the translator reports it (no cache writes on OpenAI)."""
    return {
        "input_tokens": fresh,
        "output_tokens": output,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


# The recorded DeepSeek usage: 640 prompt tokens of which 512 were cache hits.
DEEPSEEK_USAGE = usage_of(128, 27, 512)


def load(name: str) -> Any:
    return orjson.loads((FIXTURES / name).read_bytes())


def recorded_chunks(name: str) -> list[dict[str, Any]]:
    """The JSON chunks of a recorded OpenAI SSE body, up to ``[DONE]``."""
    chunks = []
    for block in (FIXTURES / name).read_bytes().split(b"\n\n"):
        event = parse_block(block)
        if event is None:
            continue
        if event.is_done:
            return chunks
        chunks.append(event.json())
    raise AssertionError(f"{name} has no [DONE]")


def run_stream(chunks: list[dict[str, Any]], **kwargs: Any) -> list[tuple[str, dict[str, Any]]]:
    translator = ChatToMessageStream("claude-requested", **kwargs)
    events = []
    for chunk in chunks:
        events.extend(translator.feed(chunk))
    events.extend(translator.finish())
    return events


def request(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"model": "claude-x", "max_tokens": 256, "messages": list(messages), **fields}


def user(*blocks: Any) -> dict[str, Any]:
    return {"role": "user", "content": list(blocks)}


def assistant(*blocks: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": list(blocks)}


def text(value: str, **extra: Any) -> dict[str, Any]:
    return {"type": "text", "text": value, **extra}


def image_url(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


# --- request -------------------------------------------------------------------------------


def test_claude_code_request_matches_the_recorded_translation():
    body = load("claude_code_request.json")
    original = copy.deepcopy(body)
    assert messages_to_chat(body, "deepseek-chat") == load("claude_code_request.chat.json")
    assert body == original  # the client's parsed body is not modified


def test_no_cache_control_or_anthropic_only_field_reaches_the_upstream():
    chat = messages_to_chat(load("claude_code_request.json"), "m")
    encoded = orjson.dumps(chat)
    for leaked in (b"cache_control", b"thinking", b"signature", b"metadata", b"input_schema"):
        assert leaked not in encoded


def test_sdk_style_vision_request_with_forced_tool():
    body = request(
        user(
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
            text("Which of these is a cat?", cache_control={"type": "ephemeral"}),
        ),
        system="You are terse.",
        stop_sequences=["\n\nHuman:", "END"],
        temperature=0.2,
        top_p=0.9,
        top_k=40,
        metadata={"user_id": "u-42"},
        tools=[WEATHER_TOOL],
        tool_choice={"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
    )
    assert messages_to_chat(body, "gpt-4o") == {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {
                "role": "user",
                "content": [
                    image_url(f"data:image/png;base64,{PNG}"),
                    image_url("https://example.com/cat.jpg"),
                    {"type": "text", "text": "Which of these is a cat?"},
                ],
            },
        ],
        "max_tokens": 256,
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": ["\n\nHuman:", "END"],
        "user": "sha256:" + hashlib.sha256(b"u-42").hexdigest()[:32],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Get the current weather in a given location",
                    "parameters": WEATHER_TOOL["input_schema"],
                },
            }
        ],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": False,
    }


@pytest.mark.parametrize(
    ("system", "expected"),
    [
        ("Be brief.", [{"role": "system", "content": "Be brief."}]),
        (
            [text("One.", cache_control={"type": "ephemeral"}), text("Two.")],
            [{"role": "system", "content": "One.\n\nTwo."}],
        ),
        ("", []),
        ([], []),
        (None, []),
    ],
)
def test_system_becomes_one_leading_system_message(system, expected):
    chat = messages_to_chat(request({"role": "user", "content": "hi"}, system=system), "m")
    assert chat["messages"] == [*expected, {"role": "user", "content": "hi"}]


def test_plain_string_turns_pass_as_they_are():
    chat = messages_to_chat(
        request({"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello"}), "m"
    )
    assert chat["messages"] == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello"}]


def test_text_only_block_turns_become_strings_and_a_single_block_is_kept_verbatim():
    chat = messages_to_chat(request(user(text("a")), assistant(text("b")), user(text("c"), text("d"))), "m")
    assert [m["content"] for m in chat["messages"]] == ["a", "b", "c\n\nd"]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, "auto"),
        ({"type": "any"}, "required"),
        ({"type": "none"}, "none"),
        ({"type": "tool", "name": "get_weather"}, {"type": "function", "function": {"name": "get_weather"}}),
    ],
)
def test_tool_choice_mapping(choice, expected):
    chat = messages_to_chat(request(user(text("hi")), tools=[WEATHER_TOOL], tool_choice=choice), "m")
    assert chat["tool_choice"] == expected
    assert "parallel_tool_calls" not in chat


@pytest.mark.parametrize("kind", ["auto", "any"])
def test_disable_parallel_tool_use(kind):
    choice = {"type": kind, "disable_parallel_tool_use": True}
    chat = messages_to_chat(request(user(text("hi")), tools=[WEATHER_TOOL], tool_choice=choice), "m")
    assert chat["parallel_tool_calls"] is False


def test_tool_choice_without_tools_is_not_sent():
    # OpenAI refuses tool_choice (and parallel_tool_calls) when there are no tools.
    for tools in (None, []):
        body = request(user(text("hi")), tool_choice={"type": "any", "disable_parallel_tool_use": True})
        if tools is not None:
            body["tools"] = tools
        chat = messages_to_chat(body, "m")
        assert not {"tools", "tool_choice", "parallel_tool_calls"} & chat.keys()


def test_custom_tool_type_strict_and_missing_description():
    tool = {"type": "custom", "name": "noop", "input_schema": {"type": "object"}, "strict": True}
    chat = messages_to_chat(request(user(text("hi")), tools=[tool]), "m")
    assert chat["tools"] == [
        {"type": "function", "function": {"name": "noop", "parameters": {"type": "object"}, "strict": True}}
    ]


def test_stream_asks_for_usage_and_non_stream_sends_neither():
    streaming = messages_to_chat(request(user(text("hi")), stream=True), "m")
    assert streaming["stream"] is True
    assert streaming["stream_options"] == {"include_usage": True}
    for stream in (False, None):
        plain = messages_to_chat(request(user(text("hi")), stream=stream), "m")
        assert "stream" not in plain and "stream_options" not in plain


def test_tool_results_come_first_and_in_order_then_the_rest_of_the_turn():
    body = request(
        user(text("go")),
        assistant(
            {"type": "tool_use", "id": "t1", "name": "a", "input": {}},
            {"type": "tool_use", "id": "t2", "name": "b", "input": {"x": [1, 2]}},
        ),
        user(
            text("first this text"),
            {"type": "tool_result", "tool_use_id": "t2", "content": "two"},
            {"type": "tool_result", "tool_use_id": "t1", "content": [text("one"), text("uno")]},
        ),
    )
    messages = messages_to_chat(body, "m")["messages"]
    assert messages[1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "t1", "type": "function", "function": {"name": "a", "arguments": "{}"}},
            {"id": "t2", "type": "function", "function": {"name": "b", "arguments": '{"x":[1,2]}'}},
        ],
    }
    assert messages[2:] == [
        {"role": "tool", "tool_call_id": "t2", "content": "two"},
        {"role": "tool", "tool_call_id": "t1", "content": "one\n\nuno"},
        {"role": "user", "content": "first this text"},
    ]


def test_tool_result_edge_cases():
    body = request(
        user(
            {"type": "tool_result", "tool_use_id": "a"},
            {"type": "tool_result", "tool_use_id": "b", "content": [], "is_error": True},
            {"type": "tool_result", "tool_use_id": "c", "content": "boom", "is_error": True},
            {"type": "tool_result", "tool_use_id": "d", "content": "fine", "is_error": False},
            {"type": "tool_result", "tool_use_id": "e", "content": None},
        )
    )
    assert messages_to_chat(body, "m")["messages"] == [
        {"role": "tool", "tool_call_id": "a", "content": ""},
        {"role": "tool", "tool_call_id": "b", "content": TOOL_ERROR_PREFIX},
        {"role": "tool", "tool_call_id": "c", "content": TOOL_ERROR_PREFIX + "boom"},
        {"role": "tool", "tool_call_id": "d", "content": "fine"},
        {"role": "tool", "tool_call_id": "e", "content": ""},
    ]


def test_images_in_a_tool_result_reach_the_model_in_the_following_user_message():
    screenshot = {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "AAAA"}}
    body = request(user({"type": "tool_result", "tool_use_id": "t", "content": [text("shot:"), screenshot]}))
    assert messages_to_chat(body, "m")["messages"] == [
        {"role": "tool", "tool_call_id": "t", "content": "shot:"},
        {"role": "user", "content": [image_url("data:image/jpeg;base64,AAAA")]},
    ]


def test_thinking_blocks_are_dropped_and_an_assistant_turn_without_text_or_tools_is_empty():
    body = request(
        user(text("hi")),
        assistant(
            {"type": "thinking", "thinking": "hmm", "signature": "s"},
            {"type": "redacted_thinking", "data": "x"},
        ),
    )
    assert messages_to_chat(body, "m")["messages"][1] == {"role": "assistant", "content": ""}


def test_structured_output_becomes_a_json_schema_response_format():
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    body = request(user(text("count")), output_config={"format": {"type": "json_schema", "schema": schema}})
    assert messages_to_chat(body, "m")["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema, "strict": True},
    }
    effort_only = request(user(text("count")), output_config={"effort": "high"})
    assert "response_format" not in messages_to_chat(effort_only, "m")


PDF = {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}
DOCUMENT = {"type": "document", "source": PDF}
FILE_IMAGE = {"type": "image", "source": {"type": "file", "file_id": "file_011CNha8iCJcU1wXNR6q4V8w"}}
URL_IMAGE = {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
HI = user(text("hi"))


def after_hi(*blocks: Any) -> dict[str, Any]:
    """A request whose second turn is an assistant turn of ``blocks``."""
    return request(HI, assistant(*blocks))


def tool_result(content: Any) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": "t", "content": content}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (request(user(text("read this"), DOCUMENT)), "messages.0.content.1"),
        (request(user({"type": "search_result", "source": "s", "title": "t", "content": []})),
         "messages.0.content.0"),
        (request(user(FILE_IMAGE)), "messages.0.content.0.source.type"),
        (request(user({"type": "image", "source": {"type": "base64", "media_type": "image/png"}})),
         "messages.0.content.0.source"),
        (request(user({"type": "image", "source": {"type": "url"}})), "messages.0.content.0.source.url"),
        (request(user({"type": "image"})), "messages.0.content.0.source"),
        (after_hi(URL_IMAGE), "messages.1.content.0"),
        (request(user({"type": "tool_use", "id": "t", "name": "n", "input": {}})), "messages.0.content.0"),
        (after_hi({"type": "tool_result", "tool_use_id": "t"}), "messages.1.content.0"),
        (after_hi({"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}}),
         "messages.1.content.0"),
        (request(user(tool_result([text("ok"), DOCUMENT]))), "messages.0.content.0.content.1"),
        (request(user(tool_result(7))), "messages.0.content.0.content"),
        (request(user({"type": "tool_result", "content": "x"})), "messages.0.content.0.tool_use_id"),
        (after_hi({"type": "tool_use", "id": "t", "name": "n", "input": "{}"}), "messages.1.content.0.input"),
        (after_hi({"type": "tool_use", "name": "n", "input": {}}), "messages.1.content.0.id"),
        (after_hi({"type": "tool_use", "id": "t", "input": {}}), "messages.1.content.0.name"),
        (request(user({"type": "text", "text": None})), "messages.0.content.0.text"),
        (request(user({"text": "no type"})), "messages.0.content.0"),
        (request(user("not a block")), "messages.0.content.0"),
        (request({"role": "tool", "content": "x"}), "messages.0.role"),
        (request({"role": ["user"], "content": "x"}), "messages.0.role"),
        (request({"role": "user"}), "messages.0.content"),
        ({"model": "claude-x", "max_tokens": 5, "messages": []}, "messages"),
        ({"model": "claude-x", "messages": [HI]}, "max_tokens"),
        ({"model": "claude-x", "max_tokens": 0, "messages": [HI]}, "max_tokens"),
        ({"model": "claude-x", "max_tokens": True, "messages": [HI]}, "max_tokens"),
        (request(HI, {"role": "system", "content": [URL_IMAGE]}), "messages.1.content.0"),
        (request(HI, {"role": "system", "content": 7}), "messages.1.content"),
        (request({"role": "user", "content": 5}), "messages.0.content"),
        (request("not a message"), "messages.0"),
        ({"model": "claude-x", "max_tokens": 5, "messages": "hi"}, "messages"),
        (request(HI, system=[URL_IMAGE]), "system.0"),
        (request(HI, system=[text("ok"), {"type": "text"}]), "system.1.text"),
        (request(HI, system=7), "system"),
        (request(HI, tools=[WEATHER_TOOL, {"type": "web_search_20250305", "name": "web_search"}]), "tools.1"),
        (request(HI, tools=[{"type": "bash_20250124", "name": "bash"}]), "tools.0"),
        (request(HI, tools=[{"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"}]),
         "tools.0"),
        (request(HI, tools=[{"name": "x"}]), "tools.0.input_schema"),
        (request(HI, tools=[{"input_schema": {"type": "object"}}]), "tools.0.name"),
        (request(HI, tools=["x"]), "tools.0"),
        (request(HI, tools={"name": "x"}), "tools"),
        (request(HI, tools=[WEATHER_TOOL], tool_choice={"type": "function"}), "tool_choice.type"),
        (request(HI, tools=[WEATHER_TOOL], tool_choice={"type": "tool"}), "tool_choice.name"),
        (request(HI, tools=[WEATHER_TOOL], tool_choice={"type": ["auto"]}), "tool_choice.type"),
        (request(HI, tools=[WEATHER_TOOL], tool_choice="auto"), "tool_choice"),
        (request(HI, output_config={"format": {"type": "text"}}), "output_config.format"),
        (request(HI, output_config={"format": "json"}), "output_config.format"),
    ],
)
def test_untranslatable_requests_are_refused_with_the_offending_path(body, param):
    with pytest.raises(InvalidRequest) as caught:
        messages_to_chat(body, "m")
    assert caught.value.status == 400
    assert caught.value.param == param
    # The Anthropic error shape has no param field, so the path must be in the message.
    assert caught.value.message.startswith(param + ": ")


# --- non-streaming answer ------------------------------------------------------------------


def test_text_completion():
    assert chat_to_message(load("openai_completion_text.json"), "claude-requested") == {
        "id": "msg_B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "type": "message",
        "role": "assistant",
        "model": "gpt-4o-mini-2024-07-18",
        "content": [{"type": "text", "text": "Hello! How can I help you today?"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 86,
            "output_tokens": 10,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 1920,
        },
    }


def test_parallel_tool_call_completion():
    message = chat_to_message(load("openai_completion_tool_calls.json"), "claude-requested")
    assert message["content"] == [
        {"type": "tool_use", "id": PARIS_CALL, "name": "get_weather",
         "input": {"location": "Paris, France", "unit": "celsius"}},
        {"type": "tool_use", "id": TOKYO_CALL, "name": "get_weather",
         "input": {"location": "Tokyo, Japan", "unit": "celsius"}},
    ]
    assert message["stop_reason"] == "tool_use"
    assert message["usage"]["input_tokens"] == 82
    assert message["usage"]["cache_read_input_tokens"] == 0


def completion(message: dict[str, Any] | None = None, finish: Any = "stop", **fields: Any) -> dict[str, Any]:
    choice = {"index": 0, "message": {"role": "assistant", "content": "ok"} if message is None else message}
    choice["finish_reason"] = finish
    return {"choices": [choice], **fields}


@pytest.mark.parametrize(
    ("finish", "expected"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("function_call", "tool_use"),
        ("content_filter", "refusal"),
        (None, "end_turn"),
        ("insufficient_system_resource", "end_turn"),
        (["stop"], "end_turn"),  # not a string: no lookup can fail on it
    ],
)
def test_finish_reason_mapping(finish, expected):
    assert chat_to_message(completion(finish=finish), "m")["stop_reason"] == expected


def test_tool_calls_under_a_stop_finish_reason_still_stop_for_tool_use():
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    message = chat_to_message(completion({"role": "assistant", "content": "", "tool_calls": [call]}), "m")
    assert message["stop_reason"] == "tool_use"
    assert message["content"] == [{"type": "tool_use", "id": "c", "name": "f", "input": {}}]


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ({"a": 1}, {"a": 1}),
        ("", {}),
        (None, {}),
        ('{"a": 1', {}),
        ("[1, 2]", {}),
        ('"text"', {}),
    ],
)
def test_tool_arguments_that_are_not_a_json_object_become_an_empty_input(arguments, expected):
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": arguments}}
    answer = completion({"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls")
    message = chat_to_message(answer, "m")
    assert message["content"][0]["input"] == expected


def test_missing_usage_model_and_id():
    message = chat_to_message(completion(), "claude-requested")
    assert message["usage"] == usage_of(0, 0, 0)
    assert message["model"] == "claude-requested"
    assert message["id"].startswith("msg_") and len(message["id"]) > 10
    assert chat_to_message(completion(), "x")["id"] != message["id"]


def test_empty_content_gives_no_text_block():
    for content in ("", None):
        assert chat_to_message(completion({"role": "assistant", "content": content}), "m")["content"] == []


def test_reasoning_refusal_and_legacy_function_call():
    reasoning = completion({"role": "assistant", "content": "4", "reasoning_content": "2+2"})
    assert chat_to_message(reasoning, "m")["content"] == [
        {"type": "thinking", "thinking": "2+2", "signature": ""},
        {"type": "text", "text": "4"},
    ]
    refusal = completion(
        {"role": "assistant", "content": None, "refusal": "I can't help with that."}, "content_filter"
    )
    message = chat_to_message(refusal, "m")
    assert message["content"] == [{"type": "text", "text": "I can't help with that."}]
    assert message["stop_reason"] == "refusal"
    legacy = completion(
        {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": '{"q":1}'}},
        "function_call",
    )
    [block] = chat_to_message(legacy, "m")["content"]
    assert (block["type"], block["name"], block["input"]) == ("tool_use", "f", {"q": 1})
    assert block["id"].startswith("toolu_")


def test_deepseek_cache_hit_tokens_count_as_cache_reads():
    usage = {
        "prompt_tokens": 640,
        "completion_tokens": 27,
        "prompt_cache_hit_tokens": 512,
        "prompt_cache_miss_tokens": 128,
    }
    assert chat_to_message(completion(usage=usage), "m")["usage"] == DEEPSEEK_USAGE


@pytest.mark.parametrize(
    "data", [{}, {"choices": []}, {"choices": None}, {"choices": ["x"]}, {"object": "error"}]
)
def test_an_answer_without_choices_is_a_value_error(data):
    with pytest.raises(ValueError):
        chat_to_message(data, "m")


# --- stream --------------------------------------------------------------------------------


def assert_well_formed(events: list[tuple[str, dict[str, Any]]]) -> None:
    """The event grammar Anthropic's SDKs rely on."""
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert names.count("message_start") == names.count("message_delta") == names.count("message_stop") == 1
    delta_kinds = {"text": "text_delta", "tool_use": "input_json_delta", "thinking": "thinking_delta"}
    open_block: tuple[int, str] | None = None
    opened = 0
    for name, data in events:
        assert data["type"] == name
        if name == "content_block_start":
            assert open_block is None and data["index"] == opened
            open_block = (opened, data["content_block"]["type"])
            opened += 1
        elif name == "content_block_delta":
            assert open_block is not None and data["index"] == open_block[0]
            assert data["delta"]["type"] == delta_kinds[open_block[1]]
        elif name == "content_block_stop":
            assert open_block is not None and data["index"] == open_block[0]
            open_block = None
    assert open_block is None


def validate_with_sdk_types(events: list[tuple[str, dict[str, Any]]]) -> None:
    adapter = pydantic.TypeAdapter(anthropic.types.RawMessageStreamEvent)
    for _, data in events:
        adapter.validate_python(data)


def test_parallel_tool_stream_gives_the_exact_anthropic_event_sequence():
    events = run_stream(recorded_chunks("openai_stream_parallel_tools.sse"))

    def start(index, block):
        event = {"type": "content_block_start", "index": index, "content_block": block}
        return ("content_block_start", event)

    def delta(index, body):
        return ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": body})

    def stop(index):
        return ("content_block_stop", {"type": "content_block_stop", "index": index})

    zero = usage_of(0, 0, 0)
    assert events == [
        ("message_start", {"type": "message_start", "message": {
            "id": "msg_C2a9kLm3NoPq4RsTu5VwXy6Z7AbCd", "type": "message", "role": "assistant",
            "model": "gpt-4o-2024-08-06", "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": zero,
        }}),
        start(0, {"type": "text", "text": ""}),
        delta(0, {"type": "text_delta", "text": "Let me check"}),
        delta(0, {"type": "text_delta", "text": " both cities."}),
        stop(0),
        start(1, {"type": "tool_use", "id": PARIS_CALL, "name": "get_weather", "input": {}}),
        delta(1, {"type": "input_json_delta", "partial_json": '{"lo'}),
        delta(1, {"type": "input_json_delta", "partial_json": 'cation": "Paris, France"}'}),
        stop(1),
        start(2, {"type": "tool_use", "id": TOKYO_CALL, "name": "get_weather", "input": {}}),
        delta(2, {"type": "input_json_delta", "partial_json": '{"location": '}),
        delta(2, {"type": "input_json_delta", "partial_json": '"Tokyo, Japan"}'}),
        stop(2),
        ("message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            # 1310 prompt tokens of which 1024 were read from OpenAI's prompt cache.
            "usage": usage_of(286, 58, 1024),
        }),
        ("message_stop", {"type": "message_stop"}),
    ]
    assert_well_formed(events)
    validate_with_sdk_types(events)


def test_reasoning_stream_opens_a_thinking_block_then_a_text_block():
    events = run_stream(recorded_chunks("deepseek_stream_reasoning.sse"))
    assert_well_formed(events)
    validate_with_sdk_types(events)
    starts = [data["content_block"] for name, data in events if name == "content_block_start"]
    assert starts == [{"type": "thinking", "thinking": "", "signature": ""}, {"type": "text", "text": ""}]
    deltas = [data["delta"] for name, data in events if name == "content_block_delta"]
    assert deltas == [
        {"type": "thinking_delta", "thinking": "The user asks"},
        {"type": "thinking_delta", "thinking": " for 2+2."},
        {"type": "text_delta", "text": "2 + 2"},
        {"type": "text_delta", "text": " = 4."},
    ]
    name, final = events[-2]
    assert final["delta"]["stop_reason"] == "end_turn"
    # The usage rode on the finishing chunk (no usage-only chunk), with DeepSeek's cache field.
    assert final["usage"] == DEEPSEEK_USAGE
    assert events[0][1]["message"]["model"] == "deepseek-reasoner"


def chunk(delta: Any = None, finish: Any = None, **fields: Any) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {"id": "chatcmpl-1", "model": "m-1", "choices": [choice], **fields}


def test_stream_tolerates_empty_null_and_role_only_chunks():
    events = run_stream([
        {"id": "chatcmpl-1", "model": "m-1", "choices": []},
        {"id": "chatcmpl-1", "choices": None},
        {"id": "chatcmpl-1"},
        chunk({"role": "assistant"}),
        chunk(None),
        chunk({"content": None, "tool_calls": None}),
        chunk({"content": ""}),
        chunk({"content": "hi"}),
        chunk({"tool_calls": [None, {"index": 0}]}),
        chunk({}, "stop"),
    ])
    assert_well_formed(events)
    validate_with_sdk_types(events)
    names = [name for name, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "content_block_delta"]
    # A fragment without id or name still opens a tool block the client can accumulate.
    tool = [data["content_block"] for name, data in events if name == "content_block_start"][1]
    assert tool["type"] == "tool_use" and tool["id"].startswith("toolu_") and tool["input"] == {}
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    assert events[-2][1]["usage"] == {"output_tokens": 0}


def test_servers_that_repeat_the_id_or_number_every_call_zero():
    repeat = {"id": "call_a", "type": "function", "function": {"name": "f", "arguments": '{"x"'}}
    second = {"name": "g", "arguments": {"y": 2}}
    events = run_stream([
        chunk({"tool_calls": [{"index": 0, **repeat}]}),
        chunk({"tool_calls": [{"index": 0, "id": "call_a", "function": {"name": "f", "arguments": ": 1}"}}]}),
        # A second call that reuses index 0 but has its own id, in one chunk with arguments as an object.
        chunk({"tool_calls": [{"index": 0, "id": "call_b", "function": second}]}),
        chunk({}, "tool_calls"),
    ])
    assert_well_formed(events)
    blocks = [data["content_block"]["id"] for name, data in events if name == "content_block_start"]
    assert blocks == ["call_a", "call_b"]
    fragments = [data["delta"]["partial_json"] for name, data in events if name == "content_block_delta"]
    assert fragments == ['{"x"', ": 1}", '{"y":2}']


def test_a_new_index_starts_a_new_call_even_without_an_id():
    events = run_stream([
        chunk({"tool_calls": [{"index": 0, "id": "call_a", "function": {"name": "f", "arguments": "{}"}}]}),
        chunk({"tool_calls": [{"index": 1, "function": {"name": "g", "arguments": "{}"}}]}),
        chunk({}, "tool_calls"),
    ])
    assert_well_formed(events)
    blocks = [data["content_block"] for name, data in events if name == "content_block_start"]
    assert [(block["name"], block["id"][:6]) for block in blocks] == [("f", "call_a"), ("g", "toolu_")]


def test_text_after_a_tool_call_and_a_second_choice_are_handled():
    events = run_stream([
        chunk({"tool_calls": [{"index": 0, "id": "c", "function": {"name": "f", "arguments": "{}"}}]}),
        {
            "id": "x",
            "choices": [
                {"index": 1, "delta": {"content": "other choice"}},
                {"index": 0, "delta": {"content": "after"}},
            ],
        },
        chunk({}, "stop"),
    ])
    assert_well_formed(events)
    starts = [data["content_block"]["type"] for name, data in events if name == "content_block_start"]
    assert starts == ["tool_use", "text"]
    assert [data["delta"] for name, data in events if name == "content_block_delta"] == [
        {"type": "input_json_delta", "partial_json": "{}"},
        {"type": "text_delta", "text": "after"},
    ]


def test_finish_without_any_chunk_still_makes_a_complete_message():
    events = run_stream([], message_id="msg_given")
    assert [name for name, _ in events] == ["message_start", "message_delta", "message_stop"]
    assert events[0][1]["message"]["id"] == "msg_given"
    assert events[0][1]["message"]["model"] == "claude-requested"
    validate_with_sdk_types(events)


def test_length_finish_and_usage_on_the_first_chunk():
    # Some servers put a running usage on every chunk; only the final one is the answer's.
    usage = {"prompt_tokens": 12, "completion_tokens": 1}
    translator = ChatToMessageStream("claude-requested", message_id="msg_fixed")
    first = translator.feed(chunk({"role": "assistant", "content": "a"}, usage=usage))
    assert first[0][1]["message"]["id"] == "msg_fixed"
    assert first[0][1]["message"]["usage"]["input_tokens"] == 12
    assert first[0][1]["message"]["usage"]["output_tokens"] == 0
    translator.feed(chunk({}, "length", usage={"prompt_tokens": 12, "completion_tokens": 5}))
    final = translator.finish()
    assert final[-2][1]["delta"]["stop_reason"] == "max_tokens"
    assert final[-2][1]["usage"]["output_tokens"] == 5
    # Nothing more comes out once the message is over.
    assert translator.finish() == []
    assert translator.feed(chunk({"content": "late"})) == []


# --- the official anthropic SDK as the client ---------------------------------------------


def sdk_client(answer):
    """An ``anthropic.Anthropic`` whose transport is ``answer(request_body) -> (status, headers, bytes)``."""
    # The SDK has moved between HTTP libraries (httpx, httpx2); use the one it is built on.
    mro = anthropic.DefaultHttpxClient.__mro__
    base = next(cls for cls in mro if not cls.__module__.startswith("anthropic"))
    httpx = importlib.import_module(base.__module__.split(".")[0])
    seen = []

    def handle(http_request):
        seen.append(orjson.loads(http_request.content))
        status, headers, body = answer(seen[-1])
        return httpx.Response(status, headers=headers, content=body)

    client = anthropic.Anthropic(
        api_key="sk-test",
        base_url="http://gateway.test",
        max_retries=0,
        http_client=base(transport=httpx.MockTransport(handle)),
    )
    return client, seen


def test_sdk_stream_accumulates_the_translated_events_into_the_right_message():
    def answer(body):
        chat = messages_to_chat(body, "gpt-4o")
        assert chat["stream"] is True and chat["stream_options"] == {"include_usage": True}
        assert chat["tools"][0]["function"]["name"] == "get_weather"
        events = run_stream(recorded_chunks("openai_stream_parallel_tools.sse"))
        frames = b"".join(SSEEvent.from_data(data, name).frame() for name, data in events)
        return 200, {"content-type": "text/event-stream"}, frames

    client, seen = sdk_client(answer)
    with client.messages.stream(
        model="chat",
        max_tokens=1024,
        system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": "Weather in Paris and Tokyo?"}],
        tools=[WEATHER_TOOL],
    ) as stream:
        streamed_text = "".join(stream.text_stream)
        message = stream.get_final_message()

    assert seen[0]["stream"] is True
    assert streamed_text == "Let me check both cities."
    assert message.id == "msg_C2a9kLm3NoPq4RsTu5VwXy6Z7AbCd"
    assert [block.type for block in message.content] == ["text", "tool_use", "tool_use"]
    assert message.content[0].text == "Let me check both cities."
    assert [(b.id, b.name, b.input) for b in message.content[1:]] == [
        (PARIS_CALL, "get_weather", {"location": "Paris, France"}),
        (TOKYO_CALL, "get_weather", {"location": "Tokyo, Japan"}),
    ]
    assert message.stop_reason == "tool_use"
    usage = message.usage
    assert (usage.input_tokens, usage.output_tokens, usage.cache_read_input_tokens) == (286, 58, 1024)


def test_sdk_stream_accumulates_thinking():
    def answer(body):
        events = run_stream(recorded_chunks("deepseek_stream_reasoning.sse"))
        frames = b"".join(SSEEvent.from_data(data, name).frame() for name, data in events)
        return 200, {"content-type": "text/event-stream"}, frames

    client, _ = sdk_client(answer)
    with client.messages.stream(
        model="deepseek/deepseek-reasoner", max_tokens=64, messages=[{"role": "user", "content": "2+2?"}]
    ) as stream:
        message = stream.get_final_message()
    thinking, answer = message.content
    assert (thinking.type, thinking.thinking) == ("thinking", "The user asks for 2+2.")
    assert (answer.type, answer.text) == ("text", "2 + 2 = 4.")
    assert message.stop_reason == "end_turn"


def test_sdk_parses_the_translated_message_and_strict_types_accept_it():
    translated = chat_to_message(load("openai_completion_tool_calls.json"), "claude-requested")
    anthropic.types.Message.model_validate(translated)
    anthropic.types.Message.model_validate(chat_to_message(load("openai_completion_text.json"), "m"))

    client, seen = sdk_client(lambda _: (200, {"content-type": "application/json"}, orjson.dumps(translated)))
    message = client.messages.create(
        model="chat", max_tokens=256, messages=[{"role": "user", "content": "Weather?"}], tools=[WEATHER_TOOL]
    )
    assert "stream" not in messages_to_chat(seen[0], "gpt-4o")
    assert message.stop_reason == "tool_use"
    assert message.content[1].input == {"location": "Tokyo, Japan", "unit": "celsius"}


def test_sdk_surfaces_the_translated_error():
    body = anthropic_error_body("Too many requests for this token.", 429, "rate_limited", "req_123")
    client, _ = sdk_client(lambda _: (429, {"content-type": "application/json"}, orjson.dumps(body)))
    with pytest.raises(anthropic.RateLimitError) as caught:
        client.messages.create(model="m", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.body == body


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, "invalid_request", "invalid_request_error"),
        (405, "method_not_allowed", "invalid_request_error"),
        (415, "unsupported_encoding", "invalid_request_error"),
        (422, None, "invalid_request_error"),
        (409, None, "invalid_request_error"),
        (401, "invalid_api_key", "authentication_error"),
        (402, None, "billing_error"),
        (403, None, "permission_error"),
        (404, "model_not_found", "not_found_error"),
        (413, "request_too_large", "request_too_large"),
        (429, "rate_limit_exceeded", "rate_limit_error"),
        (503, "overloaded_error", "overloaded_error"),
        (503, "overloaded", "overloaded_error"),
        (529, None, "overloaded_error"),
        (503, "provider_not_configured", "api_error"),
        (504, "upstream_timeout", "timeout_error"),
        (500, "internal_error", "api_error"),
        (502, "upstream_unavailable", "api_error"),
    ],
)
def test_error_type_mapping(status, code, expected):
    assert anthropic_error_type(status, code) == expected


def test_error_body_shape():
    assert anthropic_error_body("Unknown model 'x'.", 404, "model_not_found", "req_abc") == {
        "type": "error",
        "error": {"type": "not_found_error", "message": "Unknown model 'x'."},
        "request_id": "req_abc",
    }
    assert anthropic_error_body("Slow down.", 429, None, None) == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "Slow down."},
    }
