"""OpenAI Responses <-> OpenAI chat translation, on recorded payloads, through the openai SDK's own
types and stream accumulator, and the bridge sender that serves ``/v1/responses`` over chat."""

from __future__ import annotations

import copy
import importlib
import itertools
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest
from multidict import CIMultiDict, CIMultiDictProxy
from openai._models import validate_type
from openai.types.responses import Response, ResponseItem, ResponseStreamEvent

from sluicegate.errors import InvalidRequest, UpstreamError, UpstreamTimeout
from sluicegate.exchange import Endpoint, GatewayRequest, Reply, RequestContext, SSEEvent, StreamReply, Target
from sluicegate.provider import Provider, ProviderOptions
from sluicegate.sse import parse_block
from sluicegate.translate.responses_answer import chat_to_response, custom_input, response_usage
from sluicegate.translate.responses_bridge import DROPPED_TOOLS_HEADER, TURN, ResponseStamp, ResponsesTurn
from sluicegate.translate.responses_chat import input_items, output_history, responses_to_chat
from sluicegate.translate.responses_stream import ChatToResponseStream
from sluicegate.translate.responses_tools import chat_tool_name, dropped_builtin_tools, tool_names

FIXTURES = Path(__file__).parent / "fixtures" / "responses"
CREATED = 1767225600
NOW = 1767225610.7
PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
SHELL_CALL = "call_00_Xq7RkT2mWv9LpB3nY6cD"
DOCS_CALL = "call_01_Hs4JfN8qZc1VbM5xK0eG"
PATCH = '*** Begin Patch\n*** Add File: README.md\n+# Demo\n+Say "hello".\n*** End Patch\n'


def load(name: str) -> Any:
    return orjson.loads((FIXTURES / name).read_bytes())


def recorded_chunks(name: str) -> list[dict[str, Any]]:
    """The JSON chunks of a recorded chat SSE body, up to ``[DONE]``."""
    chunks = []
    for block in (FIXTURES / name).read_bytes().split(b"\n\n"):
        event = parse_block(block)
        if event is None:
            continue
        if event.is_done:
            return chunks
        chunks.append(event.json())
    raise AssertionError(f"{name} has no [DONE]")


def counting_ids():
    """Item ids ``<prefix>_0``, ``<prefix>_1``, ... so results can be compared whole."""
    counter = itertools.count()
    return lambda prefix: f"{prefix}_{next(counter)}"


def translator(request: dict[str, Any], **kwargs: Any) -> ChatToResponseStream:
    return ChatToResponseStream(
        response_id="resp_abc", model="coder", request=request, created_at=CREATED, clock=lambda: NOW,
        ids=counting_ids(), **kwargs,
    )  # fmt: skip


def run_stream(chunks: list[dict[str, Any]], request: dict[str, Any] | None = None):
    stream = translator(request if request is not None else load("codex_request.json"))
    events = stream.start()
    for chunk in chunks:
        events.extend(stream.feed(chunk))
    events.extend(stream.finish())
    return events, stream


def request(*items: Any, **fields: Any) -> dict[str, Any]:
    return {"model": "m", "input": list(items), **fields}


def user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def call(call_id: str, name: str = "f", arguments: str = "{}", **extra: Any) -> dict[str, Any]:
    return {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments, **extra}


def output(call_id: str, value: Any = "ok") -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": value}


def function(name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "function", "name": name, "parameters": {"type": "object", "properties": {}}, **extra}


def refused(body: dict[str, Any]) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        responses_to_chat(body, "m")
    assert caught.value.message.startswith(f"{caught.value.param}: ")
    return caught.value


# --- request -------------------------------------------------------------------------------


def test_codex_request_matches_the_recorded_translation():
    body = load("codex_request.json")
    original = copy.deepcopy(body)
    assert responses_to_chat(body, "deepseek-chat", reasoning_effort=True) == load("codex_request.chat.json")
    assert body == original  # the client's parsed body is not modified


def test_codex_request_keeps_nothing_private_or_responses_only():
    encoded = orjson.dumps(responses_to_chat(load("codex_request.json"), "m"))
    for leaked in (
        b"client_metadata", b"x-codex", b"encrypted_content", b'"include"', b"store", b"defer_loading",
        b"namespace", b"web_search", b"image_generation", b"readme conventions", b"Running the command",
    ):  # fmt: skip
        assert leaked not in encoded, leaked


def test_codex_built_in_tools_are_named_for_the_header():
    assert dropped_builtin_tools(load("codex_request.json")) == ["web_search", "image_generation"]
    body = {"tools": [{"type": "namespace", "name": "n", "tools": [{"type": "web_search"}, function("f")]},
                      {"type": "file_search"}, {"type": "web_search"}, function("g")]}  # fmt: skip
    assert dropped_builtin_tools(body) == ["web_search", "file_search"]
    assert dropped_builtin_tools({}) == []


def test_agents_sdk_request_with_structured_output():
    body = load("agents_sdk_request.json")
    chat = responses_to_chat(body, "gpt-4o-mini")
    assert chat["messages"] == [
        {"role": "system", "content": "You are a helpful weather agent."},
        {"role": "user", "content": "What's the weather in Tokyo?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_aB3dE5fG7hJ9kL1mN3pQ5rS",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Tokyo"}'},
                }
            ],
        },  # fmt: skip
        {"role": "tool", "tool_call_id": "call_aB3dE5fG7hJ9kL1mN3pQ5rS", "content": "Sunny, 24C"},
    ]
    assert chat["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "Get the current weather for a city.",
        "parameters": body["tools"][0]["parameters"], "strict": True,
    }}]  # fmt: skip
    assert (chat["temperature"], chat["max_tokens"]) == (0.3, 512)
    assert chat["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "final_output", "schema": body["text"]["format"]["schema"], "strict": True,
    }}  # fmt: skip
    assert "metadata" not in chat and "stream" not in chat and "tool_choice" not in chat


