"""Anthropic Messages API in front of an OpenAI chat provider: request, answer and stream.

The vocabulary both directions share (stop reasons, tool choices, usage, the error body) is in
``sluicegate.translate.anthropic_dialect``.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import orjson

from sluicegate.errors import InvalidRequest
from sluicegate.translate.anthropic_dialect import STOP_REASONS, TOOL_CHOICES_TO_OPENAI, anthropic_usage
from sluicegate.translate.chat_tools import object_arguments

# Paths name the offending field the way Anthropic's own API and the gateway's Messages checks
# do (``messages.3.content.1.source.type``), and are repeated in the message because the
# Anthropic error shape has no ``param`` field.

# Separate text blocks are separate paragraphs to the writer; OpenAI-compatible vendors do not all
# accept arrays of text parts for system and assistant turns, so they become one string.
_TEXT_JOIN = "\n\n"

# OpenAI tool messages have no error flag; the model must still learn that the call failed.
TOOL_ERROR_PREFIX = "Error: "

_DROPPED_BLOCKS = frozenset({"thinking", "redacted_thinking"})

_ROLES = frozenset({"user", "assistant", "system"})

#: ``metadata.user_id`` reaches the vendor as OpenAI's ``user`` only as this prefix and a digest:
#: Claude Code puts a JSON blob of device, account and session ids there.
USER_DIGEST_PREFIX = "sha256:"

# Anthropic's output_config.effort as OpenAI's reasoning_effort; Anthropic's levels above high
# ask for the most there is, which on the chat side is high.
_EFFORTS = {"low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "high"}
# thinking.budget_tokens below these is low, then medium; from the second on, high.
_BUDGET_LOW, _BUDGET_MEDIUM = 4096, 16384


def _invalid(path: str, problem: str) -> InvalidRequest:
    return InvalidRequest(f"{path}: {problem}", param=path)


# --- request: Anthropic Messages -> OpenAI chat ---------------------------------------------


def messages_to_chat(
    body: dict[str, Any], model: str, *, reasoning_effort: bool = False, cache_control: bool = False
) -> dict[str, Any]:
    """The OpenAI chat request that asks ``model`` what the Anthropic request ``body`` asks.

    The gateway checks only what routing needs before this, so this is where a Messages
    request is checked as Anthropic checks it (``max_tokens``, ``messages``, roles, content),
    before any vendor call. Raises ``InvalidRequest`` (with the path as ``param``) for that
    and for anything an OpenAI chat model cannot be given: documents, server tools, file-id
    images, unknown block types.

    ``system`` messages inside ``messages`` stay where they are, as chat system messages.
    With ``reasoning_effort`` (the vendor takes that field) ``output_config.effort`` or
    ``thinking`` become ``reasoning_effort``. With ``cache_control`` (the vendor's chat dialect
    takes the marks) a block's ``cache_control`` stays on its chat part (text, image, the tool
    message of a tool result, the tool); a marked system prompt stays a list of text parts.
    Fields without an OpenAI meaning (``top_k``, ``thinking`` otherwise,
    ``context_management``, ``cache_control`` otherwise, ``service_tier``, ...) are dropped.
    """
    _check_max_tokens(body)
    turns = check_conversation(body)
    messages: list[dict[str, Any]] = []
    system = _system_content(body.get("system"), cache_control)
    if system:
        messages.append({"role": "system", "content": system})
    for index, turn in enumerate(turns):
        _turn(turn, f"messages.{index}", messages, cache_control)

    chat: dict[str, Any] = {"model": model, "messages": messages}
    for name in ("max_tokens", "temperature", "top_p"):
        if body.get(name) is not None:
            chat[name] = body[name]
    stop = body.get("stop_sequences")
    if stop:
        chat["stop"] = stop
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str) and metadata["user_id"]:
        chat["user"] = user_digest(metadata["user_id"])
    if reasoning_effort:
        effort = _reasoning_effort(body)
        if effort is not None:
            chat["reasoning_effort"] = effort
    _tools(body, chat, cache_control)
    response_format = _response_format(body.get("output_config"))
    if response_format is not None:
        chat["response_format"] = response_format
    if body.get("stream") is True:
        chat["stream"] = True
        # Without it OpenAI sends no usage in a stream, and Anthropic clients expect one.
        chat["stream_options"] = {"include_usage": True}
    return chat


def check_conversation(body: dict[str, Any]) -> list[Any]:
    """``messages`` (returned) and ``system`` checked for their shape as Anthropic checks them:
    a non-empty array of ``user``, ``assistant`` or ``system`` turns with string or block
    content; ``system`` a string or blocks. What is inside the blocks is not looked at here."""
    turns = body.get("messages")
    if turns is None:
        raise InvalidRequest("messages: Field required", param="messages", code="missing_required_parameter")
    if not isinstance(turns, list):
        raise _invalid("messages", "must be an array of message objects")
    if not turns:
        raise _invalid("messages", "at least one message is required")
    for index, turn in enumerate(turns):
        where = f"messages.{index}"
        if not isinstance(turn, dict):
            raise _invalid(where, "must be an object")
        role = turn.get("role")
        if not isinstance(role, str) or role not in _ROLES:
            raise _invalid(f"{where}.role", "must be 'user', 'assistant' or 'system'")
        if not isinstance(turn.get("content"), (str, list)):
            raise _invalid(f"{where}.content", "must be a string or an array of content blocks")
    system = body.get("system")
    if system is not None and not isinstance(system, (str, list)):
        raise _invalid("system", "must be a string or an array of text blocks")
    return turns


def _check_max_tokens(body: dict[str, Any]) -> None:
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        raise InvalidRequest("max_tokens: Field required", param="max_tokens", code="missing_required_parameter")
    if type(max_tokens) is not int or max_tokens < 1:
        raise _invalid("max_tokens", "must be a positive integer")


def user_digest(user_id: str) -> str:
    """A stable stand-in for ``metadata.user_id``: the same id always gives the same value,
    so a vendor can still tell users apart, but nothing in it can be read back."""
    return USER_DIGEST_PREFIX + hashlib.sha256(user_id.encode()).hexdigest()[:32]


def _reasoning_effort(body: dict[str, Any]) -> str | None:
    """OpenAI's ``reasoning_effort`` for the request's ``output_config.effort`` or, without
    one, its ``thinking``: ``enabled`` by its budget, ``disabled`` as ``low``; ``adaptive``
    (the model decides) and anything unknown leave it to the vendor's default."""
    config = body.get("output_config")
    effort = config.get("effort") if isinstance(config, dict) else None
    if isinstance(effort, str) and effort in _EFFORTS:
        return _EFFORTS[effort]
    thinking = body.get("thinking")
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind == "disabled":
        return "low"
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if type(budget) is int:
            return "low" if budget < _BUDGET_LOW else "medium" if budget < _BUDGET_MEDIUM else "high"
    return None


