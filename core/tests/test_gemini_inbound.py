"""Gemini generateContent <-> OpenAI chat translation, the count estimate, Google's error shape and
Gemini usage, on payloads recorded from Google's documented examples (and the OpenAI answers the
Anthropic entrance's tests recorded); answers are read back with the google-genai SDK's own types."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest
from google.genai import types

from sluicegate.errors import GatewayError, InvalidRequest, ModelNotFound, UpstreamError
from sluicegate.exchange import Reply, SSEEvent
from sluicegate.sse import parse_block
from sluicegate.translate.gemini_answer import ChatToGeminiStream, chat_to_gemini
from sluicegate.translate.gemini_count import MEDIA_TOKENS, estimate_total_tokens
from sluicegate.translate.gemini_dialect import gemini_error_body, status_name, usage_metadata
from sluicegate.translate.gemini_inbound import count_request, gemini_to_chat, json_schema, wants_thoughts
from sluicegate.usage import StreamObserver, StreamUsage, cache_counts, usage_counts, usage_object

FIXTURES = Path(__file__).parent / "fixtures" / "gemini_inbound"
OPENAI = Path(__file__).parent / "fixtures" / "anthropic_inbound"


def fixture(name: str, where: Path = FIXTURES) -> Any:
    return orjson.loads((where / name).read_bytes())


def chunks(name: str) -> list[dict[str, Any]]:
    """The JSON chunks of a recorded OpenAI stream, up to [DONE]."""
    raw = (OPENAI / name).read_bytes()
    events = [parse_block(block) for block in raw.split(b"\n\n") if block.strip()]
    return [orjson.loads(event.data) for event in events if event is not None and not event.is_done]


def chat(body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return gemini_to_chat(body, "gpt-4o-mini", stream=kwargs.pop("stream", False), **kwargs)


def ask(*parts: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": list(parts)}], **fields}


def sdk(answer: dict[str, Any]) -> types.GenerateContentResponse:
    """The answer as the google-genai SDK reads it (its models take Google's camelCase names)."""
    return types.GenerateContentResponse.model_validate(answer)


# --- requests: recorded payloads ---------------------------------------------------------------


def test_the_documented_function_calling_round_trip_becomes_the_recorded_chat_request():
    body = fixture("find_theaters_request.json")
    assert chat(body, stream=True) == fixture("find_theaters_request.chat.json")


def test_a_call_without_an_id_gets_one_its_response_is_matched_to():
    messages = chat(fixture("find_theaters_request.json"))["messages"]
    call = messages[1]["tool_calls"][0]
    assert call["id"] == "call_1_0"  # turn 1, part 0: stable, so a retry sends the same request
    assert messages[2] == {"role": "tool", "tool_call_id": "call_1_0", "content": messages[2]["content"]}
    assert orjson.loads(messages[2]["content"])["content"]["movie"] == "Barbie"


def test_the_lighting_example_takes_snake_case_fields_and_limits_any_to_the_allowed_function():
    out = chat(fixture("lighting_request.json"))
    assert out["messages"][0] == {
        "role": "system",
        "content": "You are a helpful lighting system bot. You can turn lights on and off, and you can set the "
                   "color. Do not perform any other tasks.",
    }
    assert out["messages"][1] == {"role": "user", "content": "Make this place PURPLE!"}
    # "any" (any case) limited to one function: only it is offered, and it is the named choice.
    assert [tool["function"]["name"] for tool in out["tools"]] == ["set_light_color"]
    assert out["tool_choice"] == {"type": "function", "function": {"name": "set_light_color"}}


def test_the_documented_response_schema_becomes_a_json_schema_response_format():
    out = chat(fixture("cookie_recipes_request.json"))
    assert out["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": "response",
            "schema": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "recipeName": {"type": "string"},
                        "ingredients": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
        },
    }