def test_string_input_instructions_and_a_later_developer_message_keeping_its_place():
    assert responses_to_chat({"input": "Hi", "instructions": "Be brief."}, "m")["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]
    body = request(
        {"role": "developer", "content": "Rule one."},
        {"role": "system", "content": [{"type": "input_text", "text": "Rule two."}]},
        user("Hello"),
        {"role": "assistant", "content": "Hi there."},
        {"role": "developer", "content": "Now answer in French."},
        user("Bye"),
    )
    assert responses_to_chat(body, "m")["messages"] == [
        {"role": "system", "content": "Rule one.\n\nRule two."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi there."},
        {"role": "system", "content": "Now answer in French."},
        {"role": "user", "content": "Bye"},
    ]


def test_images_and_their_refusals():
    body = request({"role": "user", "content": [
        {"type": "input_text", "text": "Which is a cat?"},
        {"type": "input_image", "image_url": PNG, "detail": "low"},
        {"type": "input_image", "image_url": "https://example.com/cat.jpg", "detail": "original"},
    ]})  # fmt: skip
    assert responses_to_chat(body, "m")["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "Which is a cat?"},
        {"type": "image_url", "image_url": {"url": PNG, "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
    ]}]  # fmt: skip
    by_file = request(
        {"role": "user", "content": [{"type": "input_image", "file_id": "file-123", "detail": "auto"}]}
    )
    assert refused(by_file).param == "input.0.content.0.file_id"
    pdf = request(user("Read it"), {"role": "user", "content": [{"type": "input_file", "file_id": "file-9"}]})
    assert refused(pdf).param == "input.1.content.0"
    in_system = request({"role": "system", "content": [{"type": "input_image", "image_url": PNG}]})
    assert refused(in_system).param == "input.0.content.0"


def test_tool_outputs_with_images_and_parallel_calls():
    body = request(
        user("Screenshot both pages"),
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Two calls."}]},
        call("call_a", "shot", '{"page":1}', id="fc_1", status="completed"),
        call("call_b", "shot", '{"page":2}'),
        output(
            "call_a", [{"type": "input_text", "text": "page one"}, {"type": "input_image", "image_url": PNG}]
        ),
        output("call_b", "page two"),
        {"role": "assistant", "content": [{"type": "output_text", "text": "Done."}]},
    )
    messages = responses_to_chat(body, "m")["messages"]
    assert messages[1:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "shot", "arguments": '{"page":1}'}},
                {"id": "call_b", "type": "function", "function": {"name": "shot", "arguments": '{"page":2}'}},
            ],
        },  # fmt: skip
        {"role": "tool", "tool_call_id": "call_a", "content": "page one"},
        {"role": "tool", "tool_call_id": "call_b", "content": "page two"},
        # Tool messages hold text; the image still reaches the model, right after them.
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": PNG}}]},
        {"role": "assistant", "content": "Done."},
    ]


def test_reasoning_is_dropped_unless_the_vendor_wants_it_back():
    body = request(
        user("2+2?"),
        {
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "Add them."}],
            "content": [{"type": "reasoning_text", "text": "2 plus 2 is 4."}],
        },  # fmt: skip
        call("call_1", "calc", '{"x":"2+2"}'),
        output("call_1", "4"),
    )
    assert "reasoning_content" not in orjson.dumps(responses_to_chat(body, "m")).decode()
    kept = responses_to_chat(body, "m", keep_reasoning=True)["messages"][1]
    assert kept["reasoning_content"] == "Add them.\n\n2 plus 2 is 4."
    assert kept["tool_calls"][0]["id"] == "call_1"


def test_unanswered_and_orphan_tool_calls_are_refused_with_their_path():
    assert refused(request(user("x"), call("call_1"), user("never mind"))).param == "input.1"
    assert refused(request(user("x"), output("call_9"))).param == "input.1.call_id"
    # The output of a built-in tool's call is dropped with the call: no orphan is left.
    builtin = request(user("x"), {"type": "local_shell_call", "call_id": "ls_1", "status": "completed",
                                  "action": {"type": "exec", "command": ["ls"], "env": {}}},
                      {"type": "local_shell_call_output", "id": "ls_1", "output": "a.txt"}, user("ok"))  # fmt: skip
    assert [m["role"] for m in responses_to_chat(builtin, "m")["messages"]] == ["user", "user"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": 5}, "input"),
        ({"input": []}, "input"),
        ({"input": ["hi"]}, "input.0"),
        ({"input": [{"role": "tool", "content": "x"}]}, "input.0.role"),
        ({"input": [{"role": "user", "content": 3}]}, "input.0.content"),
        ({"input": [{"role": "user", "content": [{"type": "input_text"}]}]}, "input.0.content.0.text"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input.0"),
        ({"input": [{"type": "telepathy"}]}, "input.0.type"),
        ({"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}, "input.0.call_id"),
        (
            {"input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": {}}]},
            "input.0.arguments",
        ),
        ({"input": [{"type": "custom_tool_call", "call_id": "c", "name": "f"}]}, "input.0.input"),
        ({"input": "x", "instructions": ["x"]}, "instructions"),
        ({"input": "x", "prompt": {"id": "pmpt_1"}}, "prompt"),
        ({"input": "x", "conversation": "conv_1"}, "conversation"),
        ({"input": "x", "tools": {"type": "function"}}, "tools"),
        ({"input": "x", "tools": [{"name": "f"}]}, "tools.0"),
        ({"input": "x", "tools": [{"type": "function"}]}, "tools.0.name"),
        (
            {"input": "x", "tools": [{"type": "function", "name": "f", "parameters": "{}"}]},
            "tools.0.parameters",
        ),
        ({"input": "x", "tools": [function("f"), {"type": "custom", "name": "f"}]}, "tools.1.name"),
        (
            {
                "input": "x",
                "tools": [{"type": "namespace", "name": "n", "tools": [function("f")]}, function("n__f")],
            },
            "tools.1.name",
        ),  # fmt: skip
        ({"input": "x", "tools": [{"type": "namespace", "tools": []}]}, "tools.0.name"),
        (
            {"input": "x", "tools": [{"type": "custom", "name": "c", "format": {"type": "grammar"}}]},
            "tools.0.format",
        ),
        ({"input": "x", "text": {"format": {"type": "json_schema", "name": "o"}}}, "text.format"),
        ({"input": "x", "text": "json"}, "text"),
        ({"input": "x", "reasoning": {"effort": "extreme"}}, "reasoning.effort"),
        ({"input": "x", "metadata": {"user": 7}}, "metadata.user"),
    ],
)
def test_bad_input_is_refused_naming_the_field(body, param):
    assert refused(body).param == param