def _system_text(system: Any, path: str = "system") -> str:
    if system is None or isinstance(system, str):
        return system or ""
    if not isinstance(system, list):
        raise _invalid(path, "must be a string or an array of text blocks")
    texts = []
    for index, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise _invalid(f"{path}.{index}", "only text blocks can be sent to this model")
        texts.append(_text_of(block, f"{path}.{index}"))
    return _TEXT_JOIN.join(texts)


def _marked(part: dict[str, Any], block: dict[str, Any], keep: bool) -> dict[str, Any]:
    """``part`` with ``block``'s ``cache_control`` when the marks are kept."""
    if keep and isinstance(block.get("cache_control"), dict):
        part["cache_control"] = block["cache_control"]
    return part


def _system_content(system: Any, keep: bool) -> str | list[dict[str, Any]]:
    """The system prompt as one string, or as text parts when a kept mark needs them."""
    text = _system_text(system)
    if keep and isinstance(system, list) and any(isinstance(block.get("cache_control"), dict) for block in system):
        return [_marked({"type": "text", "text": block["text"]}, block, keep) for block in system]
    return text


def _text_of(block: dict[str, Any], path: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise _invalid(f"{path}.text", "must be a string")
    return text


def _turn(turn: dict[str, Any], path: str, messages: list[dict[str, Any]], keep: bool = False) -> None:
    """Append the chat messages for one (already shape-checked) turn to ``messages``."""
    role, content = turn["role"], turn["content"]
    if role == "system":
        # A system message inside the conversation (Claude Code's environment and token
        # notes) keeps its place; one right after another system message joins it, as some
        # chat templates refuse two in a row.
        text = _system_text(content, f"{path}.content")
        if not text:
            return
        if messages and messages[-1]["role"] == "system":
            messages[-1]["content"] += _TEXT_JOIN + text
        else:
            messages.append({"role": "system", "content": text})
    elif isinstance(content, str):
        messages.append({"role": role, "content": content})
    elif role == "user":
        messages.extend(_user_turn(content, f"{path}.content", keep))
    else:
        messages.append(_assistant_turn(content, f"{path}.content", keep))


def _block_type(block: Any, path: str) -> str:
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        raise _invalid(path, "must be a content block object with a type")
    return block["type"]


def _user_turn(blocks: list[Any], path: str, keep: bool = False) -> list[dict[str, Any]]:
    """Tool results first, as OpenAI ``tool`` messages, then the rest of the turn as one message.

    OpenAI requires the tool messages to follow the assistant's ``tool_calls`` directly.
    """
    tool_messages: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for index, block in enumerate(blocks):
        where = f"{path}.{index}"
        kind = _block_type(block, where)
        if kind == "text":
            parts.append(_marked({"type": "text", "text": _text_of(block, where)}, block, keep))
        elif kind == "image":
            parts.append(_marked(_image_part(block, where), block, keep))
        elif kind == "tool_result":
            tool_message, images = _tool_result(block, where)
            if keep and isinstance(block.get("cache_control"), dict):
                tool_message["content"] = [_marked({"type": "text", "text": tool_message["content"]}, block, keep)]
            tool_messages.append(tool_message)
            # Tool messages carry text only; the images still reach the model in the user turn.
            parts.extend(images)
        elif kind not in _DROPPED_BLOCKS:
            raise _invalid(where, f"content blocks of type {kind!r} cannot be sent to this model")
    if not parts and tool_messages:
        return tool_messages
    if all(part["type"] == "text" and "cache_control" not in part for part in parts):
        content: Any = _TEXT_JOIN.join(part["text"] for part in parts)
    else:
        content = parts
    return [*tool_messages, {"role": "user", "content": content}]


def _assistant_turn(blocks: list[Any], path: str, keep: bool = False) -> dict[str, Any]:
    texts: list[str] = []
    parts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for index, block in enumerate(blocks):
        where = f"{path}.{index}"
        kind = _block_type(block, where)
        if kind == "text":
            texts.append(_text_of(block, where))
            parts.append(_marked({"type": "text", "text": texts[-1]}, block, keep))
        elif kind == "tool_use":
            calls.append(_tool_call(block, where))
        elif kind not in _DROPPED_BLOCKS:
            raise _invalid(where, f"content blocks of type {kind!r} cannot be sent to this model")
    message: dict[str, Any] = {"role": "assistant", "content": _TEXT_JOIN.join(texts) if texts else None}
    if any("cache_control" in part for part in parts):
        message["content"] = parts
    if calls:
        message["tool_calls"] = calls
    elif message["content"] is None:
        message["content"] = ""
    return message


def _tool_call(block: dict[str, Any], path: str) -> dict[str, Any]:
    call_id, name, arguments = block.get("id"), block.get("name"), block.get("input", {})
    if not isinstance(call_id, str):
        raise _invalid(f"{path}.id", "must be a string")
    if not isinstance(name, str):
        raise _invalid(f"{path}.name", "must be a string")
    if not isinstance(arguments, dict):
        raise _invalid(f"{path}.input", "must be an object")
    try:
        encoded = orjson.dumps(arguments).decode()
    except TypeError:  # e.g. an integer beyond 64 bits
        raise _invalid(f"{path}.input", "cannot be encoded as JSON arguments") from None
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": encoded}}


def _tool_result(block: dict[str, Any], path: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str):
        raise _invalid(f"{path}.tool_use_id", "must be a string")
    content = block.get("content", "")
    images: list[dict[str, Any]] = []
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        texts = []
        for index, inner in enumerate(content):
            where = f"{path}.content.{index}"
            kind = _block_type(inner, where)
            if kind == "text":
                texts.append(_text_of(inner, where))
            elif kind == "image":
                images.append(_image_part(inner, where))
            else:
                raise _invalid(where, f"tool results with {kind!r} blocks cannot be sent to this model")
        text = _TEXT_JOIN.join(texts)
    elif content is None:
        text = ""
    else:
        raise _invalid(f"{path}.content", "must be a string or an array of content blocks")
    if block.get("is_error") is True:
        text = TOOL_ERROR_PREFIX + text
    return {"role": "tool", "tool_call_id": call_id, "content": text}, images


def _image_part(block: dict[str, Any], path: str) -> dict[str, Any]:
    source = block.get("source")
    if not isinstance(source, dict):
        raise _invalid(f"{path}.source", "must be an object")
    kind = source.get("type")
    if kind == "base64":
        media_type, data = source.get("media_type"), source.get("data")
        if not isinstance(media_type, str) or not isinstance(data, str):
            raise _invalid(f"{path}.source", "a base64 source needs string media_type and data")
        url = f"data:{media_type};base64,{data}"
    elif kind == "url":
        url = source.get("url")
        if not isinstance(url, str):
            raise _invalid(f"{path}.source.url", "must be a string")
    else:
        raise _invalid(f"{path}.source.type", f"image sources of type {kind!r} cannot be sent to this model")
    return {"type": "image_url", "image_url": {"url": url}}


def _tools(body: dict[str, Any], chat: dict[str, Any], keep: bool = False) -> None:
    tools = body.get("tools")
    if tools is None:
        return
    if not isinstance(tools, list):
        raise _invalid("tools", "must be an array of tool definitions")
    functions = [_marked(_function(tool, f"tools.{index}"), tool, keep) for index, tool in enumerate(tools)]
    # OpenAI refuses tool_choice and parallel_tool_calls when no tools are given.
    if not functions:
        return
    chat["tools"] = functions
    choice = body.get("tool_choice")
    if choice is None:
        return
    if not isinstance(choice, dict):
        raise _invalid("tool_choice", "must be an object")
    kind = choice.get("type")
    if kind == "tool":
        name = choice.get("name")
        if not isinstance(name, str):
            raise _invalid("tool_choice.name", "must be a string")
        chat["tool_choice"] = {"type": "function", "function": {"name": name}}
    elif isinstance(kind, str) and kind in TOOL_CHOICES_TO_OPENAI:
        chat["tool_choice"] = TOOL_CHOICES_TO_OPENAI[kind]
    else:
        raise _invalid("tool_choice.type", "must be one of 'auto', 'any', 'tool', 'none'")
    if choice.get("disable_parallel_tool_use") is True and kind != "none":
        chat["parallel_tool_calls"] = False


def _function(tool: Any, path: str) -> dict[str, Any]:
    if not isinstance(tool, dict):
        raise _invalid(path, "must be an object")
    kind = tool.get("type")
    if kind not in (None, "custom"):
        raise _invalid(path, f"the Anthropic server tool {kind!r} cannot be used with this model")
    name, schema = tool.get("name"), tool.get("input_schema")
    if not isinstance(name, str):
        raise _invalid(f"{path}.name", "must be a string")
    if not isinstance(schema, dict):
        raise _invalid(f"{path}.input_schema", "must be a JSON schema object")
    function: dict[str, Any] = {"name": name}
    if isinstance(tool.get("description"), str):
        function["description"] = tool["description"]
    function["parameters"] = schema
    if isinstance(tool.get("strict"), bool):
        function["strict"] = tool["strict"]
    return {"type": "function", "function": function}


def _response_format(config: Any) -> dict[str, Any] | None:
    """Structured output (``output_config.format``) as OpenAI's ``json_schema`` response format.

    Dropping it would hand the client prose where it parses JSON.
    """
    if not isinstance(config, dict) or config.get("format") is None:
        return None
    fmt = config["format"]
    if not isinstance(fmt, dict):
        fmt = {}
    schema = fmt.get("schema")
    if fmt.get("type") != "json_schema" or not isinstance(schema, dict):
        raise _invalid("output_config.format", "only a json_schema format with a schema object is supported")
    return {"type": "json_schema", "json_schema": {"name": "output", "schema": schema, "strict": True}}


# --- answer: OpenAI chat completion -> Anthropic message ------------------------------------


def chat_to_message(data: dict[str, Any], requested_model: str) -> dict[str, Any]:
    """The Anthropic message for an OpenAI ``chat.completion``; only the first choice counts.

    Raises ``ValueError`` when there is no choice to translate; the caller turns that into an
    upstream error naming the provider, which this module does not know.
    """
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ValueError("the chat completion has no choices")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        message = {}
    content: list[dict[str, Any]] = []
    reasoning = message.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning:
        content.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    text = _answer_text(message.get("content")) or _answer_text(message.get("refusal"))
    if text:
        content.append({"type": "text", "text": text})
    calls = message.get("tool_calls")
    if not calls and isinstance(message.get("function_call"), dict):
        calls = [{"function": message["function_call"]}]  # the legacy single-function form
    for call in calls if isinstance(calls, list) else ():
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            continue
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id") or _new_tool_id(),
                "name": function.get("name") or "",
                "input": object_arguments(function.get("arguments")),
            }
        )
    has_tools = any(block["type"] == "tool_use" for block in content)
    return {
        "id": _message_id(data.get("id")),
        "type": "message",
        "role": "assistant",
        "model": data.get("model") or requested_model,
        "content": content,
        "stop_reason": _stop_reason(choice.get("finish_reason"), has_tools),
        "stop_sequence": None,
        "usage": anthropic_usage(data.get("usage")),
    }


