"""OpenAI chat to Gemini's ``generateContent`` and back: pure functions, no I/O.

Requests become ``{"contents", "systemInstruction", "tools", "toolConfig", "generationConfig"}``;
answers (``GenerateContentResponse``, whole or one per SSE event) become ``chat.completion``
and ``chat.completion.chunk`` dicts. Tool call ids are made by the ``new_id`` callable the
caller gives, so tests can fix them.
"""

from __future__ import annotations

import binascii
import mimetypes
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import orjson

from sluicegate.errors import InvalidRequest
from sluicegate.translate.chat_tools import json_arguments, named_function, output_limit, tool_calls
from sluicegate.translate.chunks import ChunkStream

GENERATE = ":generateContent"
# alt=sse: one GenerateContentResponse per SSE event; without it the stream is one JSON array.
STREAM = ":streamGenerateContent?alt=sse"

#: A Gemini 3 function call carries a ``thoughtSignature`` that must come back with it, or the
#: next turn is refused. OpenAI has nowhere to keep it but the tool call id, so it rides there
#: after this separator and is split off again when the client sends the call back.
SIGNATURE_SEPARATOR = "~ts~"

# OpenAI's effort levels as thinking budgets (tokens) for Gemini 2.5; "none" turns thinking off.
THINKING_BUDGETS = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576}

_TOOL_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}

# Every reason a candidate was stopped for its content (Gemini's safety, recitation and
# blocklist filters) is OpenAI's content_filter.
_FILTERED = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "LANGUAGE"}
)

IdMaker = Callable[[], str]


def model_path(model: str) -> str:
    """``/models/{model}``, the model's name quoted so it cannot step out of the path."""
    return "/models/" + quote(model.removeprefix("models/"), safe="-._~")


# -- request ----------------------------------------------------------------------------------


def chat_request(body: dict[str, Any]) -> dict[str, Any]:
    """The Gemini request body for an OpenAI chat body; ``InvalidRequest`` for what Gemini
    cannot be told, before any network call."""
    system, contents = _contents(body.get("messages"))
    out: dict[str, Any] = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": system}
    tools = _tools(body.get("tools"))
    if tools:
        out["tools"] = tools
    choice = body.get("tool_choice")
    if choice is not None:
        out["toolConfig"] = {"functionCallingConfig": _tool_choice(choice)}
    config = _generation_config(body)
    if config:
        out["generationConfig"] = config
    return out


def _contents(messages: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages must be a non-empty list", param="messages")
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    # functionResponse needs the function's name; OpenAI's tool message names only the call.
    names: dict[str, str] = {}
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise InvalidRequest(f"{where} must be an object", param=where)
        role = message.get("role")
        if role in ("system", "developer"):
            system += [{"text": text} for text in _texts(message.get("content"), f"{where}.content")]
        elif role == "user":
            contents.append({"role": "user", "parts": _user_parts(message.get("content"), f"{where}.content")})
        elif role == "assistant":
            parts = [{"text": text} for text in _texts(message.get("content"), f"{where}.content") if text]
            parts += _call_parts(message.get("tool_calls"), where, names)
            if parts:
                contents.append({"role": "model", "parts": parts})
        elif role == "tool":
            part = _response_part(message, where, names)
            previous = contents[-1] if contents else None
            # Parallel calls' results go back in one turn, as Gemini asks for them.
            if previous is not None and previous["role"] == "user" and "functionResponse" in previous["parts"][-1]:
                previous["parts"].append(part)
            else:
                contents.append({"role": "user", "parts": [part]})
        else:
            raise InvalidRequest(
                f"{where}.role {role!r} cannot be sent to Gemini (use system, developer, user, assistant or tool)",
                param=f"{where}.role",
            )
    if not contents:
        raise InvalidRequest("messages need at least one user message for Gemini", param="messages")
    return system, contents


def _texts(content: Any, where: str) -> list[str]:
    """The text of a system, assistant or tool message: a string or a list of text parts."""
    if content is None:
        return []
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        raise InvalidRequest(f"{where} must be a string or a list of parts", param=where)
    texts = []
    for j, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise InvalidRequest(f"{where}[{j}] must be a text part here", param=f"{where}[{j}]")
        texts.append(part["text"])
    return texts


def _user_parts(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}]
    if not isinstance(content, list) or not content:
        raise InvalidRequest(f"{where} must be a string or a non-empty list of parts", param=where)
    parts = []
    for j, part in enumerate(content):
        param = f"{where}[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if not isinstance(part.get("text"), str):
                raise InvalidRequest(f"{param}.text must be a string", param=f"{param}.text")
            parts.append({"text": part["text"]})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str) or not url:
                raise InvalidRequest(f"{param}.image_url needs a url", param=f"{param}.image_url")
            parts.append(_media_part(url, param))
        elif kind == "input_audio":
            audio = part.get("input_audio")
            data = audio.get("data") if isinstance(audio, dict) else None
            fmt = audio.get("format") if isinstance(audio, dict) else None
            if not isinstance(data, str) or fmt not in ("wav", "mp3"):
                raise InvalidRequest(f"{param}.input_audio needs base64 data and a format (wav or mp3)", param=param)
            parts.append({"inlineData": {"mimeType": f"audio/{fmt}", "data": data}})
        else:
            raise InvalidRequest(f"{param}: content part type {kind!r} cannot be sent to Gemini", param=param)
    return parts