def test_inline_image_data_becomes_a_data_url_next_to_the_text_in_order():
    body = fixture("caption_image_request.json")
    data = body["contents"][0]["parts"][0]["inline_data"]["data"]
    (message,) = chat(body)["messages"]
    assert message == {
        "role": "user",
        "content": [
            {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{data}"}},
            {"type": "text", "text": "Caption this image."},
        ],
    }


def test_a_thinking_budget_becomes_reasoning_effort_only_where_the_vendor_takes_it():
    body = fixture("thinking_request.json")
    assert chat(body, reasoning_effort=True)["reasoning_effort"] == "low"
    assert "reasoning_effort" not in chat(body)
    assert wants_thoughts(body) is True
    assert wants_thoughts(ask({"text": "x"})) is False


@pytest.mark.parametrize(
    ("thinking", "effort"),
    [
        ({"thinkingLevel": "HIGH"}, "high"),
        ({"thinking_level": "low"}, "low"),
        ({"thinkingLevel": "MINIMAL"}, "low"),
        ({"thinkingBudget": 0}, "low"),
        ({"thinkingBudget": 8192}, "medium"),
        ({"thinkingBudget": 24576}, "high"),
        ({"thinkingBudget": -1}, None),  # dynamic: the vendor's default
    ],
)
def test_thinking_levels_and_budgets_map_to_efforts(thinking, effort):
    out = chat(ask({"text": "x"}, generationConfig={"thinkingConfig": thinking}), reasoning_effort=True)
    assert out.get("reasoning_effort") == effort


def test_google_takes_a_lone_object_where_an_array_goes_and_so_does_the_bridge():
    out = chat(fixture("single_objects_request.json"))
    assert out["messages"] == [{"role": "user", "content": "Which theaters in Mountain View show the Barbie movie?"}]
    assert out["tools"][0]["function"]["name"] == "find_theaters"


# --- requests: the rest of the mapping --------------------------------------------------------


def test_the_generation_config_maps_field_by_field_and_drops_top_k():
    config = {
        "temperature": 0.2, "topP": 0.9, "topK": 40, "maxOutputTokens": 256, "stopSequences": ["END"],
        "candidateCount": 2, "seed": 7, "presencePenalty": 0.5, "frequency_penalty": 0.25,
    }
    out = chat(ask({"text": "x"}, generationConfig=config))
    assert {key: out[key] for key in out if key not in ("model", "messages")} == {
        "temperature": 0.2, "top_p": 0.9, "max_tokens": 256, "stop": ["END"], "n": 2, "seed": 7,
        "presence_penalty": 0.5, "frequency_penalty": 0.25,
    }


def test_a_stream_asks_the_vendor_for_its_usage():
    out = chat(ask({"text": "x"}), stream=True)
    assert (out["stream"], out["stream_options"]) == (True, {"include_usage": True})


def test_json_output_without_a_schema_is_a_json_object_format_and_a_json_schema_passes_as_is():
    assert chat(ask({"text": "x"}, generationConfig={"responseMimeType": "application/json"}))[
        "response_format"] == {"type": "json_object"}
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": False}
    out = chat(ask({"text": "x"}, generationConfig={"responseMimeType": "application/json",
                                                      "responseJsonSchema": schema}))
    assert out["response_format"]["json_schema"]["schema"] == schema
    assert "response_format" not in chat(ask({"text": "x"}, generationConfig={"responseMimeType": "text/plain"}))


@pytest.mark.parametrize(
    ("config", "choice", "offered"),
    [
        ({"mode": "AUTO"}, "auto", ["a", "b"]),
        ({"mode": "NONE"}, "none", ["a", "b"]),
        ({"mode": "ANY"}, "required", ["a", "b"]),
        ({"mode": "ANY", "allowedFunctionNames": ["a", "b"]}, "required", ["a", "b"]),
        ({"mode": "ANY", "allowedFunctionNames": ["b"]}, {"type": "function", "function": {"name": "b"}}, ["b"]),
        ({}, None, ["a", "b"]),
    ],
)
def test_function_calling_modes_become_tool_choices(config, choice, offered):
    tools = [{"functionDeclarations": [{"name": "a"}, {"name": "b"}]}]
    out = chat(ask({"text": "x"}, tools=tools, toolConfig={"functionCallingConfig": config}))
    assert out.get("tool_choice") == choice
    assert [tool["function"]["name"] for tool in out["tools"]] == offered


def test_no_tools_means_no_tool_choice_whatever_the_mode():
    out = chat(ask({"text": "x"}, toolConfig={"functionCallingConfig": {"mode": "NONE"}}))
    assert "tools" not in out and "tool_choice" not in out


def test_declarations_take_json_schema_parameters_as_they_are_and_none_as_an_empty_object():
    schema = {"type": "object", "properties": {"q": {"type": ["string", "null"]}}, "$defs": {}}
    tools = [{"functionDeclarations": [{"name": "search", "parametersJsonSchema": schema}, {"name": "now"}]}]
    out = chat(ask({"text": "x"}, tools=tools))
    assert out["tools"][0]["function"]["parameters"] == schema
    assert out["tools"][1]["function"]["parameters"] == {"type": "object", "properties": {}}


def test_gemini_schemas_become_json_schema_keeping_property_names_and_unknown_keys():
    schema = {
        "type": "OBJECT",
        "nullable": True,
        "properties": {
            "max_items": {"type": "INTEGER", "format": "int32", "example": 3},
            "kind": {"type": "STRING", "format": "enum", "enum": ["a", "b"]},
            "either": {"any_of": [{"type": "STRING"}, {"type": "NUMBER", "nullable": True}]},
            "tags": {"type": "ARRAY", "items": {"type": "STRING"}, "max_items": 5},
        },
        "required": ["kind"],
        "property_ordering": ["kind", "max_items"],
        "x-vendor": {"kept": True},
    }
    assert json_schema(schema) == {
        "type": ["object", "null"],
        "properties": {
            "max_items": {"type": "integer", "format": "int32"},
            "kind": {"type": "string", "enum": ["a", "b"]},
            "either": {"anyOf": [{"type": "string"}, {"type": ["number", "null"]}]},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 5},
        },
        "required": ["kind"],
        "x-vendor": {"kept": True},
    }


