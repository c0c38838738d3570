"""Gemini's ``generateContent`` in front of an OpenAI chat provider: the request.

A ``GenerateContentRequest`` (contents of ``user`` and ``model`` turns made of parts, a system
instruction, function declarations, the tool config and the generation config) becomes one
OpenAI chat request. Gemini's function calls carry no id unless the client kept the one a
model gave; the chat side needs one on every call and its answer, so calls without one get
``call_<turn>_<part>`` and each ``functionResponse`` is matched to its call by id, or else
by name in the order the calls were made. Field names are read in both of the spellings
Google's API takes (``inlineData`` and ``inline_data``).

The answer's way back is ``sluicegate.translate.gemini_answer``.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from sluicegate.errors import InvalidRequest
from sluicegate.translate.gemini_dialect import pick, repeated

# Separate text parts of a user turn or the system instruction read as paragraphs; a model
# turn's text parts are pieces of one answer (a streamed answer kept as it came), joined as is.
_TEXT_JOIN = "\n\n"

# What a part carries: exactly one of these (the rest of a part's fields are metadata).
_PART_KINDS = ("text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode",
               "codeExecutionResult")

# Audio Gemini reads inline, as OpenAI's input_audio formats.
_AUDIO_FORMATS = {"audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav", "audio/mp3": "mp3",
                  "audio/mpeg": "mp3"}

# Gemini's thinkingLevel as OpenAI's reasoning_effort.
_LEVELS = {"MINIMAL": "low", "LOW": "low", "MEDIUM": "medium", "HIGH": "high"}
# A thinkingBudget below these is low, then medium; from the second on, high.
_BUDGET_LOW, _BUDGET_MEDIUM = 4096, 16384

# functionResponse.response objects that only wrap a text result, by Google's own conventions.
_RESULT_KEYS = frozenset({"output", "result", "content"})

_SNAKE_PART = re.compile(r"_([a-z0-9])")


def _invalid(path: str, problem: str) -> InvalidRequest:
    return InvalidRequest(f"{path}: {problem}", param=path)


# --- the request's shape ---------------------------------------------------------------------


def check_contents(contents: Any, path: str = "contents") -> list[dict[str, Any]]:
    """``contents`` checked for its shape as Google checks it, and returned as a list: a
    non-empty array of objects (or one object), each with a non-empty array of part objects (or
    one part). What the parts hold is not looked at here, so this is never stricter than Google
    (a request passed through to Gemini meets it too)."""
    if contents is None:
        raise InvalidRequest(f"{path} is not specified", param=path, code="missing_required_parameter")
    contents = repeated(contents)
    if not isinstance(contents, list):
        raise _invalid(path, "must be an array of Content objects")
    if not contents:
        raise _invalid(path, "must not be empty")
    for index, content in enumerate(contents):
        where = f"{path}[{index}]"
        if not isinstance(content, dict):
            raise _invalid(where, "must be a Content object")
        parts = repeated(content.get("parts"))
        if not isinstance(parts, list) or not parts:
            raise _invalid(f"{where}.parts", "must be a non-empty array of Part objects")
        for number, part in enumerate(parts):
            if not isinstance(part, dict):
                raise _invalid(f"{where}.parts[{number}]", "must be a Part object")
        role = content.get("role")
        if role is not None and not isinstance(role, str):
            raise _invalid(f"{where}.role", "must be a string")
    return contents


def count_request(body: dict[str, Any]) -> dict[str, Any]:
    """The request a ``countTokens`` body asks about: its ``generateContentRequest`` when it has
    one, else the body itself (``contents`` alone). Its contents are checked as ``check_contents``
    does."""
    nested = pick(body, "generateContentRequest")
    if nested is not None:
        if not isinstance(nested, dict):
            raise _invalid("generateContentRequest", "must be an object")
        check_contents(nested.get("contents"), "generateContentRequest.contents")
        return nested
    check_contents(body.get("contents"))
    return body


def wants_thoughts(body: dict[str, Any]) -> bool:
    """Whether the client asked for thought parts (``thinkingConfig.includeThoughts``)."""
    config = pick(body, "generationConfig")
    thinking = pick(config, "thinkingConfig") if isinstance(config, dict) else None
    return isinstance(thinking, dict) and pick(thinking, "includeThoughts") is True


# --- request: Gemini generateContent -> OpenAI chat -------------------------------------------


def gemini_to_chat(body: dict[str, Any], model: str, *, stream: bool, reasoning_effort: bool = False) -> dict[str, Any]:
    """The OpenAI chat request that asks ``model`` what the ``generateContent`` ``body`` asks.

    Raises ``InvalidRequest`` (the offending field's path as ``param``) for a malformed
    request and for what an OpenAI chat model cannot be given: built-in tools (search, code
    execution), code parts, cached content, media other than images, PDFs and wav/mp3 audio,
    output other than text or JSON. With ``reasoning_effort`` (the vendor takes it) the
    thinking config becomes ``reasoning_effort``. ``topK``, safety settings and labels have no
    chat meaning and are dropped.
    """
    contents = check_contents(body.get("contents"))
    if pick(body, "cachedContent") is not None:
        raise _invalid("cachedContent", "a Gemini context cache can only be used with a Gemini model")
    messages: list[dict[str, Any]] = []
    system = _system_text(pick(body, "systemInstruction"))
    if system:
        messages.append({"role": "system", "content": system})
    calls = _Calls()
    for index, content in enumerate(contents):
        _content(content, index, calls, messages)
    chat: dict[str, Any] = {"model": model, "messages": messages}
    _tools(body, chat)
    config = pick(body, "generationConfig")
    if config is not None:
        if not isinstance(config, dict):
            raise _invalid("generationConfig", "must be an object")
        _generation(config, chat, reasoning_effort)
    if stream:
        chat["stream"] = True
        # Without it OpenAI sends no usage in a stream, and Gemini clients read one at the end.
        chat["stream_options"] = {"include_usage": True}
    return chat


class _Calls:
    """The model's function calls not yet answered, oldest first: (name, id)."""

    __slots__ = ("pending",)

    def __init__(self) -> None:
        self.pending: list[tuple[str, str]] = []

    def add(self, name: str, call_id: str) -> None:
        self.pending.append((name, call_id))

    def answer(self, name: str, call_id: Any) -> str | None:
        """The id of the call a response answers: the one with its id, else the oldest
        unanswered call of its name; None when there is none."""
        for position, (_, pending_id) in enumerate(self.pending):
            if call_id and pending_id == call_id:
                del self.pending[position]
                return pending_id
        for position, (pending_name, pending_id) in enumerate(self.pending):
            if pending_name == name:
                del self.pending[position]
                return pending_id
        return None


def _system_text(system: Any) -> str:
    if system is None:
        return ""
    if isinstance(system, str):  # Google's API takes a bare string here too
        return system
    if not isinstance(system, dict):
        raise _invalid("systemInstruction", "must be a Content object")
    parts = repeated(system.get("parts"))
    if not isinstance(parts, list):
        raise _invalid("systemInstruction.parts", "must be an array of Part objects")
    texts = []
    for index, part in enumerate(parts):
        text = pick(part, "text") if isinstance(part, dict) else None
        if not isinstance(text, str):
            raise _invalid(f"systemInstruction.parts[{index}]", "only text parts can be sent to this model")
        texts.append(text)
    return _TEXT_JOIN.join(text for text in texts if text)


def _content(content: dict[str, Any], index: int, calls: _Calls, messages: list[dict[str, Any]]) -> None:
    where = f"contents[{index}]"
    role = content.get("role")
    # No role is the user's (a single-turn request); "function" is the older API's role for
    # function responses.
    parts = repeated(content["parts"])
    if role in (None, "", "user", "function"):
        _user_content(parts, where, calls, messages)
    elif role == "model":
        message = _model_content(parts, where, index, calls)
        if message is not None:
            messages.append(message)
    else:
        raise _invalid(f"{where}.role", "must be 'user' or 'model'")


def _part_kind(part: dict[str, Any], path: str) -> str:
    for kind in _PART_KINDS:
        if pick(part, kind) is not None:
            return kind
    raise _invalid(path, "must hold text, inlineData, fileData, functionCall or functionResponse")


def _user_content(parts: list[Any], where: str, calls: _Calls, messages: list[dict[str, Any]]) -> None:
    """Function responses first, as OpenAI ``tool`` messages (which must follow the assistant's
    ``tool_calls`` directly), then the rest of the turn as one user message."""
    tool_messages: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    for number, part in enumerate(parts):
        path = f"{where}.parts[{number}]"
        kind = _part_kind(part, path)
        if kind == "text":
            text = _text(part, path)
            if text:
                items.append({"type": "text", "text": text})
        elif kind == "inlineData":
            items.append(_inline(pick(part, "inlineData"), f"{path}.inlineData"))
        elif kind == "fileData":
            items.append(_file(pick(part, "fileData"), f"{path}.fileData"))
        elif kind == "functionResponse":
            message, media = _tool_message(pick(part, "functionResponse"), f"{path}.functionResponse", calls)
            tool_messages.append(message)
            # Tool messages carry text only; the media still reach the model in the user turn.
            items.extend(media)
        elif kind == "functionCall":
            raise _invalid(path, "a functionCall belongs in a 'model' turn")
        else:
            raise _invalid(path, f"{kind} parts cannot be sent to this model")
    messages.extend(tool_messages)
    if not items:
        return
    if all(item["type"] == "text" for item in items):
        messages.append({"role": "user", "content": _TEXT_JOIN.join(item["text"] for item in items)})
    else:
        messages.append({"role": "user", "content": items})


def _model_content(parts: list[Any], where: str, index: int, calls: _Calls) -> dict[str, Any] | None:
    texts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for number, part in enumerate(parts):
        path = f"{where}.parts[{number}]"
        kind = _part_kind(part, path)
        if kind == "text":
            text = _text(part, path)
            # Thoughts are the model's own notes: a chat model is given its answers only.
            if pick(part, "thought") is not True:
                texts.append(text)
        elif kind == "functionCall":
            tool_calls.append(_tool_call(pick(part, "functionCall"), f"{path}.functionCall", f"call_{index}_{number}",
                                         calls))
        elif kind == "functionResponse":
            raise _invalid(path, "a functionResponse belongs in a 'user' turn")
        else:
            raise _invalid(path, f"{kind} parts in a 'model' turn cannot be sent to this model")
    text = "".join(texts)
    if not text and not tool_calls:
        return None  # thoughts only: nothing the chat model said
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return message


def _text(part: dict[str, Any], path: str) -> str:
    text = pick(part, "text")
    if not isinstance(text, str):
        raise _invalid(f"{path}.text", "must be a string")
    return text


def _inline(data: Any, path: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _invalid(path, "must be an object")
    mime, payload = pick(data, "mimeType"), data.get("data")
    if not isinstance(mime, str) or not mime:
        raise _invalid(f"{path}.mimeType", "must be a non-empty string")
    if not isinstance(payload, str):
        raise _invalid(f"{path}.data", "must be a base64 string")
    lowered = mime.lower()
    if lowered.startswith("image/"):
        return {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{payload}"}}
    audio = _AUDIO_FORMATS.get(lowered)
    if audio is not None:
        return {"type": "input_audio", "input_audio": {"data": payload, "format": audio}}
    if lowered == "application/pdf":  # Gemini CLI reads PDFs in as this
        return {"type": "file", "file": {"filename": "document.pdf", "file_data": f"data:{mime};base64,{payload}"}}
    raise _invalid(f"{path}.mimeType",
                   f"{mime!r} data cannot be sent to this model (images, PDFs and wav or mp3 audio can)")


def _file(data: Any, path: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _invalid(path, "must be an object")
    uri, mime = pick(data, "fileUri"), pick(data, "mimeType")
    if not isinstance(uri, str) or not uri:
        raise _invalid(f"{path}.fileUri", "must be a non-empty string")
    if mime is not None and not (isinstance(mime, str) and mime.lower().startswith("image/")):
        raise _invalid(f"{path}.mimeType", f"{mime!r} files cannot be sent to this model (images can)")
    return {"type": "image_url", "image_url": {"url": uri}}


def _tool_call(call: Any, path: str, made_id: str, calls: _Calls) -> dict[str, Any]:
    if not isinstance(call, dict):
        raise _invalid(path, "must be an object")
    name, arguments, call_id = call.get("name"), call.get("args"), call.get("id")
    if not isinstance(name, str) or not name:
        raise _invalid(f"{path}.name", "must be a non-empty string")
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise _invalid(f"{path}.args", "must be an object")
    if call_id is not None and not isinstance(call_id, str):
        raise _invalid(f"{path}.id", "must be a string")
    call_id = call_id or made_id
    calls.add(name, call_id)
    try:
        encoded = orjson.dumps(arguments).decode()
    except TypeError:  # an integer beyond 64 bits
        raise _invalid(f"{path}.args", "cannot be encoded as JSON arguments") from None
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": encoded}}


def _tool_message(answer: Any, path: str, calls: _Calls) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if not isinstance(answer, dict):
        raise _invalid(path, "must be an object")
    name, response, given_id = answer.get("name"), answer.get("response"), answer.get("id")
    if not isinstance(name, str) or not name:
        raise _invalid(f"{path}.name", "must be a non-empty string")
    if response is None:
        response = {}
    if not isinstance(response, dict):
        raise _invalid(f"{path}.response", "must be an object")
    call_id = calls.answer(name, given_id)
    if call_id is None:
        raise _invalid(path, f"answers no earlier functionCall of {name!r} (each response needs its call)")
    media = []
    parts = repeated(answer.get("parts"))
    if isinstance(parts, list):  # multimodal function responses: their media join the user turn
        for number, part in enumerate(parts):
            where = f"{path}.parts[{number}]"
            if not isinstance(part, dict):
                raise _invalid(where, "must be a Part object")
            if pick(part, "inlineData") is not None:
                media.append(_inline(pick(part, "inlineData"), f"{where}.inlineData"))
            elif pick(part, "fileData") is not None:
                media.append(_file(pick(part, "fileData"), f"{where}.fileData"))
            else:
                raise _invalid(where, "must hold inlineData or fileData")
    return {"role": "tool", "tool_call_id": call_id, "content": _result_text(response, path)}, media


def _result_text(response: dict[str, Any], path: str) -> str:
    """A response that only wraps a text (``{"output": "..."}``) is that text; any other
    object goes as its JSON."""
    if len(response) == 1:
        (key, value), = response.items()
        if key in _RESULT_KEYS and isinstance(value, str):
            return value
    try:
        return orjson.dumps(response).decode()
    except TypeError:
        raise _invalid(f"{path}.response", "cannot be encoded as JSON") from None


# --- tools --------------------------------------------------------------------------------------


def _tools(body: dict[str, Any], chat: dict[str, Any]) -> None:
    tools = repeated(body.get("tools"))
    functions: list[dict[str, Any]] = []
    if tools is not None:
        if not isinstance(tools, list):
            raise _invalid("tools", "must be an array of Tool objects")
        for index, tool in enumerate(tools):
            where = f"tools[{index}]"
            if not isinstance(tool, dict):
                raise _invalid(where, "must be a Tool object")
            for key, value in tool.items():
                if key not in ("functionDeclarations", "function_declarations"):
                    raise _invalid(f"{where}.{key}", "Gemini's built-in tools cannot be used with this model; "
                                   "functionDeclarations can")
                value = repeated(value)
                if not isinstance(value, list):
                    raise _invalid(f"{where}.{key}", "must be an array of FunctionDeclaration objects")
                functions.extend(_function(declaration, f"{where}.{key}[{number}]")
                                 for number, declaration in enumerate(value))
    config = pick(body, "toolConfig")
    if config is not None and not isinstance(config, dict):
        raise _invalid("toolConfig", "must be an object")
    calling = pick(config, "functionCallingConfig") if config else None
    if calling is not None and not isinstance(calling, dict):
        raise _invalid("toolConfig.functionCallingConfig", "must be an object")
    # OpenAI refuses tool_choice when no tools are given.
    if not functions:
        return
    choice = None
    if calling:
        functions, choice = _tool_choice(calling, functions)
    chat["tools"] = functions
    if choice is not None:
        chat["tool_choice"] = choice


def _function(declaration: Any, path: str) -> dict[str, Any]:
    if not isinstance(declaration, dict):
        raise _invalid(path, "must be a FunctionDeclaration object")
    name = declaration.get("name")
    if not isinstance(name, str) or not name:
        raise _invalid(f"{path}.name", "must be a non-empty string")
    function: dict[str, Any] = {"name": name}
    description = declaration.get("description")
    if isinstance(description, str) and description:
        function["description"] = description
    schema = pick(declaration, "parametersJsonSchema")
    if schema is None:
        parameters = declaration.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise _invalid(f"{path}.parameters", "must be a Schema object")
        schema = json_schema(parameters) if parameters else {"type": "object", "properties": {}}
    elif not isinstance(schema, dict):
        raise _invalid(f"{path}.parametersJsonSchema", "must be a JSON schema object")
    function["parameters"] = schema
    return {"type": "function", "function": function}


def _tool_choice(calling: dict[str, Any], functions: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Any]:
    """The tools and ``tool_choice`` for a ``functionCallingConfig``. ``ANY`` limited to some
    functions (``allowedFunctionNames``) offers only those: one becomes a named choice, more
    are ``required`` among them."""
    mode = calling.get("mode")
    mode = mode.upper() if isinstance(mode, str) else None
    if mode == "NONE":
        return functions, "none"
    if mode != "ANY":
        # AUTO, VALIDATED (calls checked against the schema: the vendor's usual behaviour), unset.
        return functions, ("auto" if mode in ("AUTO", "VALIDATED") else None)
    allowed = pick(calling, "allowedFunctionNames")
    if allowed is None:
        return functions, "required"
    path = "toolConfig.functionCallingConfig.allowedFunctionNames"
    if not isinstance(allowed, list) or not all(isinstance(name, str) for name in allowed):
        raise _invalid(path, "must be an array of function names")
    declared = {function["function"]["name"] for function in functions}
    unknown = [name for name in allowed if name not in declared]
    if unknown:
        raise _invalid(path, f"{unknown[0]!r} is not a declared function")
    kept = [function for function in functions if function["function"]["name"] in allowed]
    if len(kept) == 1:
        return kept, {"type": "function", "function": {"name": kept[0]["function"]["name"]}}
    return kept, "required"


# Gemini Schema fields whose JSON Schema keyword has the same name.
_SAME_KEYWORDS = frozenset(
    {"format", "title", "description", "enum", "maxItems", "minItems", "required", "minProperties",
     "maxProperties", "minLength", "maxLength", "pattern", "default", "minimum", "maximum"}
)


def json_schema(schema: Any) -> Any:
    """A Gemini ``Schema`` (the OpenAPI subset: ``"type": "OBJECT"``, ``nullable``,
    ``propertyOrdering``) as the JSON Schema an OpenAI tool or response format takes. Keys it
    does not know are kept as they are; property names are never touched."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    nullable = False
    for key, value in schema.items():
        name = _json_name(key)
        if name == "type":
            if isinstance(value, str) and value.upper() != "TYPE_UNSPECIFIED":
                out["type"] = value.lower()
        elif name == "nullable":
            nullable = value is True
        elif name == "properties" and isinstance(value, dict):
            out["properties"] = {prop: json_schema(sub) for prop, sub in value.items()}
        elif name == "items":
            out["items"] = json_schema(value)
        elif name == "anyOf" and isinstance(value, list):
            out["anyOf"] = [json_schema(sub) for sub in value]
        elif name in ("propertyOrdering", "example") or (name == "format" and value == "enum"):
            continue  # Gemini's own hints, with no JSON Schema meaning
        elif name in _SAME_KEYWORDS:
            out[name] = value
        else:
            out[key] = value
    if nullable and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def _json_name(key: str) -> str:
    """``max_items`` -> ``maxItems``; names without ``_`` (and ``$ref``-style keys) unchanged."""
    if "_" not in key or key.startswith(("$", "_")):
        return key
    return _SNAKE_PART.sub(lambda match: match.group(1).upper(), key)


# --- generation config --------------------------------------------------------------------------

# generationConfig fields that go to chat under another name, as they are.
_RENAMED = (
    ("temperature", "temperature"),
    ("topP", "top_p"),
    ("maxOutputTokens", "max_tokens"),
    ("candidateCount", "n"),
    ("seed", "seed"),
    ("presencePenalty", "presence_penalty"),
    ("frequencyPenalty", "frequency_penalty"),
)


def _generation(config: dict[str, Any], chat: dict[str, Any], reasoning_effort: bool) -> None:
    for gemini_name, chat_name in _RENAMED:
        value = pick(config, gemini_name)
        if value is not None:
            chat[chat_name] = value
    stop = pick(config, "stopSequences")
    if isinstance(stop, str):
        stop = [stop]
    if stop is not None:
        if not isinstance(stop, list) or not all(isinstance(item, str) for item in stop):
            raise _invalid("generationConfig.stopSequences", "must be an array of strings")
        if stop:
            chat["stop"] = stop
    modalities = pick(config, "responseModalities")
    if isinstance(modalities, list) and modalities and not any(
        isinstance(item, str) and item.upper() == "TEXT" for item in modalities
    ):
        raise _invalid("generationConfig.responseModalities", "this model answers with TEXT only")
    response_format = _response_format(config)
    if response_format is not None:
        chat["response_format"] = response_format
    if reasoning_effort:
        effort = _reasoning_effort(pick(config, "thinkingConfig"))
        if effort is not None:
            chat["reasoning_effort"] = effort


def _response_format(config: dict[str, Any]) -> dict[str, Any] | None:
    """JSON output (``responseMimeType`` and a schema) as OpenAI's ``response_format``."""
    mime = pick(config, "responseMimeType")
    schema = pick(config, "responseJsonSchema")
    if schema is None and pick(config, "responseSchema") is not None:
        schema = json_schema(pick(config, "responseSchema"))
    if schema is not None:
        if not isinstance(schema, dict):
            raise _invalid("generationConfig.responseSchema", "must be a schema object")
        if mime not in (None, "application/json"):
            raise _invalid("generationConfig.responseMimeType", "a response schema needs 'application/json'")
        return {"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}
    if mime is None or mime == "text/plain":
        return None
    if mime == "application/json":
        return {"type": "json_object"}
    raise _invalid("generationConfig.responseMimeType", f"{mime!r} output cannot be asked of this model "
                   "(text/plain and application/json can)")


def _reasoning_effort(thinking: Any) -> str | None:
    """``reasoning_effort`` for a ``thinkingConfig``: its ``thinkingLevel``, else its
    ``thinkingBudget`` (0, thinking off, is the least there is: low); a dynamic budget (-1)
    and anything unknown leave it to the vendor's default."""
    if not isinstance(thinking, dict):
        return None
    level = pick(thinking, "thinkingLevel")
    if isinstance(level, str) and level.upper() in _LEVELS:
        return _LEVELS[level.upper()]
    budget = pick(thinking, "thinkingBudget")
    if type(budget) is int and budget >= 0:
        return "low" if budget < _BUDGET_LOW else "medium" if budget < _BUDGET_MEDIUM else "high"
    return None
