"""OpenAI chat to Bedrock's Converse API and back: pure functions, no I/O.

Requests become ``{"messages", "system", "inferenceConfig", "toolConfig", ...}`` (the body of
``POST /model/{id}/converse`` and ``/converse-stream``); a whole Converse answer becomes a
``chat.completion``. The stream's events are translated in ``sluicegate_bedrock.converse_stream``.
Binary content (images, documents, audio) travels base64-encoded, as Bedrock's JSON protocol
carries blobs; the data URL's payload is checked to be base64 and passed on unchanged.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable
from typing import Any

import orjson

from sluicegate.errors import InvalidRequest
from sluicegate.translate.chat_tools import json_arguments, named_function, output_limit, tool_calls

#: OpenAI's reasoning efforts as Claude thinking budgets (tokens; Claude's least is 1024).
THINKING_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576}
_LEAST_BUDGET = 1024

#: Converse request fields a client may set itself (through ``extra_body``): they pass as given.
PASSTHROUGH_FIELDS = (
    "additionalModelResponseFieldPaths",
    "performanceConfig",
    "promptVariables",
    "requestMetadata",
    "serviceTier",
)

_IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif", "image/webp": "webp"}
_DOCUMENT_FORMATS = {
    "application/pdf": "pdf",
    "text/csv": "csv",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html",
    "text/plain": "txt",
    "text/markdown": "md",
}
# Bedrock's rule for document names: letters, digits, single spaces, hyphens, parentheses and
# square brackets; anything else in a file name becomes a hyphen.
_NAME_FORBIDDEN = re.compile(r"[^A-Za-z0-9 \-()\[\]]+")
_SPACES = re.compile(r"\s+")

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}

IdMaker = Callable[[], str]


# -- request ----------------------------------------------------------------------------------


def converse_request(body: dict[str, Any], *, claude: bool) -> dict[str, Any]:
    """The Converse body for an OpenAI chat body; ``InvalidRequest`` for what Converse cannot be
    told, before any call. ``claude``: the model is Claude, whose own fields (``thinking``,
    ``top_k``) go in ``additionalModelRequestFields``."""
    n = body.get("n")
    if n is not None and n != 1:
        raise InvalidRequest("Bedrock's Converse API answers one choice: n must be 1", param="n")
    system, messages, uses_tools = _conversation(body.get("messages"))
    out: dict[str, Any] = {"messages": messages}
    if system:
        out["system"] = system
    inference = _inference_config(body)
    if inference:
        out["inferenceConfig"] = inference
    tools = _tool_config(body.get("tools"), body.get("tool_choice"), uses_tools)
    if tools is not None:
        out["toolConfig"] = tools
    output = _output_config(body.get("response_format"))
    if output is not None:
        out["outputConfig"] = output
    extra = _model_fields(body, inference.get("maxTokens"), claude)
    if extra:
        out["additionalModelRequestFields"] = extra
    for name in PASSTHROUGH_FIELDS:
        if body.get(name) is not None:
            out[name] = body[name]
    return out


def _conversation(messages: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]], bool]:
    """(system blocks, messages, whether the history holds tool calls or results)."""
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages must be a non-empty list", param="messages")
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    uses_tools = False
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise InvalidRequest(f"{where} must be an object", param=where)
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            system += _text_blocks(content, f"{where}.content")
        elif role == "user":
            _add(turns, "user", _user_blocks(content, f"{where}.content"))
        elif role == "assistant":
            blocks = _text_blocks(content, f"{where}.content")
            calls = _tool_uses(message.get("tool_calls"), where)
            uses_tools |= bool(calls)
            _add(turns, "assistant", blocks + calls)
        elif role == "tool":
            uses_tools = True
            _add(turns, "user", _tool_result(message, where))
        else:
            raise InvalidRequest(
                f"{where}.role {role!r} cannot be sent to Bedrock (use system, developer, user, assistant or tool)",
                param=f"{where}.role",
            )
    if not turns:
        raise InvalidRequest("messages need at least one user message for Bedrock", param="messages")
    return system, turns, uses_tools


def _add(turns: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    """Append a turn, joining it to the last one of the same role: Converse wants the roles to
    alternate (a tool result and the user's next words are one user turn)."""
    if not blocks:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": blocks})


def _cache_point(part: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``cachePoint`` block a part's Anthropic-style ``cache_control`` asks for (after it)."""
    marker = part.get("cache_control")
    if not isinstance(marker, dict):
        return []
    point: dict[str, Any] = {"type": "default"}
    if marker.get("ttl") in ("5m", "1h"):
        point["ttl"] = marker["ttl"]
    return [{"cachePoint": point}]


def _text_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    """A system or assistant message's text: a string or text parts (blank text is left out,
    which Converse refuses)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise InvalidRequest(f"{where} must be a string or a list of parts", param=where)
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise InvalidRequest(f"{where}[{j}] must be a text part here", param=f"{where}[{j}]")
        if part["text"]:
            blocks.append({"text": part["text"]})
        blocks += _cache_point(part)
    return blocks


def _user_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}]
    if not isinstance(content, list) or not content:
        raise InvalidRequest(f"{where} must be a string or a non-empty list of parts", param=where)
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        param = f"{where}[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if not isinstance(part.get("text"), str):
                raise InvalidRequest(f"{param}.text must be a string", param=f"{param}.text")
            blocks.append({"text": part["text"]})
        elif kind == "image_url":
            blocks.append(_image(part.get("image_url"), param))
        elif kind == "file":
            blocks.append(_document(part.get("file"), param, j))
        elif kind == "input_audio":
            blocks.append(_audio(part.get("input_audio"), param))
        else:
            raise InvalidRequest(f"{param}: content part type {kind!r} cannot be sent to Bedrock", param=param)
        blocks += _cache_point(part)
    return blocks


def _data_url(url: str, param: str) -> tuple[str, str]:
    """(media type, base64 payload) of a ``data:<type>;base64,<data>`` URL."""
    header, comma, data = url[5:].partition(",")
    mime, _, encoding = header.partition(";")
    if not comma or encoding != "base64" or not mime:
        raise InvalidRequest(f"{param}: a data URL must be data:<type>;base64,<data>", param=param)
    try:
        binascii.a2b_base64(data.encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise InvalidRequest(f"{param}: the data URL is not valid base64", param=param) from None
    return mime.lower(), data


def _image(image: Any, param: str) -> dict[str, Any]:
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url:
        raise InvalidRequest(f"{param}.image_url needs a url", param=f"{param}.image_url")
    if not url.startswith("data:"):
        # Converse takes an image's bytes (or an S3 object), never a web address, and the
        # gateway does not fetch one for the client.
        raise InvalidRequest(
            f"{param}: Bedrock's Converse API takes images as data: URLs (base64), not web addresses",
            param=param,
            code="unsupported_image_url",
        )
    mime, data = _data_url(url, param)
    fmt = _IMAGE_FORMATS.get(mime)
    if fmt is None:
        raise InvalidRequest(f"{param}: image type {mime!r} cannot be sent to Bedrock (png, jpeg, gif, webp)", param=param)
    return {"image": {"format": fmt, "source": {"bytes": data}}}


def _document(file: Any, param: str, position: int) -> dict[str, Any]:
    url = file.get("file_data") if isinstance(file, dict) else None
    if not isinstance(url, str) or not url.startswith("data:"):
        raise InvalidRequest(f"{param}.file needs file_data as a data: URL (file ids do not reach Bedrock)", param=param)
    mime, data = _data_url(url, param)
    fmt = _DOCUMENT_FORMATS.get(mime)
    if fmt is None:
        raise InvalidRequest(f"{param}: document type {mime!r} cannot be sent to Bedrock", param=param)
    filename = file.get("filename")
    stem = filename.rsplit(".", 1)[0] if isinstance(filename, str) else ""
    name = _SPACES.sub(" ", _NAME_FORBIDDEN.sub("-", stem)).strip()[:200] or f"document-{position + 1}"
    return {"document": {"format": fmt, "name": name, "source": {"bytes": data}}}


def _audio(audio: Any, param: str) -> dict[str, Any]:
    data = audio.get("data") if isinstance(audio, dict) else None
    fmt = audio.get("format") if isinstance(audio, dict) else None
    if not isinstance(data, str) or fmt not in ("wav", "mp3"):
        raise InvalidRequest(f"{param}.input_audio needs base64 data and a format (wav or mp3)", param=param)
    return {"audio": {"format": fmt, "source": {"bytes": data}}}


def _tool_uses(calls: Any, where: str) -> list[dict[str, Any]]:
    return [{"toolUse": {"toolUseId": call.id, "name": call.name, "input": json_arguments(call)}}
            for call in tool_calls(calls, where)]


def _tool_result(message: dict[str, Any], where: str) -> list[dict[str, Any]]:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise InvalidRequest(f"{where} needs a tool_call_id", param=f"{where}.tool_call_id")
    content = message.get("content")
    param = f"{where}.content"
    markers: list[dict[str, Any]] = []
    if content is None or isinstance(content, str):
        text = content or ""
    elif isinstance(content, list):
        texts = []
        for j, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise InvalidRequest(f"{param}[{j}] must be a text part here", param=f"{param}[{j}]")
            texts.append(part["text"])
            markers += _cache_point(part)
        text = "".join(texts)
    else:
        raise InvalidRequest(f"{param} must be a string or a list of text parts", param=param)
    # A cache point cannot sit inside a tool result: it follows the result block.
    return [{"toolResult": {"toolUseId": call_id, "content": [{"text": text}]}}, *markers[-1:]]


def _tool_config(tools: Any, choice: Any, uses_tools: bool) -> dict[str, Any] | None:
    if tools is None or tools == []:
        return None
    if not isinstance(tools, list):
        raise InvalidRequest("tools must be a list", param="tools")
    specs: list[dict[str, Any]] = []
    for i, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise InvalidRequest(f"tools[{i}] must be a function tool with a name", param=f"tools[{i}]")
        parameters = function.get("parameters")
        spec: dict[str, Any] = {
            "name": function["name"],
            # Converse needs a schema; a tool without parameters takes an empty object.
            "inputSchema": {"json": parameters if isinstance(parameters, dict) else {"type": "object", "properties": {}}},
        }
        if function.get("description"):
            spec["description"] = function["description"]
        if isinstance(function.get("strict"), bool):
            spec["strict"] = function["strict"]
        specs.append({"toolSpec": spec})
        specs += _cache_point(tool)
    if choice == "none":
        # Converse has no "none": without tool blocks in the history the tools are left out,
        # with them they must stay (Converse refuses toolUse blocks without a toolConfig).
        return {"tools": specs} if uses_tools else None
    config: dict[str, Any] = {"tools": specs}
    if choice is not None:
        config["toolChoice"] = _tool_choice(choice)
    return config


def _tool_choice(choice: Any) -> dict[str, Any]:
    if choice == "auto":
        return {"auto": {}}
    if choice == "required":
        return {"any": {}}
    return {"tool": {"name": named_function(choice)}}


def _inference_config(body: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    limit = output_limit(body)
    for name, value in (("maxTokens", limit), ("temperature", body.get("temperature")), ("topP", body.get("top_p"))):
        if value is not None:
            config[name] = value
    stop = body.get("stop")
    if isinstance(stop, str):
        config["stopSequences"] = [stop]
    elif isinstance(stop, list) and stop:
        config["stopSequences"] = stop
    elif stop is not None and stop != []:
        raise InvalidRequest("stop must be a string or a list of strings", param="stop")
    return config


def _output_config(response_format: Any) -> dict[str, Any] | None:
    kind = response_format.get("type") if isinstance(response_format, dict) else response_format
    if kind != "json_schema":
        # text is the default; json_object has no Converse counterpart and is left to the prompt.
        return None
    spec = response_format.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    if not isinstance(schema, dict):
        raise InvalidRequest("response_format.json_schema needs a schema", param="response_format")
    definition: dict[str, Any] = {"schema": orjson.dumps(schema).decode()}  # Converse takes it as a string
    for name in ("name", "description"):
        if isinstance(spec.get(name), str):
            definition[name] = spec[name]
    return {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": definition}}}


def _model_fields(body: dict[str, Any], max_tokens: Any, claude: bool) -> dict[str, Any]:
    """``additionalModelRequestFields``: Claude's thinking and ``top_k`` (as Bedrock documents
    them for Claude), then what the client put there itself, which wins."""
    fields: dict[str, Any] = {}
    if claude:
        thinking = body.get("thinking")
        effort = body.get("reasoning_effort")
        if isinstance(thinking, dict):
            fields["thinking"] = thinking
        elif effort is not None and effort != "none":
            if effort not in THINKING_BUDGETS:
                raise InvalidRequest(
                    f"reasoning_effort must be none or one of {', '.join(THINKING_BUDGETS)}", param="reasoning_effort"
                )
            budget = THINKING_BUDGETS[effort]
            if type(max_tokens) is int and budget >= max_tokens:
                # Claude's budget must stay below max_tokens.
                budget = max(_LEAST_BUDGET, max_tokens - 1)
            fields["thinking"] = {"type": "enabled", "budget_tokens": budget}
        if body.get("top_k") is not None:
            fields["top_k"] = body["top_k"]
    own = body.get("additionalModelRequestFields")
    if isinstance(own, dict):
        fields.update(own)
    return fields


# -- answer -----------------------------------------------------------------------------------


def finish_reason(stop_reason: Any, has_calls: bool) -> str:
    reason = FINISH_REASONS.get(stop_reason) if isinstance(stop_reason, str) else None
    if reason is None:
        return "tool_calls" if has_calls else "stop"
    return reason


def chat_completion(data: dict[str, Any], *, model: str, created: int, completion_id: str) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` for a Converse answer; one of the translation failures
    (KeyError, TypeError, ...) for an answer that is not one."""
    message = data["output"]["message"]
    text, reasoning, calls = read_content(message["content"])
    out: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
    if reasoning:
        out["reasoning_content"] = reasoning
    if calls:
        out["tool_calls"] = calls
    completion: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {"index": 0, "message": out, "logprobs": None, "finish_reason": finish_reason(data.get("stopReason"), bool(calls))}
        ],
    }
    usage = data.get("usage")
    if isinstance(usage, dict):
        completion["usage"] = openai_usage(usage)
    return completion