def parallel_history(first_response_id: str | None = None) -> dict[str, Any]:
    """Two calls of one function in one model turn, answered in the next user turn."""
    answer = {"name": "get_weather", "response": {"output": "rain"}}
    if first_response_id is not None:
        answer["id"] = first_response_id
    return {
        "contents": [
            {"role": "user", "parts": [{"text": "Weather in Paris and Tokyo?"}]},
            {"role": "model", "parts": [
                {"text": "Checking both.", "thought": True},
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                {"functionCall": {"name": "get_weather", "args": {"city": "Tokyo"}, "id": "tokyo-1"}},
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "get_weather", "id": "tokyo-1", "response": {"output": "sun"}}},
                {"functionResponse": answer},
                {"text": "Thanks, and summarise."},
            ]},
        ]
    }


def test_parallel_calls_are_answered_by_id_first_then_by_name_in_call_order():
    messages = chat(parallel_history())["messages"]
    assistant = messages[1]
    # The thought is the model's own note: not given back to a chat model.
    assert assistant["content"] is None
    assert [call["id"] for call in assistant["tool_calls"]] == ["call_1_1", "tokyo-1"]
    assert messages[2:] == [
        {"role": "tool", "tool_call_id": "tokyo-1", "content": "sun"},
        {"role": "tool", "tool_call_id": "call_1_1", "content": "rain"},
        {"role": "user", "content": "Thanks, and summarise."},
    ]


def test_model_text_pieces_join_as_they_came_and_user_texts_as_paragraphs():
    body = {"contents": [
        {"role": "user", "parts": [{"text": "first"}, {"text": "second"}]},
        {"role": "model", "parts": [{"text": "Hel"}, {"text": "lo"}]},
        {"parts": [{"text": "no role is the user"}]},
    ]}
    assert chat(body)["messages"] == [
        {"role": "user", "content": "first\n\nsecond"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "no role is the user"},
    ]