def test_tool_choice_forms():
    tools = [function("f"), function("g"), {"type": "custom", "name": "patch"},
             {"type": "namespace", "name": "mcp__x", "tools": [function("find")]}, {"type": "web_search"}]  # fmt: skip

    def choose(choice: Any, **fields: Any) -> dict[str, Any]:
        return responses_to_chat({"input": "x", "tools": tools, "tool_choice": choice, **fields}, "m")

    assert choose("required", parallel_tool_calls=False)["tool_choice"] == "required"
    assert choose("required", parallel_tool_calls=False)["parallel_tool_calls"] is False
    assert choose({"type": "function", "name": "g"})["tool_choice"] == {
        "type": "function",
        "function": {"name": "g"},
    }
    assert choose({"type": "custom", "name": "patch"})["tool_choice"]["function"] == {"name": "patch"}
    assert choose({"type": "function", "name": "mcp__x__find"})["tool_choice"]["function"] == {
        "name": "mcp__x__find"
    }
    allowed = choose({"type": "allowed_tools", "mode": "required",
                      "tools": [{"type": "function", "name": "g"}, {"type": "function", "namespace": "mcp__x", "name": "find"},
                                {"type": "web_search"}]})  # fmt: skip
    assert [t["function"]["name"] for t in allowed["tools"]] == ["g", "mcp__x__find"]
    assert allowed["tool_choice"] == "required"
    assert (
        refused({"input": "x", "tools": tools, "tool_choice": {"type": "web_search_preview"}}).param
        == "tool_choice.type"
    )
    assert (
        refused({"input": "x", "tools": tools, "tool_choice": {"type": "function", "name": "h"}}).param
        == "tool_choice.name"
    )
    assert refused({"input": "x", "tools": tools, "tool_choice": "any"}).param == "tool_choice"
    # With only built-in tools there is nothing to choose among: no tools, no choice, no parallel flag.
    only_builtin = responses_to_chat(
        {
            "input": "x",
            "tools": [{"type": "web_search"}],
            "tool_choice": "required",
            "parallel_tool_calls": True,
        },
        "m",
    )
    assert not {"tools", "tool_choice", "parallel_tool_calls"} & only_builtin.keys()


def test_the_remaining_fields():
    chat = responses_to_chat(
        {
            "input": "x",
            "stream": True,
            "top_p": 0.5,
            "user": "u-1",
            "safety_identifier": "s-1",
            "prompt_cache_key": "conv-7",
            "reasoning": {"effort": "high", "summary": "detailed"},
            "text": {"format": {"type": "json_object"}, "verbosity": "low"},
            "store": True,
            "metadata": {"k": "v"},
            "truncation": "auto",
            "service_tier": "flex",
            "top_logprobs": 3,
            "previous_response_id": "resp_1",
            "background": False,
        },  # fmt: skip
        "m",
        reasoning_effort=True,
    )
    assert chat == {
        "model": "m", "messages": [{"role": "user", "content": "x"}], "top_p": 0.5, "user": "u-1",
        "prompt_cache_key": "conv-7", "reasoning_effort": "high", "response_format": {"type": "json_object"},
        "stream": True, "stream_options": {"include_usage": True},
    }  # fmt: skip
    assert responses_to_chat({"input": "x", "safety_identifier": "s-1"}, "m")["user"] == "s-1"
    assert "response_format" not in responses_to_chat(
        {"input": "x", "text": {"format": {"type": "text"}}}, "m"
    )


@pytest.mark.parametrize(
    ("effort", "sent"),
    [
        ("none", "low"),
        ("minimal", "low"),
        ("low", "low"),
        ("medium", "medium"),
        ("high", "high"),
        ("xhigh", "high"),
        ("max", "high"),
    ],  # fmt: skip
)
def test_reasoning_effort_only_for_a_vendor_that_takes_it(effort, sent):
    body = {"input": "x", "reasoning": {"effort": effort}}
    assert responses_to_chat(body, "m", reasoning_effort=True)["reasoning_effort"] == sent
    assert "reasoning_effort" not in responses_to_chat(body, "m")


def test_freeform_and_namespaced_tools():
    body = load("codex_request.json")
    chat = responses_to_chat(body, "m")
    patch = next(t["function"] for t in chat["tools"] if t["function"]["name"] == "apply_patch")
    assert patch["parameters"]["required"] == ["input"]
    assert (
        "The input must follow this lark grammar:\nstart: begin_patch hunk+ end_patch" in patch["description"]
    )
    names = tool_names(body)
    assert names["mcp__docs__search"].namespace == "mcp__docs"
    assert (names["apply_patch"].kind, names["shell_command"].kind) == ("custom", "function")


def test_long_namespaced_names_are_shortened_and_still_map_back():
    namespace = "mcp__" + "a_very_long_server_name_" * 3
    flat = chat_tool_name(namespace, "search_everything")
    assert len(flat) == 64 and flat == chat_tool_name(namespace, "search_everything")
    assert flat != chat_tool_name(namespace, "search_everything_else")
    body = {"input": [user("x"), call("c1", "search_everything", namespace=namespace), output("c1")],
            "tools": [{"type": "namespace", "name": namespace, "tools": [function("search_everything")]}]}  # fmt: skip
    chat = responses_to_chat(body, "m")
    assert chat["tools"][0]["function"]["name"] == flat
    assert chat["messages"][1]["tool_calls"][0]["function"]["name"] == flat
    ref = tool_names(body)[flat]
    assert (ref.namespace, ref.name) == (namespace, "search_everything")


# --- items: listing and history -------------------------------------------------------------


def test_input_items_have_ids_and_parse_as_the_sdks_items():
    body = load("agents_sdk_request.json")
    items = input_items(body, ids=counting_ids())
    assert [item["id"] for item in items] == ["msg_0", "fc_68c3f1a2b4d5e6f7a8b9c0d1e2f3a4b5", "fco_1"]
    assert items[0] == {"content": [{"type": "input_text", "text": "What's the weather in Tokyo?"}],
                        "role": "user", "type": "message", "id": "msg_0"}  # fmt: skip
    codex_items = input_items(load("codex_request.json"))
    for item in [*items, *codex_items]:
        validate_type(type_=ResponseItem, value=item)
    assert [item["type"] for item in input_items({"input": "hello"})] == ["message"]
    assert input_items({"input": [{"role": "assistant", "content": "Hi"}]}, ids=counting_ids()) == [
        {
            "role": "assistant",
            "type": "message",
            "id": "msg_0",
            "status": "completed",
            "content": [{"annotations": [], "type": "output_text", "text": "Hi"}],
        }  # fmt: skip
    ]