def _answer_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # some vendors answer in content parts
        return "".join(
            part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def _stop_reason(finish_reason: Any, has_tools: bool) -> str:
    reason = STOP_REASONS.get(finish_reason, "end_turn") if isinstance(finish_reason, str) else "end_turn"
    # Some OpenAI-compatible servers say "stop" after emitting tool calls; the client must
    # still see tool_use or it will not run them.
    if reason == "end_turn" and has_tools:
        return "tool_use"
    return reason


def _message_id(openai_id: Any) -> str:
    if isinstance(openai_id, str) and openai_id:
        return "msg_" + openai_id.removeprefix("chatcmpl-")
    return "msg_" + uuid.uuid4().hex


def _new_tool_id() -> str:
    return "toolu_" + uuid.uuid4().hex


# --- stream: OpenAI chat.completion.chunk -> Anthropic message events -----------------------


class ChatToMessageStream:
    """Turns an OpenAI chunk stream into the Anthropic event sequence, one chunk at a time.

    ``feed`` each parsed chunk, then call ``finish`` at ``[DONE]`` (or the end of the body).
    Each returns ``[(event_name, data), ...]``; ``data`` carries the same ``type``, as
    Anthropic's SDKs dispatch on it. DeepSeek/Qwen ``reasoning_content`` becomes a
    ``thinking`` block (with an empty signature: there is none to give).
    Tool-argument fragments are relayed as they come, without buffering or validation,
    just as Anthropic streams ``input_json_delta``.
    """

    __slots__ = (
        "_model",
        "_id",
        "_started",
        "_finished",
        "_blocks",
        "_open",
        "_tool_index",
        "_tool_id",
        "_saw_tool",
        "_finish_reason",
        "_usage",
    )

    def __init__(self, requested_model: str, message_id: str | None = None) -> None:
        self._model = requested_model
        self._id = message_id
        self._started = False
        self._finished = False
        self._blocks = 0  # content blocks opened so far; the open one has index _blocks - 1
        self._open: str | None = None  # "text", "thinking" or "tool_use"
        self._tool_index: Any = None
        self._tool_id: str | None = None
        self._saw_tool = False
        self._finish_reason: Any = None
        self._usage: dict[str, Any] | None = None

    def feed(self, chunk: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        if self._finished:
            return []
        events: list[tuple[str, dict[str, Any]]] = []
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
        if not self._started:
            events.append(self._message_start(chunk))
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else ():
            # The gateway never asks for n > 1; a stray extra choice must not mix into the message.
            if isinstance(choice, dict) and choice.get("index") in (0, None):
                self._choice(choice, events)
        return events

    def finish(self) -> list[tuple[str, dict[str, Any]]]:
        if self._finished:
            return []
        self._finished = True
        events = [] if self._started else [self._message_start({})]
        self._close(events)
        if self._usage is not None:
            usage: dict[str, int] = anthropic_usage(self._usage)
        else:
            usage = {"output_tokens": 0}
        delta = {"stop_reason": _stop_reason(self._finish_reason, self._saw_tool), "stop_sequence": None}
        events.append(("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
        events.append(("message_stop", {"type": "message_stop"}))
        return events

    def _message_start(self, chunk: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        self._started = True
        if self._id is None:
            self._id = _message_id(chunk.get("id"))
        usage = anthropic_usage(self._usage)
        usage["output_tokens"] = 0
        message = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": chunk.get("model") or self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        return ("message_start", {"type": "message_start", "message": message})

    def _choice(self, choice: dict[str, Any], events: list[tuple[str, dict[str, Any]]]) -> None:
        delta = choice.get("delta")
        if isinstance(delta, dict):
            reasoning = delta.get("reasoning_content")
            if isinstance(reasoning, str) and reasoning:
                if self._open != "thinking":
                    self._start_block({"type": "thinking", "thinking": "", "signature": ""}, events)
                self._delta({"type": "thinking_delta", "thinking": reasoning}, events)
            text = delta.get("content")
            if isinstance(text, str) and text:
                if self._open != "text":
                    self._start_block({"type": "text", "text": ""}, events)
                self._delta({"type": "text_delta", "text": text}, events)
            calls = delta.get("tool_calls")
            for call in calls if isinstance(calls, list) else ():
                if isinstance(call, dict):
                    self._tool_fragment(call, events)
        if choice.get("finish_reason"):
            self._finish_reason = choice["finish_reason"]

    def _tool_fragment(self, call: dict[str, Any], events: list[tuple[str, dict[str, Any]]]) -> None:
        function = call.get("function")
        if not isinstance(function, dict):
            function = {}
        index, call_id = call.get("index"), call.get("id")
        # A new call starts at a new index or a new id; some servers repeat the id (and name)
        # on every fragment of the same call, and some number every call 0.
        if (
            self._open != "tool_use"
            or (index is not None and index != self._tool_index)
            or (call_id and call_id != self._tool_id)
        ):
            self._tool_index = index
            self._tool_id = call_id or _new_tool_id()
            self._saw_tool = True
            block = {"type": "tool_use", "id": self._tool_id, "name": function.get("name") or "", "input": {}}
            self._start_block(block, events)
        arguments = function.get("arguments")
        if isinstance(arguments, dict):
            arguments = orjson.dumps(arguments).decode()
        if isinstance(arguments, str) and arguments:
            self._delta({"type": "input_json_delta", "partial_json": arguments}, events)

    def _start_block(self, block: dict[str, Any], events: list[tuple[str, dict[str, Any]]]) -> None:
        self._close(events)
        self._open = block["type"]
        self._blocks += 1
        start = {"type": "content_block_start", "index": self._blocks - 1, "content_block": block}
        events.append(("content_block_start", start))

    def _delta(self, delta: dict[str, Any], events: list[tuple[str, dict[str, Any]]]) -> None:
        event = {"type": "content_block_delta", "index": self._blocks - 1, "delta": delta}
        events.append(("content_block_delta", event))

    def _close(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        if self._open is not None:
            events.append(("content_block_stop", {"type": "content_block_stop", "index": self._blocks - 1}))
            self._open = None
