"""The tool calls of an OpenAI chat request, as the translating adapters (gemini, bedrock,
dashscope) read them: checked once, each problem a 400 naming the field."""

from __future__ import annotations

import pytest

from sluicegate.errors import InvalidRequest
from sluicegate.translate.chat_tools import (
    ChatToolCall,
    json_arguments,
    named_function,
    output_limit,
    tool_calls,
)

WHERE = "messages[1]"


def call(call_id="call_1", name="get_weather", arguments='{"city": "Paris"}'):
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def test_calls_are_read_with_where_they_are():
    assert tool_calls([call(), call("call_2", "get_time", "{}")], WHERE) == [
        ChatToolCall("messages[1].tool_calls[0]", "call_1", "get_weather", '{"city": "Paris"}'),
        ChatToolCall("messages[1].tool_calls[1]", "call_2", "get_time", "{}"),
    ]
    assert tool_calls(None, WHERE) == [] and tool_calls([], WHERE) == []


@pytest.mark.parametrize(("calls", "param", "message"), [
    ({"id": "x"}, "messages[1].tool_calls", "must be a list"),
    (["call"], "messages[1].tool_calls[0]", "needs an id and a function name"),
    ([{"id": "x", "function": {"arguments": "{}"}}], "messages[1].tool_calls[0]", "needs an id"),
    ([call(), {"function": {"name": "f"}}], "messages[1].tool_calls[1]", "needs an id"),
    ([{"id": 7, "function": {"name": "f"}}], "messages[1].tool_calls[0]", "needs an id"),
])
def test_a_malformed_call_is_a_400_naming_it(calls, param, message):
    with pytest.raises(InvalidRequest) as refused:
        tool_calls(calls, WHERE)
    assert refused.value.param == param and message in str(refused.value)


@pytest.mark.parametrize(("arguments", "parsed"), [('{"a": [1, 2]}', {"a": [1, 2]}), ("", {}), (None, {}),
                                                   ("[1]", [1])])
def test_arguments_are_parsed(arguments, parsed):
    [checked] = tool_calls([call(arguments=arguments)], WHERE)
    assert json_arguments(checked) == parsed


@pytest.mark.parametrize(("arguments", "message"), [({"a": 1}, "must be a JSON string"), ("{a", "is not valid JSON")])
def test_arguments_that_are_not_json_are_a_400_naming_them(arguments, message):
    [checked] = tool_calls([call(arguments=arguments)], WHERE)
    with pytest.raises(InvalidRequest) as refused:
        json_arguments(checked)
    assert refused.value.param == "messages[1].tool_calls[0].function.arguments"
    assert message in str(refused.value)


def test_a_named_function_choice_and_what_is_not_one():
    assert named_function({"type": "function", "function": {"name": "get_weather"}}) == "get_weather"
    for choice in ("sometimes", {"type": "function"}, {"function": {"name": 3}}, None):
        with pytest.raises(InvalidRequest) as refused:
            named_function(choice)
        assert refused.value.param == "tool_choice"


def test_the_output_limit_prefers_max_completion_tokens():
    assert output_limit({"max_completion_tokens": 10, "max_tokens": 99}) == 10
    assert output_limit({"max_tokens": 99}) == 99
    assert output_limit({}) is None