def _media_part(url: str, param: str) -> dict[str, Any]:
    """A data: URL as ``inlineData`` (base64 only), an http(s) URL as ``fileData``."""
    if url.startswith("data:"):
        header, comma, data = url[5:].partition(",")
        mime, _, encoding = header.partition(";")
        if not comma or encoding != "base64" or not mime:
            raise InvalidRequest(f"{param}: a data URL must be data:<type>;base64,<data>", param=param)
        try:
            binascii.a2b_base64(data.encode("ascii"), strict_mode=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise InvalidRequest(f"{param}: the data URL is not valid base64", param=param) from None
        return {"inlineData": {"mimeType": mime, "data": data}}
    if url.startswith(("https://", "http://", "gs://")):
        file: dict[str, str] = {"fileUri": url}
        mime, _ = mimetypes.guess_type(url.split("?", 1)[0])
        if mime:
            file["mimeType"] = mime
        return {"fileData": file}
    raise InvalidRequest(f"{param}: an image must be a data: or https: URL", param=param)


def _call_parts(calls: Any, where: str, names: dict[str, str]) -> list[dict[str, Any]]:
    parts = []
    for call in tool_calls(calls, where):
        arguments = json_arguments(call)
        if not isinstance(arguments, dict):
            param = f"{call.param}.function.arguments"
            raise InvalidRequest(f"{param} must be a JSON object for Gemini", param=param)
        call_id, signature = split_call_id(call.id)
        names[call.id] = call.name
        part: dict[str, Any] = {"functionCall": {"id": call_id, "name": call.name, "args": arguments}}
        if signature:
            part["thoughtSignature"] = signature
        parts.append(part)
    return parts


def _response_part(message: dict[str, Any], where: str, names: dict[str, str]) -> dict[str, Any]:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise InvalidRequest(f"{where} needs a tool_call_id", param=f"{where}.tool_call_id")
    name = names.get(call_id) or message.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRequest(
            f"{where}.tool_call_id {call_id!r} answers no earlier tool call (Gemini needs the function's name)",
            param=f"{where}.tool_call_id",
        )
    text = "".join(_texts(message.get("content"), f"{where}.content"))
    # Gemini's response is an object: a JSON object result goes as it is, anything else under
    # "result".
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = None
    response = value if isinstance(value, dict) else {"result": text}
    return {"functionResponse": {"id": split_call_id(call_id)[0], "name": name, "response": response}}


def split_call_id(call_id: str) -> tuple[str, str | None]:
    """(the call's own id, the thought signature riding on it, if any)."""
    own, separator, signature = call_id.partition(SIGNATURE_SEPARATOR)
    return own, (signature if separator and signature else None)


def _tools(tools: Any) -> list[dict[str, Any]]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise InvalidRequest("tools must be a list", param="tools")
    declarations = []
    for i, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise InvalidRequest(f"tools[{i}] must be a function tool with a name", param=f"tools[{i}]")
        declaration: dict[str, Any] = {"name": function["name"]}
        if function.get("description"):
            declaration["description"] = function["description"]
        if function.get("parameters"):
            # The JSON Schema field, not the OpenAPI-subset ``parameters``: OpenAI clients send
            # full JSON Schema (additionalProperties, $defs), which the subset refuses.
            declaration["parametersJsonSchema"] = function["parameters"]
        declarations.append(declaration)
    return [{"functionDeclarations": declarations}] if declarations else []


def _tool_choice(choice: Any) -> dict[str, Any]:
    if isinstance(choice, str) and choice in _TOOL_MODES:
        return {"mode": _TOOL_MODES[choice]}
    return {"mode": "ANY", "allowedFunctionNames": [named_function(choice)]}


def _generation_config(body: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    limit = output_limit(body)
    for name, value in (
        ("maxOutputTokens", limit),
        ("temperature", body.get("temperature")),
        ("topP", body.get("top_p")),
        ("candidateCount", body.get("n")),
        ("seed", body.get("seed")),
        ("presencePenalty", body.get("presence_penalty")),
        ("frequencyPenalty", body.get("frequency_penalty")),
    ):
        if value is not None:
            config[name] = value
    stop = body.get("stop")
    if isinstance(stop, str):
        config["stopSequences"] = [stop]
    elif isinstance(stop, list) and stop:
        config["stopSequences"] = stop
    elif stop is not None:
        raise InvalidRequest("stop must be a string or a list of strings", param="stop")
    config.update(_response_format(body.get("response_format")))
    effort = body.get("reasoning_effort")
    if effort is not None:
        if effort not in THINKING_BUDGETS:
            raise InvalidRequest(f"reasoning_effort must be one of {', '.join(THINKING_BUDGETS)}", param="reasoning_effort")
        budget = THINKING_BUDGETS[effort]
        # Thoughts are asked for so they come back as reasoning_content.
        config["thinkingConfig"] = {"thinkingBudget": budget, "includeThoughts": budget > 0}
    return config


def _response_format(response_format: Any) -> dict[str, Any]:
    kind = response_format.get("type") if isinstance(response_format, dict) else response_format
    if kind is None or kind == "text":
        return {}
    if kind == "json_object":
        return {"responseMimeType": "application/json"}
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise InvalidRequest("response_format.json_schema needs a schema", param="response_format")
        # responseJsonSchema takes JSON Schema as OpenAI clients write it (see parametersJsonSchema).
        return {"responseMimeType": "application/json", "responseJsonSchema": schema}
    raise InvalidRequest(f"response_format type {kind!r} cannot be sent to Gemini", param="response_format")


# -- response ---------------------------------------------------------------------------------


def finish_reason(reason: Any, has_calls: bool) -> str:
    if reason == "MAX_TOKENS":
        return "length"
    if reason in _FILTERED:
        return "content_filter"
    return "tool_calls" if has_calls else "stop"


def completion_id(data: dict[str, Any]) -> str:
    return "chatcmpl-" + str(data.get("responseId") or "gemini")


def blocked(data: dict[str, Any]) -> bool:
    """A prompt Gemini refused outright: a block reason and no candidates."""
    feedback = data.get("promptFeedback")
    return not data.get("candidates") and isinstance(feedback, dict) and bool(feedback.get("blockReason"))


def chat_completion(data: dict[str, Any], *, model: str, created: int, new_id: IdMaker) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` for a ``GenerateContentResponse``; ValueError if not one."""
    candidates = data.get("candidates")
    if blocked(data):
        choices = [_filtered_choice(0)]
    elif isinstance(candidates, list) and candidates:
        choices = [_choice(position, candidate, new_id) for position, candidate in enumerate(candidates)]
    else:
        raise ValueError("no candidates")
    completion: dict[str, Any] = {
        "id": completion_id(data),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": choices,
    }
    usage = data.get("usageMetadata")
    if isinstance(usage, dict):
        completion["usage"] = openai_usage(usage)
    return completion


def _filtered_choice(index: int) -> dict[str, Any]:
    return {
        "index": index,
        "message": {"role": "assistant", "content": ""},
        "logprobs": None,
        "finish_reason": "content_filter",
    }


def _choice(position: int, candidate: dict[str, Any], new_id: IdMaker) -> dict[str, Any]:
    text, thoughts, calls = read_parts((candidate.get("content") or {}).get("parts") or (), new_id)
    message: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
    if thoughts:
        message["reasoning_content"] = thoughts
    if calls:
        message["tool_calls"] = calls
    return {
        "index": candidate.get("index", position),
        "message": message,
        "logprobs": None,
        "finish_reason": finish_reason(candidate.get("finishReason"), bool(calls)),
    }


def read_parts(parts: Any, new_id: IdMaker) -> tuple[str, str, list[dict[str, Any]]]:
    """(answer text, thought text, OpenAI tool calls) of a candidate's parts."""
    text: list[str] = []
    thoughts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in parts:
        if not isinstance(part, dict):
            raise ValueError("a part is not an object")
        call = part.get("functionCall")
        if isinstance(call, dict):
            calls.append(tool_call(call, part.get("thoughtSignature"), new_id))
        elif isinstance(part.get("text"), str):
            (thoughts if part.get("thought") else text).append(part["text"])
    return "".join(text), "".join(thoughts), calls


def tool_call(call: dict[str, Any], signature: Any, new_id: IdMaker) -> dict[str, Any]:
    call_id = call.get("id") or new_id()
    if isinstance(signature, str) and signature:
        call_id += SIGNATURE_SEPARATOR + signature
    arguments = orjson.dumps(call.get("args") or {}).decode()
    return {"id": call_id, "type": "function", "function": {"name": call["name"], "arguments": arguments}}


def openai_usage(usage: dict[str, Any]) -> dict[str, Any]:
    # OpenAI counts reasoning inside completion_tokens; Gemini counts thoughts apart. Tool-use
    # prompt tokens (grounding results) are prompt tokens to the client.
    prompt = (usage.get("promptTokenCount") or 0) + (usage.get("toolUsePromptTokenCount") or 0)
    thoughts = usage.get("thoughtsTokenCount")
    completion = (usage.get("candidatesTokenCount") or 0) + (thoughts or 0)
    out: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    cached = usage.get("cachedContentTokenCount")
    if cached is not None:
        out["prompt_tokens_details"] = {"cached_tokens": cached}
    if thoughts is not None:
        out["completion_tokens_details"] = {"reasoning_tokens": thoughts}
    return out


class StreamTranslator(ChunkStream):
    """Gemini stream chunks (one ``GenerateContentResponse`` per SSE event) in, OpenAI
    ``chat.completion.chunk`` dicts out.

    A ``sluicegate.translating.StreamTranslator``: ``done`` once every candidate that began has
    a finish reason (or the prompt was blocked); never ``ended``, since the usage comes on the
    last chunk and the end of the vendor's stream ends ours.
    """

    def __init__(self, model: str, created: int, include_usage: bool, new_id: IdMaker) -> None:
        super().__init__(model, created, include_usage)
        self.new_id = new_id
        # Per candidate, how many tool calls went out (each call's OpenAI index).
        self._calls: dict[int, int] = {}

    def usage_of(self, usage: dict[str, Any]) -> dict[str, Any]:
        return openai_usage(usage)

    def feed(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        if self.id is None:
            self.id = completion_id(data)
        usage = data.get("usageMetadata")
        if isinstance(usage, dict):
            self.usage = usage  # every chunk has the counts so far: the last is the total
        if blocked(data):
            self._started.add(0)
            self._finished.add(0)
            return [self._chunk(0, {"role": "assistant", "content": ""}, "content_filter")]
        chunks = []
        for position, candidate in enumerate(data.get("candidates") or ()):
            index = candidate.get("index", position)
            text, thoughts, calls = read_parts((candidate.get("content") or {}).get("parts") or (), self.new_id)
            delta: dict[str, Any] = {}
            if thoughts:
                delta["reasoning_content"] = thoughts
            if text:
                delta["content"] = text
            if calls:
                first = self._calls.get(index, 0)
                self._calls[index] = first + len(calls)
                # Gemini sends each call whole: one delta carries id, name and all arguments.
                delta["tool_calls"] = [{"index": first + n, **call} for n, call in enumerate(calls)]
            if delta or index not in self._started:
                chunks.append(self._chunk(index, self._with_role(index, delta), None))
            reason = candidate.get("finishReason")
            if reason and index not in self._finished:
                self._finished.add(index)
                chunks.append(self._chunk(index, {}, finish_reason(reason, bool(self._calls.get(index)))))
        return chunks

