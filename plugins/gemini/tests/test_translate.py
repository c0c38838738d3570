"""The pure OpenAI <-> Gemini translation, on payloads shaped as Gemini's documented examples."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from sluicegate.errors import InvalidRequest
from sluicegate.resilience.classify import ErrorClass
from sluicegate.sse import iter_sse
from sluicegate_gemini import errors, translate

FIXTURES = Path(__file__).parent / "fixtures"
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
            "additionalProperties": False,
        },
    },
}


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def ids():
    counter = itertools.count(1)
    return lambda: f"call_gen{next(counter)}"


async def sse_events(name: str) -> list[dict]:
    async def chunks():
        yield (FIXTURES / name).read_bytes()

    return [json.loads(event.data) async for event in iter_sse(chunks())]


# -- request ----------------------------------------------------------------------------------


def test_system_turns_and_generation_config():
    body = {
        "model": "chat",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Bonjour."},
            {"role": "user", "content": [{"type": "text", "text": "And goodbye?"}]},
        ],
        "max_completion_tokens": 100,
        "max_tokens": 5,  # the newer name wins
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": "END",
        "seed": 7,
        "n": 2,
        "presence_penalty": 0.1,
        "frequency_penalty": 0.3,
        "user": "u-1",  # no counterpart: dropped
        "parallel_tool_calls": True,
    }
    assert translate.chat_request(body) == {
        "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Answer in French."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "Hello"}]},
            {"role": "model", "parts": [{"text": "Bonjour."}]},
            {"role": "user", "parts": [{"text": "And goodbye?"}]},
        ],
        "generationConfig": {
            "maxOutputTokens": 100,
            "temperature": 0.2,
            "topP": 0.9,
            "stopSequences": ["END"],
            "seed": 7,
            "candidateCount": 2,
            "presencePenalty": 0.1,
            "frequencyPenalty": 0.3,
        },
    }


def test_images_inline_and_by_url():
    body = {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "Compare."},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + PIXEL}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg?size=large"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/unknown"}},
    ]}]}
    assert translate.chat_request(body)["contents"][0]["parts"] == [
        {"text": "Compare."},
        {"inlineData": {"mimeType": "image/png", "data": PIXEL}},
        {"fileData": {"fileUri": "https://example.com/cat.jpg?size=large", "mimeType": "image/jpeg"}},
        {"fileData": {"fileUri": "https://example.com/unknown"}},
    ]


@pytest.mark.parametrize(
    "url, says",
    [
        ("data:image/png," + PIXEL, "data:<type>;base64"),
        ("data:image/png;base64,not*base64!", "not valid base64"),
        ("file:///etc/passwd", "data: or https: URL"),
    ],
)
def test_bad_images_are_refused(url, says):
    body = {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]}
    with pytest.raises(InvalidRequest, match=says) as caught:
        translate.chat_request(body)
    assert caught.value.param == "messages[0].content[0]"


def test_tools_and_tool_choice():
    body = {"messages": [{"role": "user", "content": "Weather in Boston?"}], "tools": [WEATHER]}
    sent = translate.chat_request({**body, "tool_choice": "required"})
    assert sent["tools"] == [{"functionDeclarations": [{
        "name": "get_current_weather",
        "description": "Current weather in a city.",
        "parametersJsonSchema": WEATHER["function"]["parameters"],
    }]}]
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert translate.chat_request({**body, "tool_choice": "auto"})["toolConfig"] == {
        "functionCallingConfig": {"mode": "AUTO"}}
    assert translate.chat_request({**body, "tool_choice": "none"})["toolConfig"] == {
        "functionCallingConfig": {"mode": "NONE"}}
    named = {"type": "function", "function": {"name": "get_current_weather"}}
    assert translate.chat_request({**body, "tool_choice": named})["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_current_weather"]}}
    assert "toolConfig" not in translate.chat_request(body)
    with pytest.raises(InvalidRequest, match="tool_choice"):
        translate.chat_request({**body, "tool_choice": "sometimes"})
    with pytest.raises(InvalidRequest, match="function tool"):
        translate.chat_request({**body, "tools": [{"type": "web_search"}]})


def test_parallel_calls_and_their_results_go_back_as_gemini_wants():
    messages = [
        {"role": "user", "content": "Weather in Boston and Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_a" + translate.SIGNATURE_SEPARATOR + "c2lnbmF0dXJl", "type": "function",
             "function": {"name": "get_current_weather", "arguments": '{"location": "Boston, MA"}'}},
            {"id": "call_b", "type": "function",
             "function": {"name": "get_current_weather", "arguments": '{"location": "Paris"}'}},
        ]},
        {"role": "tool", "tool_call_id": "call_a" + translate.SIGNATURE_SEPARATOR + "c2lnbmF0dXJl",
         "content": '{"temperature": 21, "unit": "C"}'},
        {"role": "tool", "tool_call_id": "call_b", "content": [{"type": "text", "text": "18C, rain"}]},
        {"role": "user", "content": "Thanks."},
    ]
    assert translate.chat_request({"messages": messages, "tools": [WEATHER]})["contents"] == [
        {"role": "user", "parts": [{"text": "Weather in Boston and Paris?"}]},
        {"role": "model", "parts": [
            {"functionCall": {"id": "call_a", "name": "get_current_weather", "args": {"location": "Boston, MA"}},
             "thoughtSignature": "c2lnbmF0dXJl"},
            {"functionCall": {"id": "call_b", "name": "get_current_weather", "args": {"location": "Paris"}}},
        ]},
        {"role": "user", "parts": [
            {"functionResponse": {"id": "call_a", "name": "get_current_weather",
                                  "response": {"temperature": 21, "unit": "C"}}},
            {"functionResponse": {"id": "call_b", "name": "get_current_weather", "response": {"result": "18C, rain"}}},
        ]},
        {"role": "user", "parts": [{"text": "Thanks."}]},
    ]


@pytest.mark.parametrize(
    "messages, says, param",
    [
        ([], "non-empty list", "messages"),
        ([{"role": "system", "content": "only a system prompt"}], "at least one user message", "messages"),
        ([{"role": "narrator", "content": "x"}], "cannot be sent to Gemini", "messages[0].role"),
        ([{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "call_x", "content": "42"}],
         "answers no earlier tool call", "messages[1].tool_call_id"),
        ([{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{not json"}}]}],
         "not valid JSON", "messages[1].tool_calls[0].function.arguments"),
        ([{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1, 2]"}}]}],
         "JSON object", "messages[1].tool_calls[0].function.arguments"),
        ([{"role": "user", "content": [{"type": "file", "file": {}}]}], "'file' cannot be sent",
         "messages[0].content[0]"),
    ],
)
def test_untranslatable_messages_are_a_clear_400(messages, says, param):
    with pytest.raises(InvalidRequest, match=says) as caught:
        translate.chat_request({"messages": messages})
    assert caught.value.param == param


def test_json_output_and_thinking():
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "additionalProperties": False}
    body = {
        "messages": [{"role": "user", "content": "Name a cat."}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "cat", "strict": True, "schema": schema}},
        "reasoning_effort": "low",
    }
    assert translate.chat_request(body)["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseJsonSchema": schema,
        "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True},
    }
    plain = {**body, "response_format": {"type": "json_object"}, "reasoning_effort": "none"}
    assert translate.chat_request(plain)["generationConfig"] == {
        "responseMimeType": "application/json",
        "thinkingConfig": {"thinkingBudget": 0, "includeThoughts": False},
    }
    with pytest.raises(InvalidRequest, match="reasoning_effort"):
        translate.chat_request({**body, "reasoning_effort": "extreme"})
    with pytest.raises(InvalidRequest, match="needs a schema"):
        translate.chat_request({**body, "response_format": {"type": "json_schema", "json_schema": {"name": "x"}}})


def test_model_path_cannot_leave_the_models_path():
    assert translate.model_path("gemini-2.5-flash") == "/models/gemini-2.5-flash"
    assert translate.model_path("models/gemini-2.5-pro") == "/models/gemini-2.5-pro"
    assert translate.model_path("../../files?key=x") == "/models/..%2F..%2Ffiles%3Fkey%3Dx"


# -- response ---------------------------------------------------------------------------------


def test_text_answer_with_thoughts_and_usage():
    completion = translate.chat_completion(fixture("text_response.json"), model="gemini-2.5-flash", created=1700,
                                           new_id=ids())
    assert completion == {
        "id": "chatcmpl-mHLsaPm6A7qBz7IP4PmFkQc",
        "object": "chat.completion",
        "created": 1700,
        "model": "gemini-2.5-flash",
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Bonjour ! Comment puis-je vous aider ?",
                "reasoning_content": "The user wants a short greeting in French.",
            },
            "logprobs": None,
            "finish_reason": "stop",
        }],
        "usage": {
            "prompt_tokens": 2057,
            "completion_tokens": 74,  # 9 answer + 65 thought tokens, as OpenAI counts them
            "total_tokens": 2131,
            "prompt_tokens_details": {"cached_tokens": 2048},
            "completion_tokens_details": {"reasoning_tokens": 65},
        },
    }


def test_parallel_function_calls_get_ids_and_keep_their_signature():
    completion = translate.chat_completion(fixture("function_calls_response.json"), model="m", created=1,
                                           new_id=ids())
    (choice,) = completion["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    assert choice["message"]["tool_calls"] == [
        {"id": "call_gen1" + translate.SIGNATURE_SEPARATOR + "CiQB0e2Kb3Yx9mFhGm1bRkVDc1pQ", "type": "function",
         "function": {"name": "get_current_weather", "arguments": '{"location":"Boston, MA"}'}},
        {"id": "call_gen2", "type": "function",
         "function": {"name": "get_current_weather", "arguments": '{"location":"San Francisco, CA"}'}},
    ]
    # Sent back, the signature returns to its part and the ids to the call and its result.
    messages = [{"role": "user", "content": "Weather?"}, choice["message"],
                {"role": "tool", "tool_call_id": choice["message"]["tool_calls"][0]["id"], "content": "21C"}]
    model_turn, results = translate.chat_request({"messages": messages})["contents"][1:]
    assert model_turn["parts"][0]["thoughtSignature"] == "CiQB0e2Kb3Yx9mFhGm1bRkVDc1pQ"
    assert model_turn["parts"][0]["functionCall"]["id"] == "call_gen1"
    assert "thoughtSignature" not in model_turn["parts"][1]
    assert results["parts"][0]["functionResponse"]["id"] == "call_gen1"


@pytest.mark.parametrize(
    "reason, expected",
    [("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"), ("RECITATION", "content_filter"),
     ("PROHIBITED_CONTENT", "content_filter"), ("OTHER", "stop")],
)
def test_finish_reasons(reason, expected):
    data = {"candidates": [{"content": {"parts": [{"text": "x"}], "role": "model"}, "finishReason": reason}]}
    assert translate.chat_completion(data, model="m", created=1, new_id=ids())["choices"][0]["finish_reason"] == expected


def test_a_blocked_prompt_is_a_content_filter_answer():
    completion = translate.chat_completion(fixture("blocked_response.json"), model="m", created=1, new_id=ids())
    assert completion["choices"] == [{"index": 0, "message": {"role": "assistant", "content": ""},
                                      "logprobs": None, "finish_reason": "content_filter"}]
    assert completion["usage"]["prompt_tokens"] == 12


def test_an_answer_without_candidates_is_not_an_answer():
    with pytest.raises(ValueError):
        translate.chat_completion({"usageMetadata": {}}, model="m", created=1, new_id=ids())


# -- stream -----------------------------------------------------------------------------------


async def test_stream_of_text_with_thoughts_and_usage():
    translator = translate.StreamTranslator("gemini-2.5-flash", 1700, include_usage=True, new_id=ids())
    chunks = []
    for event in await sse_events("stream_text.sse"):
        assert not translator.done
        chunks += translator.feed(event)
    assert translator.done and not translator.ended
    chunks += translator.finish()
    deltas = [(chunk["choices"][0]["delta"], chunk["choices"][0]["finish_reason"]) for chunk in chunks[:-1]]
    assert deltas == [
        ({"role": "assistant", "reasoning_content": "Thinking about cats."}, None),
        ({"content": "Cats purr"}, None),
        ({"content": " when content."}, None),
        ({}, "stop"),
    ]
    assert {chunk["id"] for chunk in chunks} == {"chatcmpl-s1PsaK6pL4OBz7IPlZWgqAs"}
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 8, "completion_tokens": 45, "total_tokens": 53,
        "prompt_tokens_details": {"cached_tokens": 4}, "completion_tokens_details": {"reasoning_tokens": 40},
    }


async def test_stream_without_include_usage_has_no_usage_chunk():
    translator = translate.StreamTranslator("m", 1, include_usage=False, new_id=ids())
    for event in await sse_events("stream_text.sse"):
        translator.feed(event)
    assert translator.finish() == []


async def test_stream_of_parallel_function_calls():
    translator = translate.StreamTranslator("m", 1, include_usage=False, new_id=ids())
    (event,) = await sse_events("stream_function_calls.sse")
    first, last = translator.feed(event)
    assert first["choices"][0]["delta"] == {"role": "assistant", "tool_calls": [
        {"index": 0, "id": "call_gen1" + translate.SIGNATURE_SEPARATOR + "EsoBCsYBAdHtim9", "type": "function",
         "function": {"name": "get_current_weather", "arguments": '{"location":"Boston, MA"}'}},
        {"index": 1, "id": "call_gen2", "type": "function",
         "function": {"name": "get_current_weather", "arguments": '{"location":"Paris"}'}},
    ]}
    assert last["choices"][0]["finish_reason"] == "tool_calls"
    assert translator.done


def test_stream_of_a_blocked_prompt():
    translator = translate.StreamTranslator("m", 1, include_usage=False, new_id=ids())
    (chunk,) = translator.feed(fixture("blocked_response.json"))
    assert chunk["choices"][0]["finish_reason"] == "content_filter"
    assert translator.done


# -- errors -----------------------------------------------------------------------------------


def read(name: str) -> errors.GeminiError:
    return errors.error_details((FIXTURES / name).read_bytes())


def test_rate_limit_carries_its_retry_delay():
    error = read("rate_limited.json")
    assert (error.status, error.code, error.retry_delay) == ("RESOURCE_EXHAUSTED", 429, 29.0)
    assert [errors.retry_after_header(delay) for delay in (29.0, 29.5, 0.2)] == ["29", "30", "1"]
    assert errors.classify_error(error, 429) == errors.ErrorKind(429, "rate_limit_error", ErrorClass.RATE_LIMIT)


def test_bad_key_is_an_authentication_error():
    error = read("bad_key.json")
    assert (error.status, error.reason) == ("INVALID_ARGUMENT", "API_KEY_INVALID")
    assert errors.classify_error(error, 400) == errors.ErrorKind(401, "authentication_error", ErrorClass.AUTHENTICATION)


@pytest.mark.parametrize(
    "status, message, http, expected",
    [
        ("INVALID_ARGUMENT", "* GenerateContentRequest.contents: contents is not specified", 400,
         (400, "invalid_request_error", ErrorClass.INVALID_REQUEST)),
        ("INVALID_ARGUMENT", "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
         400, (400, "invalid_request_error", ErrorClass.CONTEXT_LENGTH)),
        ("UNAUTHENTICATED", "Request had invalid authentication credentials.", 401,
         (401, "authentication_error", ErrorClass.AUTHENTICATION)),
        ("PERMISSION_DENIED", "The caller does not have permission", 403,
         (403, "permission_error", ErrorClass.PERMISSION)),
        ("NOT_FOUND", "models/gemini-9 is not found", 404, (404, "not_found_error", ErrorClass.NOT_FOUND)),
        ("UNAVAILABLE", "The model is overloaded. Please try again later.", 503,
         (503, "upstream_error", ErrorClass.OVERLOADED)),
        ("INTERNAL", "An internal error has occurred.", None, (500, "upstream_error", ErrorClass.OVERLOADED)),
        ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete.", 504,
         (504, "upstream_error", ErrorClass.TIMEOUT)),
    ],
)
def test_error_classes(status, message, http, expected):
    body = json.dumps({"error": {"code": http or 500, "message": message, "status": status}}).encode()
    error = errors.error_details(body)
    assert error.message == message
    assert errors.classify_error(error, http) == errors.ErrorKind(*expected)


def test_error_bodies_in_other_shapes():
    # A stream request's error comes as a one-element JSON array.
    wrapped = errors.error_details(b'[{"error": {"code": 429, "message": "Slow down", "status": "RESOURCE_EXHAUSTED"}}]')
    assert (wrapped.message, wrapped.status, wrapped.retry_delay) == ("Slow down", "RESOURCE_EXHAUSTED", None)
    assert errors.error_details(b"<html>502 Bad Gateway</html>").message == "<html>502 Bad Gateway</html>"
    assert errors.error_details(b'{"unexpected": true}').message == "no error message"
    odd_delay = {"error": {"status": "RESOURCE_EXHAUSTED", "details": [{"retryDelay": "soon"}]}}
    assert errors.error_details(json.dumps(odd_delay).encode()).retry_delay is None