def test_file_uris_audio_and_pdfs_become_image_urls_input_audio_and_file_parts():
    (message,) = chat(ask(
        {"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/cat.png"}},
        {"inlineData": {"mimeType": "audio/mpeg", "data": "SUQz"}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0x"}},
    ))["messages"]
    assert message["content"] == [
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        {"type": "input_audio", "input_audio": {"data": "SUQz", "format": "mp3"}},
        {"type": "file", "file": {"filename": "document.pdf", "file_data": "data:application/pdf;base64,JVBERi0x"}},
    ]


def turn(*parts: dict[str, Any], role: str = "user") -> dict[str, Any]:
    return {"contents": [{"role": role, "parts": list(parts)}]}


@pytest.mark.parametrize(
    ("body", "param", "fragment"),
    [
        ({}, "contents", "contents is not specified"),
        ({"contents": "hi"}, "contents", "array of Content"),
        ({"contents": []}, "contents", "must not be empty"),
        ({"contents": [{"role": "user", "parts": []}]}, "contents[0].parts", "non-empty array"),
        ({"contents": [{"role": "user", "parts": ["hi"]}]}, "contents[0].parts[0]", "Part object"),
        (turn({"text": "x"}, role="system"), "contents[0].role", "'user' or 'model'"),
        (turn({"text": 7}), "contents[0].parts[0].text", "must be a string"),
        (turn({"unknown": 1}), "contents[0].parts[0]", "must hold text"),
        (turn({"functionCall": {"name": "f"}}), "contents[0].parts[0]", "belongs in a 'model' turn"),
        (turn({"functionResponse": {"name": "f", "response": {}}}), "contents[0].parts[0].functionResponse",
         "answers no earlier functionCall"),
        (turn({"inlineData": {"mimeType": "video/mp4", "data": "AAAA"}}), "contents[0].parts[0].inlineData.mimeType",
         "cannot be sent"),
        (turn({"executableCode": {"code": "print(1)"}}), "contents[0].parts[0]", "executableCode parts"),
        (turn({"inlineData": {"mimeType": "image/png", "data": "AAAA"}}, role="model"), "contents[0].parts[0]",
         "'model' turn"),
        ({**turn({"text": "x"}), "tools": [{"googleSearch": {}}]}, "tools[0].googleSearch", "built-in tools"),
        ({**turn({"text": "x"}), "cachedContent": "cachedContents/abc"}, "cachedContent", "context cache"),
        ({**turn({"text": "x"}), "generationConfig": {"responseMimeType": "text/x.enum"}},
         "generationConfig.responseMimeType", "cannot be asked"),
        ({**turn({"text": "x"}), "generationConfig": {"responseModalities": ["IMAGE"]}},
         "generationConfig.responseModalities", "TEXT only"),
        ({**turn({"text": "x"}), "generationConfig": {"stopSequences": [1]}}, "generationConfig.stopSequences",
         "array of strings"),
        ({**turn({"text": "x"}), "tools": [{"functionDeclarations": [{"name": "a"}]}],
          "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["b"]}}},
         "toolConfig.functionCallingConfig.allowedFunctionNames", "not a declared function"),
    ],
)
def test_what_cannot_be_bridged_is_a_400_naming_the_field(body, param, fragment):
    with pytest.raises(InvalidRequest) as caught:
        chat(body)
    assert caught.value.status == 400
    assert caught.value.param == param
    assert fragment in caught.value.message


def test_the_translation_leaves_the_clients_body_as_it_was():
    body = fixture("find_theaters_request.json")
    before = copy.deepcopy(body)
    chat(body)
    assert body == before


# --- answers ----------------------------------------------------------------------------------


def test_a_text_answer_reads_as_the_sdk_expects_with_cached_tokens():
    answer = chat_to_gemini(fixture("openai_completion_text.json", OPENAI), "chat")
    assert answer["candidates"] == [
        {"content": {"parts": [{"text": "Hello! How can I help you today?"}], "role": "model"},
         "finishReason": "STOP", "index": 0}
    ]
    assert answer["usageMetadata"] == {"promptTokenCount": 2006, "candidatesTokenCount": 10,
                                       "totalTokenCount": 2016, "cachedContentTokenCount": 1920}
    assert (answer["modelVersion"], answer["responseId"]) == ("gpt-4o-mini-2024-07-18", "B9MBs8CjcvOU2jLn4n570S5qMJKcT")
    read = sdk(answer)
    assert read.text == "Hello! How can I help you today?"
    assert read.usage_metadata.cached_content_token_count == 1920


def test_tool_calls_become_function_calls_with_their_ids_and_parsed_args():
    read = sdk(chat_to_gemini(fixture("openai_completion_tool_calls.json", OPENAI), "chat"))
    assert [(call.id, call.name, call.args) for call in read.function_calls] == [
        ("call_r8YqjL0Hh3nG2vD6kW1xZ5aB", "get_weather", {"location": "Paris, France", "unit": "celsius"}),
        ("call_T4mNpQ7sV9wX2yZ3aB5cD6eF", "get_weather", {"location": "Tokyo, Japan", "unit": "celsius"}),
    ]
    assert read.candidates[0].finish_reason == types.FinishReason.STOP


def completion(message: dict[str, Any], finish: str = "stop", **extra: Any) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "model": "m", "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            **extra}


@pytest.mark.parametrize(("finish", "reason"), [("length", "MAX_TOKENS"), ("content_filter", "SAFETY"),
                                                ("tool_calls", "STOP"), ("insufficient_system_resource", "OTHER")])
def test_finish_reasons_map_to_gemini_names(finish, reason):
    answer = chat_to_gemini(completion({"role": "assistant", "content": "x"}, finish), "chat")
    assert answer["candidates"][0]["finishReason"] == reason


def test_reasoning_becomes_a_thought_part_only_when_asked_and_thoughts_are_counted_apart():
    usage = {"prompt_tokens": 5, "completion_tokens": 30, "total_tokens": 35,
             "completion_tokens_details": {"reasoning_tokens": 20}}
    data = completion({"role": "assistant", "content": "4", "reasoning_content": "2+2"}, usage=usage)
    asked = chat_to_gemini(data, "chat", include_thoughts=True)
    assert asked["candidates"][0]["content"]["parts"] == [{"text": "2+2", "thought": True}, {"text": "4"}]
    assert asked["usageMetadata"] == {"promptTokenCount": 5, "candidatesTokenCount": 10, "totalTokenCount": 35,
                                      "thoughtsTokenCount": 20}
    assert chat_to_gemini(data, "chat")["candidates"][0]["content"]["parts"] == [{"text": "4"}]
    assert sdk(asked).text == "4"  # the SDK leaves thoughts out of .text


def test_an_empty_answer_still_has_a_text_part_so_the_sdk_reads_an_empty_string():
    assert sdk(chat_to_gemini(completion({"role": "assistant", "content": None}), "chat")).text == ""


def test_unparseable_arguments_become_an_empty_object():
    message = {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{oops"}}]}
    part = chat_to_gemini(completion(message, "tool_calls"), "chat")["candidates"][0]["content"]["parts"][0]
    assert part == {"functionCall": {"id": "c", "name": "f", "args": {}}}


@pytest.mark.parametrize("data", [{}, {"choices": []}, {"choices": ["x"]}])
def test_an_answer_without_choices_is_refused(data):
    with pytest.raises(ValueError):
        chat_to_gemini(data, "chat")


# --- streams ----------------------------------------------------------------------------------


def run_stream(recorded: str, **kwargs: Any) -> list[dict[str, Any]]:
    translator = ChatToGeminiStream("chat", **kwargs)
    events = [event for chunk in chunks(recorded) for event in translator.feed(chunk)]
    return events + translator.finish()


def test_a_stream_sends_text_as_it_comes_and_whole_calls_with_the_usage_at_the_end():
    events = run_stream("openai_stream_parallel_tools.sse")
    assert [event["candidates"][0]["content"]["parts"] for event in events[:-1]] == [
        [{"text": "Let me check"}], [{"text": " both cities."}]
    ]
    last = events[-1]
    assert last["candidates"] == [{
        "content": {"role": "model", "parts": [
            {"functionCall": {"id": "call_r8YqjL0Hh3nG2vD6kW1xZ5aB", "name": "get_weather",
                              "args": {"location": "Paris, France"}}},
            {"functionCall": {"id": "call_T4mNpQ7sV9wX2yZ3aB5cD6eF", "name": "get_weather",
                              "args": {"location": "Tokyo, Japan"}}},
        ]},
        "finishReason": "STOP",
        "index": 0,
    }]
    assert last["usageMetadata"] == {"promptTokenCount": 1310, "candidatesTokenCount": 58, "totalTokenCount": 1368,
                                     "cachedContentTokenCount": 1024}
    assert all("usageMetadata" not in event for event in events[:-1])
    assert {event["responseId"] for event in events} == {"C2a9kLm3NoPq4RsTu5VwXy6Z7AbCd"}
    assert sdk(last).function_calls[1].args == {"location": "Tokyo, Japan"}


def test_a_reasoning_stream_sends_thought_parts_when_asked_and_counts_deepseeks_cache():
    events = run_stream("deepseek_stream_reasoning.sse", include_thoughts=True)
    parts = [part for event in events for part in event["candidates"][0]["content"]["parts"]]
    thoughts = "".join(part["text"] for part in parts if part.get("thought"))
    text = "".join(part["text"] for part in parts if not part.get("thought"))
    assert thoughts.startswith("The user asks") and text.endswith(" = 4.")
    assert events[-1]["usageMetadata"] == {"promptTokenCount": 640, "candidatesTokenCount": 8, "totalTokenCount": 667,
                                           "cachedContentTokenCount": 512, "thoughtsTokenCount": 19}
    unasked = run_stream("deepseek_stream_reasoning.sse")
    assert not any(part.get("thought") for event in unasked for part in event["candidates"][0]["content"]["parts"])


def test_calls_numbered_alike_are_told_apart_by_their_ids():
    translator = ChatToGeminiStream("chat")
    for call_id, city in (("a", "Paris"), ("b", "Tokyo")):
        translator.feed({"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": call_id, "function": {"name": "w", "arguments": ""}}]}}]})
        translator.feed({"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": orjson.dumps({"city": city}).decode()}}]}}]})
    (last,) = translator.finish()
    assert [part["functionCall"] for part in last["candidates"][0]["content"]["parts"]] == [
        {"id": "a", "name": "w", "args": {"city": "Paris"}}, {"id": "b", "name": "w", "args": {"city": "Tokyo"}}
    ]