def test_a_stored_conversation_replays_into_the_next_turn():
    """What the entrance does for previous_response_id: stored input + output, then the new input."""
    first = load("codex_request.json")
    response = chat_to_response(
        load("deepseek_completion_tools.json"),
        response_id="resp_1",
        model="coder",
        request=first,
        created_at=CREATED,
    )
    calls = [item for item in response["output"] if item["type"] in ("function_call", "custom_tool_call")]
    follow_up = {
        **first,
        "input": [*input_items(first), *output_history(response),
                  *({"type": f"{item['type']}_output", "call_id": item["call_id"], "output": "done"} for item in calls)],
    }  # fmt: skip
    messages = responses_to_chat(follow_up, "m")["messages"]
    assistant = messages[-3]
    assert assistant["content"] == "Adding the README."
    assert [(c["id"], c["function"]["name"]) for c in assistant["tool_calls"]] == [
        ("call_00_Rt5yU7iO9pA1sD3fG5hJ", "apply_patch"), ("call_01_Kl7zX9cV1bN3mQ5wE7rT", "mcp__docs__search")
    ]  # fmt: skip
    assert orjson.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {
        "input": "*** Begin Patch\n*** Add File: README.md\n+# Demo\n*** End Patch\n"
    }
    assert [m["role"] for m in messages[-2:]] == ["tool", "tool"]
    stored_id = response["output"][0]["id"]
    output_history(response)[0]["id"] = "changed"
    assert response["output"][0]["id"] == stored_id  # the stored response is not changed through the history


# --- answer ----------------------------------------------------------------------------------


def test_completion_with_reasoning_freeform_and_namespaced_calls():
    response = chat_to_response(
        load("deepseek_completion_tools.json"), response_id="resp_abc", model="coder",
        request=load("codex_request.json"), created_at=CREATED, completed_at=int(NOW), ids=counting_ids(),
    )  # fmt: skip
    Response.model_validate(response)
    assert response["output"] == [
        {"id": "rs_0", "type": "reasoning",
         "summary": [{"type": "summary_text", "text": "The docs say READMEs start with a heading."}]},
        {"id": "msg_1", "type": "message", "status": "completed", "role": "assistant",
         "content": [{"type": "output_text", "text": "Adding the README.", "annotations": [], "logprobs": []}]},
        {"id": "ctc_2", "type": "custom_tool_call", "call_id": "call_00_Rt5yU7iO9pA1sD3fG5hJ", "name": "apply_patch",
         "input": "*** Begin Patch\n*** Add File: README.md\n+# Demo\n*** End Patch\n"},
        {"id": "fc_3", "type": "function_call", "status": "completed", "call_id": "call_01_Kl7zX9cV1bN3mQ5wE7rT",
         "name": "search", "arguments": '{"query":"license"}', "namespace": "mcp__docs"},
    ]  # fmt: skip
    assert response["usage"] == {
        "input_tokens": 2400, "input_tokens_details": {"cached_tokens": 2304, "cache_write_tokens": 0},
        "output_tokens": 120, "output_tokens_details": {"reasoning_tokens": 60}, "total_tokens": 2520,
    }  # fmt: skip
    assert (response["id"], response["object"], response["status"], response["model"]) == (
        "resp_abc",
        "response",
        "completed",
        "coder",
    )
    assert (response["created_at"], response["completed_at"], response["incomplete_details"]) == (
        CREATED,
        int(NOW),
        None,
    )
    # The echo: the request's settings, and the tools the model was given (not the built-in ones).
    assert [t["type"] for t in response["tools"]] == ["function", "function", "custom", "namespace"]
    assert (response["store"], response["parallel_tool_calls"], response["tool_choice"]) == (
        False,
        True,
        "auto",
    )
    assert response["reasoning"] == {"effort": "medium", "summary": "auto"}
    assert response["prompt_cache_key"] == "0199a2b4-6c3d-7e8f-9a0b-1c2d3e4f5a6b"
    assert response["instructions"].startswith("You are Codex")


def test_a_cut_off_answer_is_incomplete():
    completion = {"choices": [{"message": {"content": "The quick brown"}, "finish_reason": "length"}],
                  "usage": {"prompt_tokens": 9, "completion_tokens": 3}}  # fmt: skip
    response = chat_to_response(
        completion, response_id="r", model="m", request={}, created_at=CREATED, completed_at=1
    )
    Response.model_validate(response)
    assert (response["status"], response["incomplete_details"]) == (
        "incomplete",
        {"reason": "max_output_tokens"},
    )
    assert response["output"][0]["status"] == "incomplete"
    assert "completed_at" not in response
    assert response["usage"]["total_tokens"] == 12
    sdk = Response.model_validate(response)
    assert sdk.output_text == "The quick brown"


def test_refusals_legacy_calls_odd_arguments_and_no_choices():
    refusal = chat_to_response({"choices": [{"message": {"content": None, "refusal": "I can't help with that."},
                                             "finish_reason": "content_filter"}]},
                               response_id="r", model="m", request={}, created_at=CREATED)  # fmt: skip
    Response.model_validate(refusal)
    assert refusal["output"][0]["content"] == [{"type": "refusal", "refusal": "I can't help with that."}]
    assert refusal["incomplete_details"] == {"reason": "content_filter"}
    legacy = chat_to_response({"choices": [{"message": {"function_call": {"name": "f", "arguments": {"a": 1}}}}]},
                              response_id="r", model="m", request={}, created_at=CREATED)  # fmt: skip
    item = legacy["output"][0]
    assert (item["type"], item["name"], item["arguments"], item["call_id"][:5]) == (
        "function_call",
        "f",
        '{"a":1}',
        "call_",
    )
    empty = chat_to_response({"choices": [{"message": {"tool_calls": [{"id": "c", "function": {"name": "now"}}]}}]},
                             response_id="r", model="m", request={}, created_at=CREATED)  # fmt: skip
    assert empty["output"][0]["arguments"] == "{}"  # parseable, for a tool without arguments
    Response.model_validate(empty)
    for broken in ({}, {"choices": []}, {"choices": ["x"]}):
        with pytest.raises(ValueError):
            chat_to_response(broken, response_id="r", model="m", request={}, created_at=CREATED)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ('{"input": "*** Begin Patch\\n*** End Patch"}', "*** Begin Patch\n*** End Patch"),
        ('{"patch": "raw"}', "raw"),  # one string under another key
        ('"bare string"', "bare string"),
        ("*** Begin Patch (not JSON)", "*** Begin Patch (not JSON)"),
        ('{"input": 3}', '{"input": 3}'),
        ("", ""),
    ],
)
def test_custom_tool_input_is_taken_from_the_arguments(arguments, expected):
    assert custom_input(arguments) == expected


