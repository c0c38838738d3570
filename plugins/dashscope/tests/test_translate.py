"""The pure DashScope translation, on payloads recorded in DashScope's own wire format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sluicegate.errors import InvalidRequest
from sluicegate_dashscope import translate
from sluicegate_dashscope.translate import (
    DROPPED_FIELDS,
    StreamTranslator,
    chat_completion,
    chat_request,
    classify_error,
    error_details,
    request_defaults,
)

FIXTURES = Path(__file__).parent / "fixtures"
DEFAULTS = request_defaults()
CREATED = 1730000000


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def request(body: dict, stream: bool = False, defaults: dict = DEFAULTS) -> tuple[dict, bool]:
    return chat_request({"model": "alias", **body}, "qwen-plus", stream=stream, defaults=defaults)


def run_stream(events: list[dict], include_usage: bool = False) -> tuple[list[dict], StreamTranslator]:
    translator = StreamTranslator("qwen-plus", CREATED, include_usage)
    chunks = [chunk for event in events for chunk in translator.feed(event)]
    return chunks + translator.finish(), translator


# -- requests ---------------------------------------------------------------------------------


def test_text_request_shape_and_sampling_parameters():
    body, multimodal = request(
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Answer in English."}]},
                {"role": "user", "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": "there"}]},
            ],
            "temperature": 0.3,
            "top_p": 0.9,
            "seed": 7,
            "presence_penalty": 0.5,
            "n": 2,
            "stop": ["\n\n"],
            "max_tokens": 64,
            "response_format": {"type": "json_object"},
        }
    )
    assert multimodal is False
    assert body == {
        "model": "qwen-plus",
        "input": {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "system", "content": "Answer in English."},
                {"role": "user", "content": "Hello\nthere"},
            ]
        },
        "parameters": {
            "result_format": "message",
            "temperature": 0.3,
            "top_p": 0.9,
            "seed": 7,
            "presence_penalty": 0.5,
            "n": 2,
            "stop": ["\n\n"],
            "response_format": {"type": "json_object"},
            "max_tokens": 64,
        },
    }


def test_max_completion_tokens_wins_and_streams_ask_for_incremental_output():
    body, _ = request({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 10,
                       "max_completion_tokens": 20}, stream=True)
    assert body["parameters"]["max_tokens"] == 20
    assert body["parameters"]["incremental_output"] is True
    body, _ = request({"messages": [{"role": "user", "content": "hi"}]})
    assert "incremental_output" not in body["parameters"]
    assert "max_tokens" not in body["parameters"]


def test_openai_only_fields_are_dropped_and_vendor_parameters_pass():
    extra = {name: 1 for name in DROPPED_FIELDS}
    body, _ = request(
        {
            "messages": [{"role": "user", "content": "hi"}],
            "stream_options": {"include_usage": True},
            "some_unknown_field": {"x": 1},
            "enable_thinking": True,
            "top_k": 20,
            **extra,
        },
        stream=True,
    )
    assert body["parameters"] == {
        "result_format": "message",
        "incremental_output": True,
        "enable_thinking": True,
        "top_k": 20,
    }
    assert set(body) == {"model", "input", "parameters"}


def test_provider_defaults_are_the_starting_parameters_and_are_not_mutated():
    defaults = request_defaults(enable_search=True)
    body, _ = request({"messages": [{"role": "user", "content": "news?"}], "temperature": 1}, defaults=defaults)
    assert body["parameters"] == {"result_format": "message", "enable_search": True, "temperature": 1}
    assert defaults == {"result_format": "message", "enable_search": True}


def test_tools_and_tool_results_round_trip_in_dashscope_form():
    tools = [{"type": "function", "function": {"name": "get_current_weather", "parameters": {"type": "object"}}}]
    body, _ = request(
        {
            "messages": [
                {"role": "user", "content": "Weather in Hangzhou?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "call_1", "type": "function",
                         "function": {"name": "get_current_weather", "arguments": '{"location": "杭州"}'}},
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "24°C, sunny"},
            ],
            "tools": tools,
            "tool_choice": "auto",
            "parallel_tool_calls": True,
        }
    )
    assert body["input"]["messages"][1:] == [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "get_current_weather", "arguments": '{"location": "杭州"}'}},
            ],
        },
        # DashScope's older models want the function's name on the result too.
        {"role": "tool", "content": "24°C, sunny", "tool_call_id": "call_1", "name": "get_current_weather"},
    ]
    assert body["parameters"]["tools"] == tools
    assert body["parameters"]["tool_choice"] == "auto"
    assert body["parameters"]["parallel_tool_calls"] is True


def test_images_switch_to_the_multimodal_form_for_every_message():
    body, multimodal = request(
        {
            "messages": [
                {"role": "system", "content": "You describe images."},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K", "detail": "high"}},
                        {"type": "image_url", "image_url": "https://example.com/dog.jpeg"},
                    ],
                },
            ]
        }
    )
    assert multimodal is True
    assert body["input"]["messages"] == [
        {"role": "system", "content": [{"text": "You describe images."}]},
        {
            "role": "user",
            "content": [
                {"text": "What is this?"},
                {"image": "data:image/png;base64,iVBORw0K"},
                {"image": "https://example.com/dog.jpeg"},
            ],
        },
    ]


@pytest.mark.parametrize(
    "messages, param",
    [
        ([{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}]}],
         "messages[0].content[0]"),
        ([{"role": "user", "content": [{"type": "file", "file": {"file_id": "f"}}]}], "messages[0].content[0]"),
        ([{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}], "messages[0].content[0].image_url"),
        ([{"role": "user", "content": [{"type": "text", "text": 3}]}], "messages[0].content[0].text"),
        ([{"role": "user", "content": 42}], "messages[0].content"),
        ([{"role": "function", "name": "f", "content": "x"}], "messages[0].role"),
        ([{"role": "user", "content": "x"}, {"role": "tool", "content": "r"}], "messages[1].tool_call_id"),
        ([{"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "f"}}]}],
         "messages[0].tool_calls[0]"),
        ([{"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": {}}}]}],
         "messages[0].tool_calls[0].function.arguments"),
        (["hello"], "messages[0]"),
        ([], "messages"),
    ],
)
def test_untranslatable_input_is_refused_with_the_offending_param(messages, param):
    with pytest.raises(InvalidRequest) as caught:
        request({"messages": messages})
    assert caught.value.status == 400
    assert caught.value.param == param


# -- answers ----------------------------------------------------------------------------------


def test_text_answer_becomes_a_chat_completion():
    assert chat_completion(fixture("text_response.json"), model="qwen-plus", created=CREATED) == {
        "id": "chatcmpl-902fee3b-f7f0-9a8c-96a1-6b4ea25af114",
        "object": "chat.completion",
        "created": CREATED,
        "model": "qwen-plus",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant",
                            "content": "我是通义千问，由阿里云开发的超大规模语言模型。有什么可以帮你的吗？"},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 22, "completion_tokens": 17, "total_tokens": 39,
                  "prompt_tokens_details": {"cached_tokens": 16}},
    }


def test_tool_call_answer_has_null_content_and_openai_tool_calls():
    completion = chat_completion(fixture("tool_call_response.json"), model="qwen-plus", created=CREATED)
    (choice,) = completion["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_1e9c7d8f4a5b4c3d9e2f10", "type": "function",
             "function": {"name": "get_current_weather", "arguments": '{"location": "杭州市"}'}}
        ],
    }
    assert completion["usage"] == {"prompt_tokens": 217, "completion_tokens": 18, "total_tokens": 235}


def test_multimodal_answer_joins_text_parts_and_computes_the_missing_total():
    completion = chat_completion(fixture("multimodal_response.json"), model="qwen-vl-max", created=CREATED)
    assert completion["choices"][0]["message"]["content"] == "图中是一位女子和一只狗在沙滩上玩耍，狗正抬起前爪和她击掌。"
    assert completion["usage"] == {"prompt_tokens": 1271, "completion_tokens": 28, "total_tokens": 1299}
    assert completion["model"] == "qwen-vl-max"


def test_text_result_format_answer_is_still_understood():
    data = {"output": {"text": "Hi!", "finish_reason": "length"}, "usage": {"input_tokens": 3, "output_tokens": 2},
            "request_id": "r1"}
    (choice,) = chat_completion(data, model="qwen-turbo", created=CREATED)["choices"]
    assert choice["message"]["content"] == "Hi!"
    assert choice["finish_reason"] == "length"


def test_an_answer_without_output_is_refused():
    with pytest.raises(ValueError):
        chat_completion({"request_id": "r"}, model="m", created=CREATED)


# -- streams ----------------------------------------------------------------------------------


def test_text_stream_becomes_openai_chunks():
    chunks, translator = run_stream(fixture("stream_text.json"))
    assert translator.complete
    assert {chunk["id"] for chunk in chunks} == {"chatcmpl-71689cfc-1f42-9949-86e8-9563b7f832b1"}
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert [(c["choices"][0]["delta"], c["choices"][0]["finish_reason"]) for c in chunks] == [
        ({"role": "assistant", "content": "你好！"}, None),
        ({"content": "有什么我可以"}, None),
        ({"content": "帮助你的吗？"}, None),
        ({}, "stop"),
    ]


def test_usage_chunk_only_when_asked_and_with_the_last_cumulative_usage():
    chunks, _ = run_stream(fixture("stream_text.json"), include_usage=True)
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 22, "completion_tokens": 9, "total_tokens": 31,
                                   "prompt_tokens_details": {"cached_tokens": 0}}
    assert all("usage" not in chunk for chunk in chunks[:-1])
    chunks, _ = run_stream(fixture("stream_text.json"), include_usage=False)
    assert all("usage" not in chunk for chunk in chunks)


def test_tool_call_stream_becomes_indexed_deltas_that_assemble():
    chunks, translator = run_stream(fixture("stream_tool_call.json"))
    assert translator.complete
    deltas = [delta for chunk in chunks for delta in chunk["choices"][0]["delta"].get("tool_calls", ())]
    assert deltas == [
        {"index": 0, "id": "call_ec2ad9fd6f8a4a7c9b1d3e", "type": "function",
         "function": {"name": "get_current_weather", "arguments": '{"location":'}},
        {"index": 0, "function": {"arguments": ' "杭州'}},
        {"index": 0, "function": {"arguments": '市"}'}},
        {"index": 1, "id": "call_5f1b0a9e2c3d4e6f8a7b9c", "type": "function",
         "function": {"name": "get_current_time", "arguments": "{}"}},
    ]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "tool_calls"}
    assembled: dict[int, str] = {}
    for delta in deltas:
        assembled[delta["index"]] = assembled.get(delta["index"], "") + delta["function"]["arguments"]
    assert json.loads(assembled[0]) == {"location": "杭州市"}


def test_a_late_function_name_is_still_sent_once():
    translator = StreamTranslator("m", CREATED, False)
    first = {"output": {"choices": [{"message": {"tool_calls": [{"index": 0, "id": "call_a", "function": {}}]},
                                      "finish_reason": "null"}]}, "request_id": "r"}
    named = {"output": {"choices": [{"message": {"tool_calls": [{"index": 0, "function": {"name": "f",
                                                                                           "arguments": "{}"}}]},
                                     "finish_reason": "null"}]}, "request_id": "r"}
    calls = [d for event in (first, named, named) for c in translator.feed(event)
             for d in c["choices"][0]["delta"].get("tool_calls", ())]
    assert calls == [
        {"index": 0, "id": "call_a", "type": "function", "function": {"name": "", "arguments": ""}},
        {"index": 0, "function": {"name": "f", "arguments": "{}"}},
        {"index": 0, "function": {"arguments": "{}"}},
    ]


def test_reasoning_stream_keeps_reasoning_content_apart_from_the_answer():
    chunks, _ = run_stream(fixture("stream_reasoning.json"), include_usage=True)
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks if chunk["choices"]]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == "Hmm, the user asks who I am."
    assert "".join(d.get("content", "") for d in deltas) == "I am Qwen."
    assert chunks[-1]["usage"]["completion_tokens_details"] == {"reasoning_tokens": 10}


def test_a_stream_cut_before_its_finish_is_not_complete():
    _, translator = run_stream(fixture("stream_text.json")[:-1])
    assert not translator.complete
    _, translator = run_stream([])
    assert not translator.complete


def test_every_choice_must_finish():
    translator = StreamTranslator("m", CREATED, False)
    translator.feed({"output": {"choices": [
        {"index": 0, "message": {"content": "a"}, "finish_reason": "stop"},
        {"index": 1, "message": {"content": "b"}, "finish_reason": "null"},
    ]}, "request_id": "r"})
    assert not translator.complete
    translator.feed({"output": {"choices": [{"index": 1, "message": {"content": ""}, "finish_reason": "length"}]},
                     "request_id": "r"})
    assert translator.complete


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code, status, kind, retryable",
    [
        ("InvalidParameter", 400, "invalid_request_error", False),
        ("DataInspectionFailed", 400, "invalid_request_error", False),
        ("Arrearage", 400, "insufficient_quota", False),
        ("InvalidApiKey", 401, "authentication_error", False),
        ("AccessDenied", 403, "permission_error", False),
        ("ModelNotFound", 404, "invalid_request_error", False),
        ("Throttling.RateQuota", 429, "rate_limit_error", True),
        ("Throttling.AllocationQuota", 429, "rate_limit_error", True),
        ("PrepaidBillOverdue", 429, "insufficient_quota", False),
        ("InternalError", 500, "upstream_error", True),
        ("ModelUnavailable", 503, "upstream_error", True),
    ],
)
def test_recorded_error_bodies_classify(code, status, kind, retryable):
    recorded = fixture("errors.json")[code]
    got_code, message = error_details(json.dumps(recorded["body"]).encode())
    assert (got_code, message) == (code, recorded["body"]["message"])
    assert classify_error(got_code, recorded["status"]) == translate.ErrorClass(status, kind, retryable)
    # Inside a stream the status is not at hand: the code's documented status stands in.
    assert classify_error(got_code, None) == translate.ErrorClass(status, kind, retryable)


@pytest.mark.parametrize("status", [400, 403, 429, 500, 503])
def test_arrears_and_moderation_are_never_retryable_whatever_the_status(status):
    assert classify_error("Arrearage", status).retryable is False
    assert classify_error("DataInspectionFailed", status).retryable is False
    assert classify_error("Throttling", status).retryable is True


def test_unknown_codes_follow_their_status():
    assert classify_error("SomethingNew", 502) == translate.ErrorClass(502, "upstream_error", True)
    assert classify_error("SomethingNew", 400) == translate.ErrorClass(400, "invalid_request_error", False)
    assert classify_error(None, None) == translate.ErrorClass(500, "upstream_error", True)


@pytest.mark.parametrize("name", ["stream:InvalidParameter", "stream:DataInspectionFailed"])
def test_error_bodies_of_stream_requests_are_sse(name):
    recorded = fixture("errors.json")[name]
    code, message = error_details(recorded["sse"].encode())
    assert code == name.partition(":")[2]
    assert message and message != "no error message"


def test_error_details_of_other_shapes():
    assert error_details(b'{"error": {"code": "invalid_api_key", "message": "Incorrect API key provided."}}') == (
        "invalid_api_key", "Incorrect API key provided.")
    assert error_details(b"<html>Bad Gateway</html>") == (None, "<html>Bad Gateway</html>")
    assert error_details(b"") == (None, "no error message")
    assert error_details(b"event:error\ndata:{not json\n\n")[0] is None
