"""The tools of a Responses request as chat functions, and the table that maps their names back.

A chat model can be given ``function`` tools, ``custom`` tools (freeform, like Codex's
``apply_patch``: a function with one string argument ``input``, the grammar in its description)
and the function and custom tools inside a ``namespace`` (Codex groups MCP tools so), named
``<namespace>__<name>`` (shortened with a digest past OpenAI's 64 characters). Answers map names
back through the table built here from the request's tools, never by splitting names. Every
other tool type is built into OpenAI's platform (``web_search``, ``file_search``,
``code_interpreter``, ``computer_use_preview``, ``image_generation``, ``mcp``, ``local_shell``,
``shell``, ``apply_patch``, ``tool_search``, ...) and is left out of a bridged call.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from attrs import frozen

from sluicegate.errors import InvalidRequest

NAMESPACE_JOIN = "__"
# OpenAI's limit on function names; longer flattened names are shortened with a digest.
_NAME_LIMIT = 64


def invalid(path: str, problem: str) -> InvalidRequest:
    return InvalidRequest(f"{path}: {problem}", param=path)


def new_item_id(prefix: str) -> str:
    """An item id in OpenAI's style (``msg_…``, ``fc_…``); tests inject their own."""
    return f"{prefix}_{uuid.uuid4().hex}"


@frozen
class ToolRef:
    """What a chat function name stands for in the Responses request."""

    kind: str  # "function" or "custom"
    name: str
    namespace: str | None = None


def chat_tool_name(namespace: str | None, name: str) -> str:
    """The chat function name of a (namespaced) tool; the same for tools and for history items."""
    if not namespace:
        return name
    flat = f"{namespace}{NAMESPACE_JOIN}{name}"
    if len(flat) <= _NAME_LIMIT:
        return flat
    digest = hashlib.sha256(flat.encode()).hexdigest()[:8]
    return f"{flat[: _NAME_LIMIT - 9]}_{digest}"


class Tools:
    """The request's tools as chat functions, the table of their names, and the ones kept."""

    __slots__ = ("functions", "names", "kept")

    def __init__(self, tools: Any) -> None:
        self.functions: list[dict[str, Any]] = []
        self.names: dict[str, ToolRef] = {}
        self.kept: list[dict[str, Any]] = []  # the given tools in Responses shape, for the echo
        if tools is None:
            return
        if not isinstance(tools, list):
            raise invalid("tools", "must be an array of tools")
        for index, tool in enumerate(tools):
            path = f"tools.{index}"
            kind = type_of(tool, path)
            if kind == "namespace":
                self._namespace(tool, path)
            elif kind in ("function", "custom"):
                self._add(tool, kind, None, path)
                self.kept.append(tool)

    def _namespace(self, tool: dict[str, Any], path: str) -> None:
        namespace, inner = tool.get("name"), tool.get("tools")
        if not isinstance(namespace, str) or not namespace:
            raise invalid(f"{path}.name", "must be a non-empty string")
        if not isinstance(inner, list):
            raise invalid(f"{path}.tools", "must be an array of tools")
        description = _description(tool, path)
        kept = []
        for index, member in enumerate(inner):
            where = f"{path}.tools.{index}"
            kind = type_of(member, where)
            if kind in ("function", "custom"):
                self._add(member, kind, namespace, where)
                kept.append(member)
        # OpenAI's echo always has a description; a client may have left it out.
        self.kept.append({**tool, "description": description or "", "tools": kept})

    def _add(self, tool: dict[str, Any], kind: str, namespace: str | None, path: str) -> None:
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise invalid(f"{path}.name", "must be a non-empty string")
        flat = chat_tool_name(namespace, name)
        if flat in self.names:
            raise invalid(f"{path}.name", f"the tool name {flat!r} is given twice")
        self.names[flat] = ToolRef(kind, name, namespace)
        function: dict[str, Any] = {"name": flat}
        description = _description(tool, path)
        if kind == "function":
            if description is not None:
                function["description"] = description
            parameters, strict = tool.get("parameters"), tool.get("strict")
            if parameters is not None and not isinstance(parameters, dict):
                raise invalid(f"{path}.parameters", "must be a JSON schema object")
            function["parameters"] = parameters or {"type": "object", "properties": {}}
            if strict is not None and not isinstance(strict, bool):
                raise invalid(f"{path}.strict", "must be a boolean")
            if strict is not None:
                function["strict"] = strict
        else:
            function["description"] = _custom_description(tool, description, path)
            function["parameters"] = {
                "type": "object",
                "properties": {"input": {"type": "string", "description": "The tool's input, verbatim."}},
                "required": ["input"],
                "additionalProperties": False,
            }
        self.functions.append({"type": "function", "function": function})


def _description(tool: dict[str, Any], path: str) -> str | None:
    description = tool.get("description")
    if description is not None and not isinstance(description, str):
        raise invalid(f"{path}.description", "must be a string")
    return description


def _custom_description(tool: dict[str, Any], description: str | None, path: str) -> str:
    """A freeform tool's grammar goes into the description: a chat model has no other place for it."""
    text = description or ""
    fmt = tool.get("format")
    if fmt is None or (isinstance(fmt, dict) and fmt.get("type") == "text"):
        return text
    if (
        not isinstance(fmt, dict)
        or fmt.get("type") != "grammar"
        or not isinstance(fmt.get("definition"), str)
    ):
        raise invalid(f"{path}.format", "must be a text format or a grammar with a definition")
    syntax = fmt.get("syntax") if isinstance(fmt.get("syntax"), str) else "lark"
    rule = f"The input must follow this {syntax} grammar:\n{fmt['definition']}"
    return f"{text}\n\n{rule}" if text else rule


def type_of(item: Any, path: str) -> str:
    if not isinstance(item, dict) or not isinstance(item.get("type"), str):
        raise invalid(path, "must be an object with a type")
    return item["type"]


def tool_names(body: dict[str, Any]) -> dict[str, ToolRef]:
    """The chat function names of a (valid) request's tools, and what each stands for."""
    return Tools(body.get("tools")).names


def dropped_builtin_tools(body: dict[str, Any]) -> list[str]:
    """The types of the tools left out of a bridged call, in request order, each once."""
    dropped: list[str] = []
    tools = body.get("tools")
    for tool in tools if isinstance(tools, list) else ():
        members = [tool]
        if isinstance(tool, dict) and tool.get("type") == "namespace":
            members = tool["tools"] if isinstance(tool.get("tools"), list) else []
        for member in members:
            kind = member.get("type") if isinstance(member, dict) else None
            if isinstance(kind, str) and kind not in ("function", "custom") and kind not in dropped:
                dropped.append(kind)
    return dropped