def test_usage_without_details_and_without_usage():
    assert response_usage(None) is None
    assert response_usage({"prompt_tokens": 5, "completion_tokens": 2, "prompt_cache_hit_tokens": 4}) == {
        "input_tokens": 5, "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
        "output_tokens": 2, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 7,
    }  # fmt: skip


# --- stream ----------------------------------------------------------------------------------


def assert_well_formed(events: list[tuple[str, dict[str, Any]]], response_id: str = "resp_abc") -> None:
    """Every event named by its type, numbered 0, 1, 2, ...; one response id; item ids stable."""
    assert [name for name, _ in events] == [data["type"] for _, data in events]
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    assert {data["response"]["id"] for _, data in events if "response" in data} == {response_id}
    item_at: dict[int, str] = {}
    for name, data in events:
        if name == "response.output_item.added":
            assert data["output_index"] == len(item_at)
            item_at[data["output_index"]] = data["item"]["id"]
        elif "output_index" in data:
            item_id = data["item"]["id"] if "item" in data else data["item_id"]
            assert item_at[data["output_index"]] == item_id, (name, data)


def validate_with_sdk_types(events: list[tuple[str, dict[str, Any]]]) -> None:
    for name, data in events:
        parsed = validate_type(type_=ResponseStreamEvent, value=data)
        assert parsed.type == name


def test_deepseek_stream_with_reasoning_text_and_parallel_calls():
    events, stream = run_stream(recorded_chunks("deepseek_stream_tools.sse"))
    assert_well_formed(events)
    validate_with_sdk_types(events)
    assert [name.removeprefix("response.") for name, _ in events] == [
        "created", "in_progress",
        "output_item.added", "reasoning_summary_part.added", "reasoning_summary_text.delta",
        "reasoning_summary_text.delta", "reasoning_summary_text.done", "reasoning_summary_part.done", "output_item.done",
        "output_item.added", "content_part.added", "output_text.delta", "output_text.delta", "output_text.done",
        "content_part.done", "output_item.done",
        "output_item.added", "function_call_arguments.delta", "function_call_arguments.delta",
        "function_call_arguments.done", "output_item.done",
        "output_item.added", "function_call_arguments.delta", "function_call_arguments.done", "output_item.done",
        "completed",
    ]  # fmt: skip
    by_type = {}
    for name, data in events:
        by_type.setdefault(name, []).append(data)
    assert [e["delta"] for e in by_type["response.reasoning_summary_text.delta"]] == [
        "The user wants the output",
        " of echo hello.",
    ]
    assert by_type["response.output_text.done"][0]["text"] == "I'll run it and check the docs."
    added_calls = [
        e["item"] for e in by_type["response.output_item.added"] if e["item"]["type"] == "function_call"
    ]
    assert added_calls == [
        {"id": "fc_2", "type": "function_call", "status": "in_progress", "call_id": SHELL_CALL,
         "name": "shell_command", "arguments": ""},
        {"id": "fc_3", "type": "function_call", "status": "in_progress", "call_id": DOCS_CALL,
         "name": "search", "arguments": "", "namespace": "mcp__docs"},
    ]  # fmt: skip
    assert [e["arguments"] for e in by_type["response.function_call_arguments.done"]] == [
        '{"command": "echo hello", "workdir": "/work/demo"}',
        '{"query": "echo"}',
    ]
    final = events[-1][1]["response"]
    assert final is stream.response
    Response.model_validate(final)
    assert [item["id"] for item in final["output"]] == ["rs_0", "msg_1", "fc_2", "fc_3"]
    assert final["output"] == [data["item"] for name, data in events if name == "response.output_item.done"]
    assert (final["status"], final["completed_at"]) == ("completed", int(NOW))
    assert final["usage"] == {
        "input_tokens": 2210, "input_tokens_details": {"cached_tokens": 1920, "cache_write_tokens": 0},
        "output_tokens": 96, "output_tokens_details": {"reasoning_tokens": 41}, "total_tokens": 2306,
    }  # fmt: skip
    # The snapshots sent earlier were not changed by what came later.
    assert events[0][1]["response"]["output"] == [] and events[0][1]["response"]["usage"] is None


def test_freeform_call_streams_its_decoded_input_when_the_call_ends():
    events, stream = run_stream(recorded_chunks("vllm_stream_apply_patch.sse"))
    assert_well_formed(events)
    validate_with_sdk_types(events)
    assert [name.removeprefix("response.") for name, _ in events] == [
        "created", "in_progress", "output_item.added", "custom_tool_call_input.delta",
        "custom_tool_call_input.done", "output_item.done", "completed",
    ]  # fmt: skip
    assert events[2][1]["item"] == {"id": "ctc_0", "type": "custom_tool_call", "call_id": "chatcmpl-tool-3f9e2d1c0b4a",
                                    "name": "apply_patch", "input": ""}  # fmt: skip
    assert events[3][1]["delta"] == PATCH and events[4][1]["input"] == PATCH
    assert stream.response["output"] == [{"id": "ctc_0", "type": "custom_tool_call",
                                          "call_id": "chatcmpl-tool-3f9e2d1c0b4a", "name": "apply_patch", "input": PATCH}]  # fmt: skip
    # vLLM's usage came in a chunk of its own, with no choices and null details.
    assert stream.response["usage"]["input_tokens_details"] == {"cached_tokens": 0, "cache_write_tokens": 0}
    assert stream.response["usage"]["total_tokens"] == 5188


def test_a_stream_cut_off_by_max_tokens_ends_incomplete():
    events, stream = run_stream(
        recorded_chunks("vllm_stream_length.sse"), {"input": "x", "max_output_tokens": 16}
    )
    assert_well_formed(events)
    validate_with_sdk_types(events)
    name, last = events[-1]
    assert name == "response.incomplete"
    response = last["response"]
    assert (response["status"], response["incomplete_details"]) == (
        "incomplete",
        {"reason": "max_output_tokens"},
    )
    assert response["output"][0]["status"] == "incomplete"
    assert response["output"][0]["content"][0]["text"] == "The quick brown fox jumps over the"
    assert response["max_output_tokens"] == 16 and "completed_at" not in response
    assert events[-2][1]["item"]["status"] == "incomplete"  # the output_item.done says so too