def test_a_stream_with_no_content_still_ends_with_a_finish():
    translator = ChatToGeminiStream("chat")
    assert translator.feed({"id": "chatcmpl-x", "choices": [{"index": 0, "delta": {"role": "assistant"}}]}) == []
    (last,) = translator.finish()
    assert last["candidates"][0]["finishReason"] == "STOP"
    assert sdk(last).text == ""
    assert translator.finish() == [] and translator.feed({"choices": []}) == []


# --- counting -----------------------------------------------------------------------------------


def test_the_estimate_counts_text_media_turns_system_and_tools():
    text = {"contents": [{"parts": [{"text": "a" * 400}]}]}
    assert estimate_total_tokens(text) == 100 + 4
    with_media = {"contents": [{"parts": [{"text": "a" * 400}, {"inline_data": {"mime_type": "image/png",
                                                                               "data": "x" * 9000}}]}]}
    assert estimate_total_tokens(with_media) == 100 + 4 + MEDIA_TOKENS
    nested = {"generateContentRequest": {"model": "models/x", "systemInstruction": {"parts": [{"text": "b" * 40}]},
                                         **text}}
    assert estimate_total_tokens(count_request(nested)) == 110 + 4


def test_a_count_request_without_contents_is_refused():
    with pytest.raises(InvalidRequest) as caught:
        count_request({"generateContentRequest": {"model": "models/x"}})
    assert caught.value.param == "generateContentRequest.contents"


