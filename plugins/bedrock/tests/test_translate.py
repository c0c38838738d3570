"""OpenAI chat to Converse and back, on payloads shaped as AWS documents them (tests/fixtures)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sluicegate.errors import InvalidRequest
from sluicegate.translating import TRANSLATION_FAILURES
from sluicegate.usage import cache_counts, usage_counts
from sluicegate_bedrock import translate
from sluicegate_bedrock.converse_stream import ConverseStreamTranslator, StreamEvent

FIXTURES = Path(__file__).parent / "fixtures"
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
PDF = "JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+PgplbmRvYmoKdHJhaWxlcgo8PC9Sb290IDEgMCBSPj4KJSVFT0YK"


def load(name: str):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def user(content) -> dict:
    return {"messages": [{"role": "user", "content": content}]}


def converse(body: dict, *, claude: bool = False) -> dict:
    return translate.converse_request(body, claude=claude)


# -- requests ---------------------------------------------------------------------------------


def test_a_conversation_with_parallel_tool_calls_matches_the_documented_converse_body():
    # System, a turn, an assistant turn with text and two tool calls, both results and the
    # user's next words in ONE user turn (Converse wants the roles to alternate).
    assert converse(load("chat_request_tools.json")) == load("converse_request_tools.json")


def test_consecutive_turns_of_one_role_are_merged():
    body = {"messages": [
        {"role": "user", "content": "one"},
        {"role": "user", "content": [{"type": "text", "text": "two"}]},
        {"role": "assistant", "content": "three"},
        {"role": "assistant", "content": ""},
        {"role": "assistant", "content": [{"type": "text", "text": "four"}]},
    ]}
    assert converse(body)["messages"] == [
        {"role": "user", "content": [{"text": "one"}, {"text": "two"}]},
        {"role": "assistant", "content": [{"text": "three"}, {"text": "four"}]},
    ]


def test_system_and_developer_messages_become_system_blocks():
    body = {"messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
        {"role": "user", "content": "Hi"},
    ]}
    assert converse(body)["system"] == [{"text": "Be brief."}, {"text": "Answer in French."}]


def test_images_documents_and_audio_travel_as_base64_blocks():
    body = user([
        {"type": "text", "text": "What is in these?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}},
        {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{PIXEL}", "detail": "low"}},
        {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{PDF}", "filename": "Q3 report_final.v2.pdf"}},
        {"type": "input_audio", "input_audio": {"data": PIXEL, "format": "wav"}},
    ])
    assert converse(body)["messages"][0]["content"] == [
        {"text": "What is in these?"},
        {"image": {"format": "png", "source": {"bytes": PIXEL}}},
        {"image": {"format": "jpeg", "source": {"bytes": PIXEL}}},
        {"document": {"format": "pdf", "name": "Q3 report-final-v2", "source": {"bytes": PDF}}},
        {"audio": {"format": "wav", "source": {"bytes": PIXEL}}},
    ]


@pytest.mark.parametrize(
    ("url", "code", "words"),
    [
        ("https://example.com/cat.png", "unsupported_image_url", "data: URLs"),
        ("http://example.com/cat.png", "unsupported_image_url", "data: URLs"),
        ("data:image/tiff;base64," + PIXEL, "invalid_request", "image/tiff"),
        ("data:image/png;base64,not base64!", "invalid_request", "not valid base64"),
        ("data:image/png," + PIXEL, "invalid_request", "data:<type>;base64"),
    ],
)
def test_images_converse_cannot_take_are_refused_before_anything_is_sent(url, code, words):
    with pytest.raises(InvalidRequest) as refused:
        converse(user([{"type": "image_url", "image_url": {"url": url}}]))
    assert refused.value.code == code
    assert words in refused.value.message
    assert refused.value.param == "messages[0].content[0]"


def test_cache_control_marks_become_cache_points_after_their_blocks():
    marker = {"type": "ephemeral"}
    body = {
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "Long rules.", "cache_control": marker}]},
            {"role": "user", "content": [
                {"type": "text", "text": "A long document.", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
                {"type": "text", "text": "The question."},
            ]},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "look", "arguments": "{}"}},
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "found", "cache_control": marker}]},
        ],
        "tools": [{"type": "function", "function": {"name": "look"}, "cache_control": marker}],
    }
    out = converse(body)
    assert out["system"] == [{"text": "Long rules."}, {"cachePoint": {"type": "default"}}]
    assert out["messages"][0]["content"] == [
        {"text": "A long document."},
        {"cachePoint": {"type": "default", "ttl": "1h"}},
        {"text": "The question."},
    ]
    assert out["messages"][2]["content"] == [
        {"toolResult": {"toolUseId": "call_1", "content": [{"text": "found"}]}},
        {"cachePoint": {"type": "default"}},
    ]
    assert out["toolConfig"]["tools"] == [
        {"toolSpec": {"name": "look", "inputSchema": {"json": {"type": "object", "properties": {}}}}},
        {"cachePoint": {"type": "default"}},
    ]


@pytest.mark.parametrize(
    ("choice", "wanted"),
    [
        ("auto", {"auto": {}}),
        ("required", {"any": {}}),
        ({"type": "function", "function": {"name": "look"}}, {"tool": {"name": "look"}}),
    ],
)
def test_tool_choice(choice, wanted):
    body = {**user("hi"), "tools": [{"type": "function", "function": {"name": "look"}}], "tool_choice": choice}
    assert converse(body)["toolConfig"]["toolChoice"] == wanted


def test_tool_choice_none_leaves_the_tools_out_unless_the_history_uses_them():
    tools = [{"type": "function", "function": {"name": "look"}}]
    assert "toolConfig" not in converse({**user("hi"), "tools": tools, "tool_choice": "none"})
    history = {"messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "look", "arguments": ""}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "seen"},
    ], "tools": tools, "tool_choice": "none"}
    # Converse refuses toolUse blocks without a toolConfig: the tools stay, no choice is forced.
    assert converse(history)["toolConfig"] == {
        "tools": [{"toolSpec": {"name": "look", "inputSchema": {"json": {"type": "object", "properties": {}}}}}]
    }


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "function", "content": "x"}]}, "messages[0].role"),
        ({**user("hi"), "n": 2}, "n"),
        ({**user("hi"), "stop": 3}, "stop"),
        ({**user("hi"), "tool_choice": "sometimes", "tools": [{"type": "function", "function": {"name": "a"}}]}, "tool_choice"),
        ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "a", "arguments": "{not json"}}]}]},
         "messages[1].tool_calls[0].function.arguments"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        ({**user([{"type": "file", "file": {"file_id": "file-abc"}}])}, "messages[0].content[0]"),
        ({**user("hi"), "response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}, "response_format"),
    ],
)
def test_what_converse_cannot_be_told_is_a_400(body, param):
    with pytest.raises(InvalidRequest) as refused:
        converse(body)
    assert refused.value.param == param


def test_json_schema_output_goes_in_output_config_as_a_string():
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    body = {**user("Where?"), "response_format": {"type": "json_schema", "json_schema": {"name": "place", "schema": schema}}}
    fmt = converse(body)["outputConfig"]["textFormat"]
    assert fmt["type"] == "json_schema"
    assert fmt["structure"]["jsonSchema"]["name"] == "place"
    assert json.loads(fmt["structure"]["jsonSchema"]["schema"]) == schema


def test_max_completion_tokens_wins_over_max_tokens():
    body = {**user("hi"), "max_tokens": 10, "max_completion_tokens": 20, "stop": "END"}
    assert converse(body)["inferenceConfig"] == {"maxTokens": 20, "stopSequences": ["END"]}


def test_claude_gets_thinking_for_reasoning_effort_below_its_max_tokens():
    assert converse({**user("hi"), "reasoning_effort": "medium"}, claude=True)["additionalModelRequestFields"] == {
        "thinking": {"type": "enabled", "budget_tokens": 8192}
    }
    capped = converse({**user("hi"), "reasoning_effort": "high", "max_tokens": 4000}, claude=True)
    assert capped["additionalModelRequestFields"]["thinking"]["budget_tokens"] == 3999
    assert "additionalModelRequestFields" not in converse({**user("hi"), "reasoning_effort": "none"}, claude=True)


def test_claude_takes_its_own_thinking_and_top_k_and_the_client_fields_win():
    body = {
        **user("hi"),
        "thinking": {"type": "enabled", "budget_tokens": 2000},
        "reasoning_effort": "high",
        "top_k": 40,
        "additionalModelRequestFields": {"top_k": 5, "anthropic_beta": ["context-1m-2025-08-07"]},
    }
    assert converse(body, claude=True)["additionalModelRequestFields"] == {
        "thinking": {"type": "enabled", "budget_tokens": 2000},
        "top_k": 5,
        "anthropic_beta": ["context-1m-2025-08-07"],
    }


def test_other_models_get_no_claude_fields():
    out = converse({**user("hi"), "reasoning_effort": "high", "top_k": 40, "thinking": {"type": "enabled"}})
    assert "additionalModelRequestFields" not in out


def test_converse_fields_a_client_sets_itself_pass_as_given():
    body = {**user("hi"), "performanceConfig": {"latency": "optimized"}, "requestMetadata": {"team": "a"}}
    out = converse(body)
    assert out["performanceConfig"] == {"latency": "optimized"}
    assert out["requestMetadata"] == {"team": "a"}


# -- answers ----------------------------------------------------------------------------------


def completion(name: str) -> dict:
    return translate.chat_completion(load(name), model="m", created=1700000000, completion_id="chatcmpl-1")


def test_a_text_answer():
    out = completion("converse_text_response.json")
    assert out["choices"][0]["message"] == {"role": "assistant", "content": load("converse_text_response.json")[
        "output"]["message"]["content"][0]["text"]}
    assert out["choices"][0]["finish_reason"] == "stop"
    assert out["usage"] == {"prompt_tokens": 125, "completion_tokens": 60, "total_tokens": 185}
    assert (out["id"], out["object"], out["model"], out["created"]) == ("chatcmpl-1", "chat.completion", "m", 1700000000)


def test_a_tool_use_answer():
    choice = completion("converse_tool_use_response.json")["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "To find the most popular song on WZPZ, I will use the top_song tool."
    (call,) = choice["message"]["tool_calls"]
    assert call["id"] == "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q"
    assert call["function"]["name"] == "top_song"
    assert json.loads(call["function"]["arguments"]) == {"sign": "WZPZ"}


def test_reasoning_and_cache_usage():
    out = completion("converse_reasoning_response.json")
    message = out["choices"][0]["message"]
    assert message["reasoning_content"].startswith("The user asks for the capital of Australia")
    assert message["content"] == "The capital of Australia is Canberra."
    # Bedrock counts cache writes apart from inputTokens; OpenAI's prompt counts them all.
    assert out["usage"]["prompt_tokens"] == 4 + 1142
    assert out["usage"]["prompt_tokens_details"] == {"cached_tokens": 0}
    # The gateway's usage reader sees the prompt, the completion and the cache write.
    assert usage_counts(out["usage"]) == (1146, 88)
    assert cache_counts(out["usage"]) == (0, 1142)


def test_a_guardrail_intervention_is_a_content_filter_finish():
    assert completion("converse_guardrail_response.json")["choices"][0]["finish_reason"] == "content_filter"


@pytest.mark.parametrize(
    ("stop", "calls", "finish"),
    [
        ("end_turn", False, "stop"),
        ("stop_sequence", False, "stop"),
        ("tool_use", True, "tool_calls"),
        ("max_tokens", False, "length"),
        ("model_context_window_exceeded", False, "length"),
        ("guardrail_intervened", False, "content_filter"),
        ("content_filtered", False, "content_filter"),
        ("malformed_tool_use", True, "tool_calls"),
        ("malformed_model_output", False, "stop"),
    ],
)
def test_stop_reasons(stop, calls, finish):
    assert translate.finish_reason(stop, calls) == finish


@pytest.mark.parametrize("data", [{}, {"output": {}}, {"output": {"message": {"content": "text"}}}, {"output": []}])
def test_an_answer_that_is_not_one_fails_as_a_translation_failure(data):
    with pytest.raises(TRANSLATION_FAILURES):
        translate.chat_completion(data, model="m", created=0, completion_id="c")


# -- streams ----------------------------------------------------------------------------------


def stream(name: str, *, include_usage: bool = True) -> tuple[ConverseStreamTranslator, list[dict]]:
    translator = ConverseStreamTranslator("m", 1700000000, include_usage, "chatcmpl-s")
    chunks = []
    for item in load(name):
        ((kind, body),) = item.items()
        chunks += translator.feed(StreamEvent(kind, body))
    return translator, chunks + (translator.finish() if translator.done else [])


def test_a_streamed_tool_call_is_assembled_from_its_start_and_input_pieces():
    translator, chunks = stream("converse_stream_tool_use.json")
    assert translator.done
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks if chunk["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert "".join(delta.get("content", "") for delta in deltas) == (
        "To find the most popular song on WZPZ, I will use the top_song tool."
    )
    pieces = [call for delta in deltas for call in delta.get("tool_calls", ())]
    assert pieces[0] == {"index": 0, "id": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "type": "function",
                         "function": {"name": "top_song", "arguments": ""}}
    assert {piece["index"] for piece in pieces} == {0}
    assert json.loads("".join(piece["function"]["arguments"] for piece in pieces)) == {"sign": "WZPZ"}
    finishes = [chunk["choices"][0]["finish_reason"] for chunk in chunks if chunk["choices"]]
    assert finishes[-1] == "tool_calls"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == 375
    assert {chunk["id"] for chunk in chunks} == {"chatcmpl-s"}


def test_streamed_reasoning_and_the_cache_reads_in_the_usage_chunk():
    _, chunks = stream("converse_stream_reasoning.json")
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks if chunk["choices"]]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == "The user asks for Australia's capital. It is Canberra."
    assert "".join(d.get("content", "") for d in deltas) == "The capital of Australia is Canberra."
    assert chunks[-1]["usage"]["prompt_tokens_details"] == {"cached_tokens": 1142}
    assert chunks[-1]["usage"]["prompt_tokens"] == 1146


def test_no_usage_chunk_unless_asked_and_not_done_before_message_stop():
    translator, chunks = stream("converse_stream_tool_use.json", include_usage=False)
    assert all(chunk["choices"] for chunk in chunks)
    cut = ConverseStreamTranslator("m", 0, False, "c")
    cut.feed(StreamEvent("messageStart", {"role": "assistant"}))
    cut.feed(StreamEvent("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hal"}}))
    assert not cut.done


def test_tool_input_for_a_call_that_never_started_is_a_translation_failure():
    translator = ConverseStreamTranslator("m", 0, False, "c")
    with pytest.raises(TRANSLATION_FAILURES):
        translator.feed(StreamEvent("contentBlockDelta", {"contentBlockIndex": 3, "delta": {"toolUse": {"input": "{"}}}))
