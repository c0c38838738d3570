"""The OpenAI Responses API in front of an OpenAI chat provider: the request side.

``responses_to_chat`` turns a Responses request into the chat request that asks a chat model
the same; ``responses_answer`` turns the chat answer back, stream included. What was decided, and why:

- ``instructions`` and the ``system``/``developer`` messages that open ``input`` become one
  leading system message: several chat templates (Qwen, Llama) refuse a system message that is
  not the first. Later system/developer messages keep their place.
- ``function_call`` items become an assistant message's ``tool_calls``; consecutive calls (and
  an assistant message directly before them) are one assistant message, as chat wants them.
  An output whose call is not in the input, or a call left without output, is refused here
  with the item's path, as OpenAI refuses it, rather than by the vendor in its own words.
- Tools: see ``responses_tools``. The items of the built-in tools left out there are dropped
  from ``input`` too (call and output alike, so no tool message is left without its call).
- ``reasoning`` items are dropped: most vendors refuse ``reasoning_content`` in a request.
  ``keep_reasoning=True`` hands their text back as the next assistant message's
  ``reasoning_content``, for vendors that want it during a tool loop.
- ``max_output_tokens`` becomes ``max_tokens``, the field every OpenAI-compatible vendor knows;
  ``reasoning.effort`` becomes ``reasoning_effort`` (low/medium/high) for a vendor that takes it.
  ``metadata``, ``store``, ``include``, ``truncation``, ``service_tier``, ``text.verbosity`` and
  ``reasoning.summary`` have no chat meaning for a third party and stay behind; ``user`` (or
  else ``safety_identifier``) is sent as ``user`` and ``prompt_cache_key`` as is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from sluicegate.translate.responses_tools import Tools, chat_tool_name, invalid, new_item_id, type_of

# Separate text parts are separate paragraphs to the writer; OpenAI-compatible vendors do not all
# accept arrays of text parts, so they become one string (as on the Messages bridge).
_TEXT_JOIN = "\n\n"
_TEXT_PARTS = frozenset({"input_text", "output_text"})
_SYSTEM_ROLES = frozenset({"system", "developer"})
_IMAGE_DETAILS = frozenset({"low", "high", "auto"})
_CALLS = frozenset({"function_call", "custom_tool_call"})
_OUTPUTS = frozenset({"function_call_output", "custom_tool_call_output"})
# Items of the built-in tools that ``responses_tools`` leaves out: nothing to give a chat model.
_BUILTIN_ITEMS = frozenset(
    {
        "web_search_call", "file_search_call", "computer_call", "computer_call_output",
        "code_interpreter_call", "image_generation_call", "local_shell_call",
        "local_shell_call_output", "shell_call", "shell_call_output", "apply_patch_call",
        "apply_patch_call_output", "mcp_list_tools", "mcp_approval_request",
        "mcp_approval_response", "mcp_call", "tool_search_call", "tool_search_output",
        "compaction", "additional_tools", "program", "program_output",
    }
)  # fmt: skip
# Fields that are echoed in the Response: a value of the wrong type is refused, not echoed.
_SCALARS = (
    ("text", (dict,), "an object"),
    ("reasoning", (dict,), "an object"),
    ("metadata", (dict,), "an object"),
    ("temperature", (int, float), "a number"),
    ("top_p", (int, float), "a number"),
    ("max_output_tokens", (int,), "a positive integer"),
    ("max_tool_calls", (int,), "an integer"),
    ("top_logprobs", (int,), "an integer"),
    ("user", (str,), "a string"),
    ("safety_identifier", (str,), "a string"),
    ("prompt_cache_key", (str,), "a string"),
    ("previous_response_id", (str,), "a string"),
    ("parallel_tool_calls", (bool,), "a boolean"),
    ("store", (bool,), "a boolean"),
    ("stream", (bool,), "a boolean"),
)
_TOOL_CHOICES = frozenset({"auto", "none", "required"})
# Responses' reasoning efforts as the low/medium/high a chat vendor takes: below low is low,
# above high (the most there is) is high.
_EFFORTS = {
    "none": "low",
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "high",
    "max": "high",
}


# --- request -------------------------------------------------------------------------------


def responses_to_chat(
    body: dict[str, Any],
    model: str,
    *,
    reasoning_effort: bool = False,
    keep_reasoning: bool = False,
    tools: Tools | None = None,
) -> dict[str, Any]:
    """The OpenAI chat request that asks ``model`` what the Responses request ``body`` asks.

    ``previous_response_id`` must already be resolved into ``input`` by the caller. Raises
    ``InvalidRequest`` (the dotted path as ``param``) for what a chat model cannot be given.
    With ``reasoning_effort`` (the vendor takes that field) ``reasoning.effort`` is sent as
    ``reasoning_effort``. ``tools`` is ``Tools(body["tools"])`` when the caller has it already.
    """
    for name in ("prompt", "conversation"):
        if body.get(name) is not None:
            raise invalid(name, "stored prompts and conversations cannot be used with this model")
    for name, kinds, what in _SCALARS:
        value = body.get(name)
        if value is not None and (
            not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds)
        ):
            raise invalid(name, f"must be {what}")
    if isinstance(body.get("max_output_tokens"), int) and body["max_output_tokens"] < 1:
        raise invalid("max_output_tokens", "must be a positive integer")
    if body.get("truncation") not in (None, "auto", "disabled"):
        raise invalid("truncation", "must be 'auto' or 'disabled'")
    metadata = body.get("metadata") or {}
    for key, value in metadata.items():
        if not isinstance(value, str):
            raise invalid(f"metadata.{key}", "must be a string")
    if tools is None:
        tools = Tools(body.get("tools"))
    messages = _Conversation(keep_reasoning).translate(body.get("instructions"), body.get("input"))
    chat: dict[str, Any] = {"model": model, "messages": messages}
    for name in ("temperature", "top_p", "prompt_cache_key", "user"):
        if body.get(name) is not None:
            chat[name] = body[name]
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    if "user" not in chat and isinstance(body.get("safety_identifier"), str):
        chat["user"] = body["safety_identifier"]
    _tool_choice(body, tools, chat)
    _text_format(body.get("text"), chat)
    reasoning = body.get("reasoning")
    effort = reasoning.get("effort") if isinstance(reasoning, dict) else None
    if effort is not None:
        if not isinstance(effort, str) or effort not in _EFFORTS:
            raise invalid("reasoning.effort", f"must be one of {', '.join(_EFFORTS)}")
        if reasoning_effort:
            chat["reasoning_effort"] = _EFFORTS[effort]
    if body.get("stream") is True:
        chat["stream"] = True
        # Without it a chat stream carries no usage, and a Response reports one.
        chat["stream_options"] = {"include_usage": True}
    return chat


def _tool_choice(body: dict[str, Any], tools: Tools, chat: dict[str, Any]) -> None:
    functions = tools.functions
    choice = body.get("tool_choice")
    if choice is None or (isinstance(choice, str) and choice in _TOOL_CHOICES):
        chat_choice: Any = choice
    elif not isinstance(choice, dict) or not isinstance(choice.get("type"), str):
        raise invalid("tool_choice", "must be 'auto', 'none', 'required' or a tool choice object")
    elif choice["type"] == "allowed_tools":
        listed = choice.get("tools")
        if not isinstance(listed, list) or choice.get("mode") not in ("auto", "required"):
            raise invalid(
                "tool_choice", "allowed_tools needs a mode ('auto' or 'required') and a tools array"
            )
        allowed = {_chosen_name(tool) for tool in listed}
        functions = [function for function in functions if function["function"]["name"] in allowed]
        chat_choice = choice["mode"]
    elif choice["type"] in ("function", "custom"):
        name = _chosen_name(choice)
        if name not in tools.names:
            raise invalid("tool_choice.name", "must name one of the tools")
        chat_choice = {"type": "function", "function": {"name": name}}
    else:
        raise invalid(
            "tool_choice.type", f"the built-in tool {choice['type']!r} is not available with this model"
        )
    # OpenAI refuses tool_choice and parallel_tool_calls when no tools are given.
    if not functions:
        return
    chat["tools"] = functions
    if isinstance(body.get("parallel_tool_calls"), bool):
        chat["parallel_tool_calls"] = body["parallel_tool_calls"]
    if chat_choice is not None:
        chat["tool_choice"] = chat_choice


def _chosen_name(choice: Any) -> str | None:
    if not isinstance(choice, dict) or not isinstance(choice.get("name"), str):
        return None
    namespace = choice.get("namespace")
    return chat_tool_name(namespace if isinstance(namespace, str) else None, choice["name"])


def _text_format(text: Any, chat: dict[str, Any]) -> None:
    fmt = text.get("format") if isinstance(text, dict) else None
    if fmt is None:
        return
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return
    if kind == "json_object":
        chat["response_format"] = {"type": "json_object"}
        return
    if kind != "json_schema" or not isinstance(fmt.get("schema"), dict):
        raise invalid(
            "text.format", "must be a text, json_object or json_schema format (with a schema object)"
        )
    schema: dict[str, Any] = {"name": fmt.get("name") if isinstance(fmt.get("name"), str) else "output"}
    for name in ("description", "schema", "strict"):
        if fmt.get(name) is not None:
            schema[name] = fmt[name]
    chat["response_format"] = {"type": "json_schema", "json_schema": schema}


class _Conversation:
    """Builds the chat messages from ``instructions`` and ``input``, item by item."""

    __slots__ = ("messages", "leading", "open_calls", "images", "reasoning", "keep_reasoning")

    def __init__(self, keep_reasoning: bool) -> None:
        self.messages: list[dict[str, Any]] = []
        self.leading = True  # no message but system ones yet
        self.open_calls: dict[str, str] = {}  # call_id -> path of a call without output yet
        self.images: list[dict[str, Any]] = []  # from tool outputs, for a user message after them
        self.reasoning: list[str] = []
        self.keep_reasoning = keep_reasoning

    def translate(self, instructions: Any, items: Any) -> list[dict[str, Any]]:
        if instructions is not None:
            if not isinstance(instructions, str):
                raise invalid("instructions", "must be a string")
            if instructions:
                self._system(instructions)
        if isinstance(items, str):
            items = [{"role": "user", "content": items}]
        elif items is None:
            items = []
        elif not isinstance(items, list):
            raise invalid("input", "must be a string or an array of input items")
        for index, item in enumerate(items):
            self._item(item, f"input.{index}")
        self._flush_images()
        for call_id, path in self.open_calls.items():
            raise invalid(path, f"the function call {call_id!r} has no output in the input")
        if not self.messages:
            raise invalid("input", "there is nothing to send to the model")
        return self.messages

    def _item(self, item: Any, path: str) -> None:
        if not isinstance(item, dict):
            raise invalid(path, "must be an input item object")
        kind = item.get("type", "message")
        if not isinstance(kind, str):
            raise invalid(f"{path}.type", "must be a string")
        if kind == "message":
            self._message(item, path)
        elif kind in _CALLS:
            self._call(item, kind, path)
        elif kind in _OUTPUTS:
            self._output(item, path)
        elif kind == "reasoning":
            if self.keep_reasoning:
                self.reasoning.extend(_reasoning_texts(item))
        elif kind == "item_reference":
            raise invalid(path, "item references cannot be resolved; send the item itself")
        elif kind not in _BUILTIN_ITEMS:
            raise invalid(f"{path}.type", f"input items of type {kind!r} cannot be sent to this model")

    def _message(self, item: dict[str, Any], path: str) -> None:
        role = item.get("role")
        if role not in ("user", "assistant", "system", "developer"):
            raise invalid(f"{path}.role", "must be 'user', 'assistant', 'system' or 'developer'")
        parts = _parts(item.get("content"), role, f"{path}.content")
        if role in _SYSTEM_ROLES:
            self._system(_TEXT_JOIN.join(part["text"] for part in parts))
            return
        self._flush_images()
        if role == "assistant":
            message = {"role": "assistant", "content": _TEXT_JOIN.join(part["text"] for part in parts)}
            self._add(self._with_reasoning(message))
            return
        self.reasoning.clear()  # it belonged to an answer that is over
        content: Any = parts
        if all(part["type"] == "text" for part in parts):
            content = _TEXT_JOIN.join(part["text"] for part in parts)
        self._add({"role": "user", "content": content})

    def _system(self, text: str) -> None:
        if self.leading and self.messages:
            self.messages[0]["content"] += _TEXT_JOIN + text
        else:
            self.messages.append({"role": "system", "content": text})

    def _add(self, message: dict[str, Any]) -> None:
        self.leading = False
        self.messages.append(message)

    def _with_reasoning(self, message: dict[str, Any]) -> dict[str, Any]:
        if self.reasoning:
            message["reasoning_content"] = _TEXT_JOIN.join(self.reasoning)
            self.reasoning.clear()
        return message

    def _call(self, item: dict[str, Any], kind: str, path: str) -> None:
        call_id, name = item.get("call_id"), item.get("name")
        if not isinstance(call_id, str) or not call_id:
            raise invalid(f"{path}.call_id", "must be a non-empty string")
        if not isinstance(name, str):
            raise invalid(f"{path}.name", "must be a string")
        namespace = item.get("namespace")
        if namespace is not None and not isinstance(namespace, str):
            raise invalid(f"{path}.namespace", "must be a string")
        if kind == "custom_tool_call":
            if not isinstance(item.get("input"), str):
                raise invalid(f"{path}.input", "must be a string")
            arguments = orjson.dumps({"input": item["input"]}).decode()
        else:
            arguments = item.get("arguments")
            if not isinstance(arguments, str):
                raise invalid(f"{path}.arguments", "must be a string of JSON")
        self._flush_images()
        call = {
            "id": call_id,
            "type": "function",
            "function": {"name": chat_tool_name(namespace, name), "arguments": arguments},
        }
        last = self.messages[-1] if self.messages and not self.leading else None
        if last is not None and last["role"] == "assistant":
            last.setdefault("tool_calls", []).append(call)
            if not last["content"]:
                last["content"] = None
        else:
            self._add(self._with_reasoning({"role": "assistant", "content": None, "tool_calls": [call]}))
        self.open_calls[call_id] = path

    def _output(self, item: dict[str, Any], path: str) -> None:
        call_id = item.get("call_id")
        if not isinstance(call_id, str) or self.open_calls.pop(call_id, None) is None:
            raise invalid(f"{path}.call_id", "no function call with this call_id comes before it")
        output = item.get("output")
        if isinstance(output, str):
            text = output
        elif isinstance(output, list):
            parts = _parts(output, "tool", f"{path}.output")
            text = _TEXT_JOIN.join(part["text"] for part in parts if part["type"] == "text")
            # Tool messages carry text only; the images still reach the model, in a user turn.
            self.images.extend(part for part in parts if part["type"] == "image_url")
        else:
            raise invalid(f"{path}.output", "must be a string or an array of content parts")
        self._add({"role": "tool", "tool_call_id": call_id, "content": text})

    def _flush_images(self) -> None:
        if self.images:
            self._add({"role": "user", "content": self.images})
            self.images = []


def _parts(content: Any, role: str, path: str) -> list[dict[str, Any]]:
    """Chat content parts (``text``/``image_url``) of a message's or a tool output's content."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise invalid(path, "must be a string or an array of content parts")
    parts = []
    for index, part in enumerate(content):
        where = f"{path}.{index}"
        kind = type_of(part, where)
        if kind in _TEXT_PARTS or (kind == "refusal" and role == "assistant"):
            text = part.get("refusal" if kind == "refusal" else "text")
            if not isinstance(text, str):
                raise invalid(f"{where}.{'refusal' if kind == 'refusal' else 'text'}", "must be a string")
            parts.append({"type": "text", "text": text})
        elif kind == "input_image" and role in ("user", "tool"):
            parts.append(_image(part, where))
        else:
            raise invalid(where, f"{kind!r} parts cannot be sent to this model in a {role} message")
    return parts