# --- errors in Google's shape -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "name"),
    [(400, "INVALID_ARGUMENT"), (401, "UNAUTHENTICATED"), (403, "PERMISSION_DENIED"), (404, "NOT_FOUND"),
     (429, "RESOURCE_EXHAUSTED"), (500, "INTERNAL"), (503, "UNAVAILABLE"), (504, "DEADLINE_EXCEEDED"),
     (418, "INVALID_ARGUMENT"), (599, "INTERNAL")],
)
def test_statuses_get_googles_names(status, name):
    assert status_name(status) == name


def test_the_error_body_is_googles_with_the_code_as_reason_and_the_wait_as_retry_info():
    body = gemini_error_body("slow down", 429, "rate_limit_exceeded", "req_1", 2.5)
    assert body == {"error": {
        "code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED",
        "details": [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED",
             "domain": "sluicegate", "metadata": {"request_id": "req_1"}},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"},
        ],
    }}


def test_a_vendors_own_rpc_status_is_kept():
    assert gemini_error_body("no", 400, "FAILED_PRECONDITION", None)["error"]["status"] == "FAILED_PRECONDITION"


def test_the_default_plugin_shapes_only_the_gemini_api(build):
    assembly = build('[providers.m]\ntype = "mock"\n')
    body = assembly.error_body(ModelNotFound("no such model", param="model"), "rid", "gemini")
    assert body["error"]["status"] == "NOT_FOUND" and body["error"]["code"] == 404
    upstream = UpstreamError("busy", provider="p", status=503, headers={"Retry-After": "7"})
    assert assembly.error_body(upstream, "rid", "gemini")["error"]["details"][-1]["retryDelay"] == "7s"
    assert "status" not in assembly.error_body(GatewayError("x"), "rid", "openai")["error"]