def chunk(delta: Any = None, finish: Any = None, **fields: Any) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **fields}


def test_stream_tolerates_empty_chunks_and_odd_servers():
    events, stream = run_stream(
        [
            {"id": "x", "choices": []}, {"id": "x", "choices": None}, {"id": "x"}, chunk({"role": "assistant"}),
            chunk(None), chunk({"content": None, "tool_calls": None}), chunk({"content": ""}),
            chunk({"tool_calls": [{"index": 0, "id": "call_a", "function": {"name": "f", "arguments": '{"x"'}}]}),
            # The same call's fragment with its id repeated, then a second call numbered 0 again.
            chunk({"tool_calls": [{"index": 0, "id": "call_a", "function": {"name": "f", "arguments": ": 1}"}}]}),
            chunk({"tool_calls": [{"index": 0, "id": "call_b", "function": {"name": "g", "arguments": {"y": 2}}}]}),
            chunk({"tool_calls": [None, {"index": 1}]}),  # no id, no name: still a call
            {"choices": [{"index": 1, "delta": {"content": "other choice"}}, {"index": 0, "delta": {"content": "after"}}]},
            chunk({"refusal": "No."}),
            chunk({}, "stop"),
        ],
        {"input": "x"},
    )  # fmt: skip
    assert_well_formed(events)
    validate_with_sdk_types(events)
    output = stream.response["output"]
    assert [(item["type"], item.get("call_id")) for item in output] == [
        ("function_call", "call_a"),
        ("function_call", "call_b"),
        ("function_call", "call_2"),
        ("message", None),
    ]  # a call without an id gets one
    assert [item.get("arguments") for item in output[:3]] == ['{"x": 1}', '{"y":2}', "{}"]
    assert output[3]["content"] == [
        {"type": "output_text", "text": "after", "annotations": [], "logprobs": []},
        {"type": "refusal", "refusal": "No."},
    ]
    names = [name for name, _ in events]
    assert names.count("response.refusal.delta") == names.count("response.refusal.done") == 1
    assert stream.response["usage"] is None
    # Nothing more comes out once the response is over.
    assert stream.finish() == [] and stream.feed(chunk({"content": "late"})) == [] and stream.start() == []


def test_finish_without_any_chunk_is_a_complete_empty_response():
    stream = translator({"input": "x"})
    events = stream.finish()
    assert [name for name, _ in events] == ["response.created", "response.in_progress", "response.completed"]
    assert_well_formed(events)
    validate_with_sdk_types(events)


def test_a_failure_is_numbered_after_what_was_sent():
    stream = translator({"input": "x"})
    sent = stream.start() + stream.feed(chunk({"content": "Hel"}))
    failure = stream.fail(UpstreamTimeout("provider 'a' went quiet", provider="a"))
    assert [name for name, _ in failure] == ["response.failed"]
    assert_well_formed(sent + failure)
    validate_with_sdk_types(sent + failure)
    response = failure[0][1]["response"]
    assert response["status"] == "failed"
    assert response["error"] == {"code": "server_error", "message": "provider 'a' went quiet"}
    assert response["output"][0]["status"] == "incomplete"
    assert response["output"][0]["content"][0]["text"] == "Hel"
    assert stream.fail(UpstreamTimeout("again", provider="a")) == [] and stream.finish() == []
    limited = translator({"input": "x"})
    assert limited.fail(UpstreamError("slow down", provider="a", status=429))[-1][1]["response"]["error"][
        "code"
    ] == ("rate_limit_exceeded")


# --- the official openai SDK as the client ----------------------------------------------------


def sdk_client(answer):
    """An ``openai.OpenAI`` whose transport is ``answer(request_body) -> (status, headers, bytes)``."""
    # The SDK has moved between HTTP libraries (httpx, httpx2); use the one it is built on.
    base = next(cls for cls in openai.DefaultHttpxClient.__mro__ if not cls.__module__.startswith("openai"))
    httpx = importlib.import_module(base.__module__.split(".")[0])
    seen = []

    def handle(http_request):
        seen.append(orjson.loads(http_request.content))
        status, headers, body = answer(seen[-1])
        return httpx.Response(status, headers=headers, content=body)

    client = openai.OpenAI(
        api_key="sk-test", base_url="http://gateway.test/v1", max_retries=0,
        http_client=base(transport=httpx.MockTransport(handle)),
    )  # fmt: skip
    return client, seen


def frames(events: list[tuple[str, dict[str, Any]]]) -> bytes:
    return b"".join(SSEEvent.from_data(data, name).frame() for name, data in events)


def test_sdk_stream_accumulates_the_same_response_as_the_final_event():
    def answer(body):
        chat = responses_to_chat(body, "deepseek-reasoner")
        assert chat["stream"] is True and chat["stream_options"] == {"include_usage": True}
        events, _ = run_stream(recorded_chunks("deepseek_stream_tools.sse"), body)
        return 200, {"content-type": "text/event-stream"}, frames(events)

    client, seen = sdk_client(answer)
    body = load("codex_request.json")
    with client.responses.stream(
        model="coder", instructions=body["instructions"], input=body["input"], tools=body["tools"]
    ) as stream:
        texts = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert seen[0]["stream"] is True
    assert "".join(texts) == "I'll run it and check the docs."
    assert final.id == "resp_abc" and final.output_text == "I'll run it and check the docs."
    assert [item.type for item in final.output] == ["reasoning", "message", "function_call", "function_call"]
    calls = final.output[2:]
    assert [(c.call_id, c.name, c.namespace) for c in calls] == [
        (SHELL_CALL, "shell_command", None),
        (DOCS_CALL, "search", "mcp__docs"),
    ]
    assert orjson.loads(calls[0].arguments) == {"command": "echo hello", "workdir": "/work/demo"}
    assert final.usage.input_tokens_details.cached_tokens == 1920