def _image(part: dict[str, Any], path: str) -> dict[str, Any]:
    url = part.get("image_url")
    if not isinstance(url, str):
        if part.get("file_id") is not None:
            raise invalid(
                f"{path}.file_id", "images by file_id cannot be sent to this model; send an image_url"
            )
        raise invalid(f"{path}.image_url", "must be a URL or a data URL")
    image: dict[str, Any] = {"url": url}
    if isinstance(part.get("detail"), str) and part["detail"] in _IMAGE_DETAILS:
        image["detail"] = part["detail"]
    return {"type": "image_url", "image_url": image}


def _reasoning_texts(item: dict[str, Any]) -> list[str]:
    texts = []
    for field in ("summary", "content"):
        parts = item.get(field)
        for part in parts if isinstance(parts, list) else ():
            if isinstance(part, dict) and isinstance(part.get("text"), str) and part["text"]:
                texts.append(part["text"])
    return texts


# --- items: what the entrance stores and lists ---------------------------------------------


def input_items(body: dict[str, Any], *, ids: Callable[[str], str] = new_item_id) -> list[dict[str, Any]]:
    """The request's ``input`` as a list of items, each with an id (and a status where OpenAI
    lists one), for ``GET /v1/responses/{id}/input_items`` and for replaying the history.

    For a request ``responses_to_chat`` accepted; anything unrecognised is kept as it came.
    """
    items = body.get("input")
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    normalised = []
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, dict):
            continue
        item = dict(item)
        kind = item.setdefault("type", "message")
        if not isinstance(kind, str):
            normalised.append(item)
            continue
        if kind == "message":
            role = item.get("role")
            if isinstance(item.get("content"), str):
                part = "output_text" if role == "assistant" else "input_text"
                item["content"] = [{"type": part, "text": item["content"]}]
            if role == "assistant" and isinstance(item.get("content"), list):
                # OpenAI lists assistant input as output messages, whose text parts carry annotations.
                item["content"] = [_annotated(part) for part in item["content"]]
                item.setdefault("status", "completed")
        elif kind in _CALLS or kind in _OUTPUTS:
            item.setdefault("status", "completed")
        if not isinstance(item.get("id"), str):
            item["id"] = ids(_ITEM_PREFIXES.get(kind, "item"))
        normalised.append(item)
    return normalised


def _annotated(part: Any) -> Any:
    if isinstance(part, dict) and part.get("type") == "output_text" and "annotations" not in part:
        return {**part, "annotations": []}
    return part


_ITEM_PREFIXES = {
    "message": "msg",
    "function_call": "fc",
    "function_call_output": "fco",
    "custom_tool_call": "ctc",
    "custom_tool_call_output": "ctco",
    "reasoning": "rs",
}


def output_history(response: dict[str, Any]) -> list[dict[str, Any]]:
    """A response's output items as input items for the next turn.

    Output items are valid input as they are (OpenAI documents ``input += response.output``);
    they are copied so the stored response cannot be changed through the next request.
    """
    output = response.get("output")
    return [dict(item) for item in output if isinstance(item, dict)] if isinstance(output, list) else []