# --- Gemini usage, wherever the gateway reads usage ----------------------------------------------

GEMINI_USAGE = {"promptTokenCount": 120, "candidatesTokenCount": 30, "thoughtsTokenCount": 50,
                "cachedContentTokenCount": 100, "totalTokenCount": 200}


def test_gemini_usage_counts_thoughts_as_output_and_cached_tokens_as_reads():
    assert usage_counts(GEMINI_USAGE) == (120, 80)
    assert cache_counts(GEMINI_USAGE) == (100, None)
    assert usage_metadata(None) is None


def test_a_gemini_answers_usage_is_read_from_its_bytes_even_with_a_usage_key_in_the_arguments():
    answer = {"candidates": [{"content": {"parts": [{"functionCall": {"name": "f", "args": {
        "usage": {"prompt_tokens": 1}}}}]}}], "usageMetadata": GEMINI_USAGE}
    assert usage_object(orjson.dumps(answer)) == GEMINI_USAGE
    assert Reply(orjson.dumps(answer)).usage == GEMINI_USAGE
    assert Reply.from_data(answer).usage == GEMINI_USAGE


def test_a_gemini_streams_last_usage_is_its_total():
    stream = StreamUsage()
    for usage in ({"promptTokenCount": 120, "totalTokenCount": 120}, GEMINI_USAGE):
        assert stream.see(SSEEvent.from_data({"candidates": [], "usageMetadata": usage})) is False
    assert (stream.prompt, stream.completion, stream.cached) == (120, 80, 100)


def test_a_gemini_stream_cut_before_its_usage_is_counted_by_its_text():
    observer = StreamObserver(count_content=True)
    for text in ("a" * 40, "b" * 40):
        event = {"candidates": [{"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}],
                 "responseId": "r1"}
        observer.see(SSEEvent.from_data(event))
    assert observer.tokens(10) == 10 + 20