def test_sdk_parses_the_non_stream_answer():
    def answer(body):
        assert "stream" not in responses_to_chat(body, "m")
        response = chat_to_response(
            load("deepseek_completion_tools.json"),
            response_id="resp_x",
            model=body["model"],
            request=body,
            created_at=CREATED,
        )
        return 200, {"content-type": "application/json"}, orjson.dumps(response)

    client, _ = sdk_client(answer)
    body = load("codex_request.json")
    response = client.responses.create(model="coder", input=body["input"], tools=body["tools"])
    assert response.output_text == "Adding the README."
    patch = response.output[2]
    assert (patch.type, patch.name, patch.input) == (
        "custom_tool_call",
        "apply_patch",
        "*** Begin Patch\n*** Add File: README.md\n+# Demo\n*** End Patch\n",
    )


# --- the bridge sender -------------------------------------------------------------------------


class FakeChatProvider(Provider):
    """A provider that speaks chat only; ``answers`` are what its ``send`` returns, in turn."""

    requires_key = False

    def __init__(self, answers: list[Any]) -> None:
        super().__init__("fake", ProviderOptions(type="fake"), None)  # type: ignore[arg-type]
        self.answers = answers
        self.sent: list[GatewayRequest] = []
        self.contexts: list[RequestContext] = []

    async def send(self, ctx, req, target):
        self.sent.append(req)
        self.contexts.append(ctx)
        return self.answers.pop(0)


CODEX_HEADERS = {
    "originator": "codex_exec",
    "session_id": "0199a2b4-6c3d-7e8f-9a0b-1c2d3e4f5a6b",
    "x-codex-turn-metadata": '{"turn_id":"7"}',
    "OpenAI-Beta": "responses=experimental",
    "User-Agent": "codex_exec/0.177.0 (Linux; x86_64)",
    "X-Stainless-Lang": "python",
    "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
}


def context() -> RequestContext:
    return RequestContext("req-1", None, CIMultiDictProxy(CIMultiDict(CODEX_HEADERS)), 0.0)


def responses_request(body: dict[str, Any]) -> GatewayRequest:
    return GatewayRequest(
        Endpoint.RESPONSES, body, orjson.dumps(body), "coder", body.get("stream") is True, ()
    )


async def events_of(chunks: list[Any]):
    for item in chunks:
        yield item if isinstance(item, SSEEvent) else SSEEvent.from_data(item)


async def test_bridge_sends_chat_and_answers_with_a_response():
    completion = load("deepseek_completion_tools.json")
    provider = FakeChatProvider([Reply.from_data(completion, headers={"x-vendor": "1"})])
    ctx, body = context(), load("codex_request.json") | {"stream": False}
    ctx.state[TURN] = ResponsesTurn(ResponseStamp("resp_fixed", CREATED))
    reply = await provider.senders[Endpoint.RESPONSES](
        ctx, responses_request(body), Target(provider, "ds-r1", "fake/ds-r1")
    )
    sent = provider.sent[0]
    assert sent.endpoint is Endpoint.CHAT and sent.body == responses_to_chat(body, "ds-r1")
    assert orjson.loads(sent.wire) == sent.body and sent.model == "coder"
    assert reply.headers == {"x-vendor": "1", DROPPED_TOOLS_HEADER: "web_search, image_generation"}
    # The third-party vendor gets none of the client's private headers; the rest of the request stays.
    assert dict(provider.contexts[0].client_headers) == {"traceparent": CODEX_HEADERS["traceparent"]}
    assert provider.contexts[0].state is ctx.state and provider.contexts[0].facts is ctx.facts
    response = reply.data
    Response.model_validate(response)
    assert (response["id"], response["created_at"], response["model"]) == ("resp_fixed", CREATED, "coder")
    assert [item["type"] for item in response["output"]] == [
        "reasoning",
        "message",
        "custom_tool_call",
        "function_call",
    ]


async def test_bridge_keeps_one_response_id_across_attempts_and_refuses_before_sending():
    provider = FakeChatProvider(
        [Reply.from_data({"choices": [{"message": {"content": "a"}}]}) for _ in range(2)]
    )
    sender, ctx, target = provider.senders[Endpoint.RESPONSES], context(), Target(provider, "m", "fake/m")
    first = await sender(ctx, responses_request({"input": "x"}), target)
    second = await sender(ctx, responses_request({"input": "x"}), target)  # a retry of the same request
    assert first.data["id"] == second.data["id"] == ctx.state.get(TURN).stamp.id
    assert first.data["id"].startswith("resp_") and len(first.data["id"]) == 37
    assert DROPPED_TOOLS_HEADER not in first.headers
    with pytest.raises(InvalidRequest) as caught:
        await sender(ctx, responses_request({"input": [{"type": "input_file"}]}), target)
    assert caught.value.param == "input.0.type"
    assert len(provider.sent) == 2  # the bad request never went upstream


async def test_bridge_says_when_the_vendor_answer_is_not_a_completion():
    provider = FakeChatProvider([Reply(b"<html>oops</html>"), Reply.from_data({"choices": []})])
    sender, target = provider.senders[Endpoint.RESPONSES], Target(provider, "m", "fake/m")
    for _ in range(2):
        with pytest.raises(UpstreamError) as caught:
            await sender(context(), responses_request({"input": "x"}), target)
        assert (caught.value.code, caught.value.status) == ("upstream_bad_response", 502)


async def test_bridge_stream_holds_the_preamble_until_content_and_records_the_final_response():
    chunks = recorded_chunks("deepseek_stream_tools.sse")
    closed = []

    async def on_close():
        closed.append(True)

    upstream = StreamReply(
        events_of([*chunks, SSEEvent(b"[DONE]"), chunk({"content": "after done"})]), on_close=on_close
    )
    provider = FakeChatProvider([upstream])
    ctx, body = context(), load("codex_request.json")
    reply = await provider.senders[Endpoint.RESPONSES](
        ctx, responses_request(body), Target(provider, "m", "fake/m")
    )
    assert isinstance(reply, StreamReply)
    assert reply.headers[DROPPED_TOOLS_HEADER] == "web_search, image_generation"
    iterator = reply.events.__aiter__()
    # DeepSeek's first chunk is role-only: the first event out comes with the first reasoning.
    first_batch = []
    while True:
        event = await iterator.__anext__()
        first_batch.append(event)
        if not event.more:
            break
    assert [e.event for e in first_batch] == [
        "response.created", "response.in_progress", "response.output_item.added",
        "response.reasoning_summary_part.added", "response.reasoning_summary_text.delta",
    ]  # fmt: skip
    rest = []
    async for event in iterator:
        if event.event in ("response.completed", "response.incomplete"):
            # The entrance stores the response before this event reaches the client.
            assert ctx.state.get(TURN).final == orjson.loads(event.data)["response"]
        rest.append(event)
    events = [(e.event, e.json()) for e in first_batch + rest]
    assert_well_formed(events, ctx.state.get(TURN).stamp.id)
    validate_with_sdk_types(events)
    assert events[-1][0] == "response.completed"
    assert all(b'"after done"' not in e.data for e in rest)  # nothing after [DONE] is read
    assert all(e.frame().startswith(b"event: response.") for e in first_batch + rest)
    await reply.aclose()
    assert closed == [True]


