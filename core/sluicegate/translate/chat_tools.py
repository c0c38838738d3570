"""An OpenAI chat request's tool calls (an assistant message's ``tool_calls``) as every adapter
that translates them reads them: checked here once, each problem a 400 naming the field."""

from __future__ import annotations

from typing import Any

import orjson
from attrs import frozen

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