def read_content(blocks: Any) -> tuple[str, str, list[dict[str, Any]]]:
    """(answer text, reasoning text, OpenAI tool calls) of an answer's content blocks."""
    if not isinstance(blocks, list):
        raise TypeError("content is not a list")
    text: list[str] = []
    reasoning: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in blocks:
        if "text" in block:
            text.append(block["text"])
        elif "toolUse" in block:
            use = block["toolUse"]
            calls.append(tool_call(use["toolUseId"], use["name"], orjson.dumps(use.get("input", {})).decode()))
        elif "reasoningContent" in block:
            thought = block["reasoningContent"].get("reasoningText")
            if isinstance(thought, dict) and isinstance(thought.get("text"), str):
                reasoning.append(thought["text"])
    return "".join(text), "".join(reasoning), calls


def tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def openai_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """Converse usage as OpenAI's. Bedrock counts cache reads and writes apart from
    ``inputTokens``; OpenAI counts every prompt token in ``prompt_tokens``. The Anthropic names
    of both cache counts ride along, so the gateway's usage reader sees the writes too."""
    read = usage.get("cacheReadInputTokens")
    written = usage.get("cacheWriteInputTokens")
    prompt = (usage.get("inputTokens") or 0) + (read or 0) + (written or 0)
    completion = usage.get("outputTokens") or 0
    out: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    if read is not None or written is not None:
        out["prompt_tokens_details"] = {"cached_tokens": read or 0}
        out["cache_read_input_tokens"] = read or 0
        out["cache_creation_input_tokens"] = written or 0
    return out
