"""OpenAI chat's tool calls, as every translation reads them: a request's (an assistant message's
``tool_calls``, checked here once, each problem a 400 naming the field), and an answer's
arguments as the object other dialects promise."""

from __future__ import annotations

from typing import Any

import orjson
from attrs import frozen

from sluicegate import nesting
from sluicegate.errors import InvalidRequest


@frozen
class ChatToolCall:
    """One call, checked: it has an id and a function name."""

    param: str  # where it is in the request ("messages[3].tool_calls[0]"), for errors
    id: str
    name: str
    arguments: Any  # the function's ``arguments`` as the client sent them (a JSON string)


def tool_calls(calls: Any, where: str) -> list[ChatToolCall]:
    """The calls of ``<where>.tool_calls`` (none when absent or empty)."""
    if not calls:
        return []
    if not isinstance(calls, list):
        raise InvalidRequest(f"{where}.tool_calls must be a list", param=f"{where}.tool_calls")
    checked = []
    for index, call in enumerate(calls):
        param = f"{where}.tool_calls[{index}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not isinstance(
            call.get("id"), str
        ):
            raise InvalidRequest(f"{param} needs an id and a function name", param=param)
        checked.append(ChatToolCall(param, call["id"], function["name"], function.get("arguments")))
    return checked


def named_function(choice: Any) -> str:
    """The function a ``tool_choice`` object names (``{type: function, function: {name}}``); a
    400 for any other value (the words ``auto``, ``none``, ``required`` are each vendor's own)."""
    function = choice.get("function") if isinstance(choice, dict) else None
    if isinstance(function, dict) and isinstance(function.get("name"), str):
        return function["name"]
    raise InvalidRequest(
        "tool_choice must be auto, none, required or {type: function, function: {name}}", param="tool_choice"
    )


def output_limit(body: dict[str, Any]) -> Any:
    """The answer's token cap a chat request asks for: ``max_completion_tokens``, else the older
    ``max_tokens`` (None: neither)."""
    limit = body.get("max_completion_tokens")
    return body.get("max_tokens") if limit is None else limit


def json_arguments(call: ChatToolCall) -> Any:
    """A call's arguments parsed (none sent: ``{}``); a 400 for anything not a JSON string."""
    arguments, param = call.arguments, f"{call.param}.function.arguments"
    if arguments is None or arguments == "":
        return {}
    if not isinstance(arguments, str):
        raise InvalidRequest(f"{param} must be a JSON string", param=param)
    try:
        return orjson.loads(arguments)
    except orjson.JSONDecodeError:
        raise InvalidRequest(f"{param} is not valid JSON", param=param) from None


def object_arguments(arguments: Any) -> dict[str, Any]:
    """An answer's tool-call arguments parsed; ``{}`` when they are not a JSON object.

    Anthropic and Gemini promise an object, and a client validating it against the tool's
    schema reports the failure back to the model, which can retry.
    """
    if isinstance(arguments, dict):  # some vendors send the object itself
        return arguments
    if not isinstance(arguments, str) or not arguments.strip():
        return {}
    try:
        parsed = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(parsed, dict) or nesting.exceeds(parsed):  # too deep to encode again
        return {}
    return parsed