async def test_bridge_stream_broken_midway_leaves_the_failure_to_the_edge():
    async def broken():
        yield SSEEvent.from_data(chunk({"content": "Hel"}))
        raise UpstreamTimeout("provider 'fake' went quiet", provider="fake")

    provider = FakeChatProvider([StreamReply(broken())])
    ctx = context()
    reply = await provider.senders[Endpoint.RESPONSES](ctx, responses_request({"input": "x", "stream": True}),
                                                       Target(provider, "m", "fake/m"))  # fmt: skip
    sent = []
    with pytest.raises(UpstreamTimeout) as caught:
        async for event in reply.events:
            sent.append((event.event, event.json()))
    assert ctx.state.get(TURN).final is None
    failure = ctx.state.get(TURN).broken.fail(caught.value)
    assert_well_formed(sent + failure, ctx.state.get(TURN).stamp.id)
    validate_with_sdk_types(sent + failure)
    assert failure[-1][1]["response"]["status"] == "failed"


async def test_bridge_stream_with_a_chunk_that_is_not_json():
    provider = FakeChatProvider([StreamReply(events_of([chunk({"content": "a"}), SSEEvent(b"{not json")]))])
    ctx = context()
    reply = await provider.senders[Endpoint.RESPONSES](
        ctx, responses_request({"input": "x"}), Target(provider, "m", "fake/m")
    )
    with pytest.raises(UpstreamError) as caught:
        async for _ in reply.events:
            pass
    assert caught.value.code == "upstream_bad_response"
    assert isinstance(ctx.state.get(TURN).broken, ChatToResponseStream)


def test_every_chat_provider_serves_responses_through_the_bridge():
    provider = FakeChatProvider([])
    assert Endpoint.RESPONSES in provider.senders
    assert Endpoint.RESPONSES.value == "responses"


# --- odd values: a clear 400 or an answer, never a traceback -------------------------------------

ODD = [None, 0, -1, 1.5, True, "", "x", [], [None], [{}], {}, {"type": []}, {"a": [1]}, [[]]]


def test_odd_request_values_are_refused_cleanly_or_translated():
    fields = ["input", "instructions", "tools", "tool_choice", "text", "reasoning", "metadata",
              "parallel_tool_calls", "max_output_tokens", "prompt_cache_key", "safety_identifier", "stream"]  # fmt: skip
    item_fields = ["type", "role", "content", "call_id", "name", "arguments", "namespace", "output", "input"]
    bodies = [{"input": "x", field: value} for field in fields for value in ODD]
    bodies += [
        {"input": [user("x"), {**base, field: value}, output("c")]}
        for base in (call("c"), {"type": "custom_tool_call", "call_id": "c", "name": "p", "input": "i"})
        for field in item_fields
        for value in ODD
    ]
    bodies += [{"input": [{"role": "user", "content": [{"type": kind, field: value}]}]}
               for kind in ("input_text", "input_image", "output_text", "refusal")
               for field in ("text", "image_url", "file_id", "detail", "refusal") for value in ODD]  # fmt: skip
    bodies += [{"input": "x", "tools": [{"type": kind, "name": "t", field: value}]}
               for kind in ("function", "custom", "namespace")
               for field in ("name", "parameters", "strict", "format", "tools", "description") for value in ODD]  # fmt: skip
    translated = 0
    for body in bodies:
        try:
            chat = responses_to_chat(body, "m")
        except InvalidRequest as error:
            assert error.param and error.message.startswith(error.param)
            continue
        translated += 1
        orjson.dumps(chat)
        input_items(body)
        answer = {"choices": [{"message": {"content": "ok"}}]}
        Response.model_validate(
            chat_to_response(answer, response_id="r", model="m", request=body, created_at=1)
        )
    assert 0 < translated < len(bodies)


def test_odd_answers_and_chunks_never_break_the_translation():
    odd_messages = [{"content": value, "refusal": value, "reasoning_content": value, "tool_calls": value,
                     "function_call": value} for value in ODD]  # fmt: skip
    for message in odd_messages:
        for finish in (None, "length", [], {}, 3):
            completion = {
                "choices": [{"message": message, "finish_reason": finish}],
                "usage": message["content"],
            }
            Response.model_validate(
                chat_to_response(completion, response_id="r", model="m", request={}, created_at=CREATED)
            )
    stream = translator({"input": "x"})
    events = stream.start()
    for value in ODD:
        for delta in ({"content": value}, {"reasoning_content": value}, {"tool_calls": value},
                      {"tool_calls": [{"index": value, "id": value, "function": value}]},
                      {"tool_calls": [{"index": 0, "function": {"name": value, "arguments": value}}]}):  # fmt: skip
            events += stream.feed(
                {"choices": [{"index": 0, "delta": delta, "finish_reason": value}], "usage": value}
            )
    events += stream.finish()
    assert_well_formed(events)
    validate_with_sdk_types(events)


async def test_bridge_sends_reasoning_effort_to_a_vendor_that_takes_it():
    answers = [Reply.from_data({"choices": [{"message": {"content": "a"}}]}) for _ in range(2)]
    plain, taking = FakeChatProvider(answers[:1]), FakeChatProvider(answers[1:])
    taking.reasoning_effort = True  # what `reasoning_effort = true` in its table sets
    body = {"input": "x", "reasoning": {"effort": "xhigh"}}
    for provider in (plain, taking):
        await provider.senders[Endpoint.RESPONSES](
            context(), responses_request(body), Target(provider, "m", "fake/m")
        )
    assert "reasoning_effort" not in plain.sent[0].body
    assert taking.sent[0].body["reasoning_effort"] == "high"
