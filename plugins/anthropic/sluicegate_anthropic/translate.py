"""OpenAI chat completions to Anthropic Messages and back, as pure functions (no I/O).

- ``to_anthropic_request``: an OpenAI chat request becomes a Messages request. Input Anthropic
  cannot take raises ``InvalidRequest`` (400, with ``param``): ``n`` > 1, audio and file parts,
  unknown part types, non-function tools, legacy ``functions``, a ``tool`` message without
  ``tool_call_id``, an image URL that is neither ``data:`` nor http(s), tool-call arguments
  that are not a JSON object.
- OpenAI-only fields in ``DROPPED_FIELDS`` are left out (no Anthropic counterpart:
  ``frequency_penalty``, ``presence_penalty``, ``logit_bias``, ``logprobs``, ``top_logprobs``,
  ``response_format``, ``seed``, ``service_tier``, ``store``, ``metadata``, ``modalities``,
  ``audio``, ``prediction``, ``reasoning_effort``, ``web_search_options``, ``moderation``,
  ``prompt_cache_key``, ``prompt_cache_options``, ``prompt_cache_retention``,
  ``safety_identifier``, ``verbosity``). Any other field the translation
  does not know passes through unchanged, so Anthropic's own (``top_k``, ``thinking``) can be
  sent through the OpenAI SDK's ``extra_body``.
- ``to_openai_completion`` and ``StreamTranslator``: a Message (or its stream events) becomes a
  ``chat.completion`` (or ``chat.completion.chunk`` dicts). Thinking, redacted thinking and
  server-tool blocks have no OpenAI counterpart and are dropped.
- ``openai_error_type``, ``is_retryable``: how an Anthropic error appears to an OpenAI client
  (with ``client_status`` and ``ERROR_STATUS`` of ``sluicegate.translate.anthropic_dialect``, the
  vocabulary this translation shares with the gateway's Anthropic entrance); ``error_class``:
  what kind of failure it is.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from sluicegate import nesting
from sluicegate.errors import InvalidRequest
from sluicegate.resilience.classify import TRAITS, ErrorClass, for_status
from sluicegate.translate.anthropic_dialect import TOOL_CHOICES_TO_ANTHROPIC, finish_reason, openai_usage

#: OpenAI request fields with no Anthropic counterpart; left out of the translated request.
DROPPED_FIELDS = frozenset(
    {
        "frequency_penalty",
        "presence_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "response_format",
        "seed",
        "service_tier",
        "store",
        "metadata",
        "modalities",
        "audio",
        "prediction",
        "reasoning_effort",
        "web_search_options",
        "moderation",
        "prompt_cache_key",
        "prompt_cache_options",
        "prompt_cache_retention",
        "safety_identifier",
        "verbosity",
    }
)

# Fields the translation reads itself; everything else not dropped passes through.
_TRANSLATED = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "temperature",
        "top_p",
        "user",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "stream",
        "stream_options",
        "n",
        "functions",
        "function_call",
    }
)


# -- requests ---------------------------------------------------------------------------------


def to_anthropic_request(body: dict[str, Any], model: str, default_max_tokens: int) -> dict[str, Any]:
    """The Messages request for an OpenAI chat request ``body`` (already checked by the gateway)."""
    n = body.get("n")
    if n is not None and n != 1:
        raise InvalidRequest("Anthropic answers with one choice per request; 'n' must be 1.",
                             param="n", code="invalid_value")
    for legacy in ("functions", "function_call"):
        if body.get(legacy) is not None:
            raise InvalidRequest(f"'{legacy}' is not supported by Anthropic providers; use 'tools'.",
                                 param=legacy, code="invalid_value")
    system, messages = _conversation(body["messages"])
    if not messages:
        # Anthropic refuses a request of system text alone; refuse it here, before a call.
        raise InvalidRequest("Anthropic needs at least one user or assistant message with content.",
                             param="messages", code="invalid_value")
    name = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    limit = body.get(name)
    if limit is not None and (type(limit) is not int or limit < 1):
        # Anthropic requires a positive integer; OpenAI-compatible vendors check their own.
        raise InvalidRequest(f"'{name}' must be a positive integer.", param=name, code="invalid_value")
    out: dict[str, Any] = {"model": model, "max_tokens": default_max_tokens if limit is None else limit}
    if system is not None:
        out["system"] = system
    out["messages"] = messages
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else stop
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            out[name] = body[name]
    user = body.get("user")
    if isinstance(user, str) and user:
        out["metadata"] = {"user_id": user}
    tools = body.get("tools")
    if tools:
        out["tools"] = _tools(tools)
        choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
        if choice is not None:
            out["tool_choice"] = choice
    if body.get("stream") is True:
        out["stream"] = True
    for name, value in body.items():
        if name not in _TRANSLATED and name not in DROPPED_FIELDS:
            out[name] = value
    return out


def _conversation(messages: list[dict[str, Any]]) -> tuple[str | list[dict[str, Any]] | None, list[dict[str, Any]]]:
    """(system, messages): system turns lifted out, same-role turns merged (Anthropic alternates)."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        role = message["role"]
        where = f"messages[{i}]"
        if role in ("system", "developer"):
            system.extend(_text_blocks(message.get("content"), where))
            continue
        if role == "user":
            blocks, turn_role = _user_blocks(message.get("content"), where), "user"
        elif role == "assistant":
            blocks, turn_role = _assistant_blocks(message, where), "assistant"
        elif role == "tool":
            blocks, turn_role = [_tool_result(message, where)], "user"
        else:
            raise InvalidRequest(f"Unsupported message role {role!r}.", param=f"{where}.role", code="invalid_value")
        if not blocks:
            continue
        if turns and turns[-1]["role"] == turn_role:
            content = turns[-1]["content"]
        else:
            content = []
            turns.append({"role": turn_role, "content": content})
        if role == "tool":
            # Anthropic wants a turn's tool results ahead of its other blocks.
            content.insert(_leading_results(content), blocks[0])
        else:
            content.extend(blocks)
    for turn in turns:
        if _is_plain_text(turn["content"]):
            turn["content"] = turn["content"][0]["text"]
    if not system:
        return None, turns
    return (system[0]["text"] if _is_plain_text(system) else system), turns


def _is_plain_text(blocks: list[dict[str, Any]]) -> bool:
    return len(blocks) == 1 and blocks[0].keys() == {"type", "text"}


def _leading_results(content: list[dict[str, Any]]) -> int:
    count = 0
    while count < len(content) and content[count]["type"] == "tool_result":
        count += 1
    return count


def _text_block(part: dict[str, Any], key: str, where: str) -> dict[str, Any] | None:
    text = part.get(key)
    if not isinstance(text, str):
        raise InvalidRequest(f"'{where}.{key}' must be a string.", param=f"{where}.{key}", code="invalid_type")
    if not text:
        return None  # Anthropic refuses empty text blocks; an empty part says nothing anyway
    block = {"type": "text", "text": text}
    if "cache_control" in part:
        # Prompt caching markers some OpenAI-format clients already send for Anthropic.
        block["cache_control"] = part["cache_control"]
    return block


def _text_blocks(content: Any, where: str, also: str | None = None) -> list[dict[str, Any]]:
    """Blocks for content that may only hold text (system, assistant; ``also`` names one more
    part type read as text, e.g. an assistant's "refusal")."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise InvalidRequest(f"'{where}.content' must be a string or an array of parts.",
                             param=f"{where}.content", code="invalid_type")
    blocks = []
    for j, part in enumerate(content):
        at = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" or (kind is not None and kind == also):
            block = _text_block(part, kind, at)
            if block is not None:
                blocks.append(block)
        else:
            raise InvalidRequest(f"'{at}' must be a text part here, not {kind!r}.", param=f"{at}.type",
                                 code="invalid_value")
    return blocks


def _user_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(content, list):
        return _text_blocks(content, where)
    blocks = []
    for j, part in enumerate(content):
        at = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            block = _text_block(part, "text", at)
            if block is not None:
                blocks.append(block)
        elif kind == "image_url":
            blocks.append(_image(part, at))
        elif kind in ("input_audio", "file"):
            raise InvalidRequest(f"'{at}': {kind} parts cannot be sent to Anthropic providers.",
                                 param=f"{at}.type", code="unsupported_content")
        else:
            raise InvalidRequest(f"'{at}' has an unknown content part type {kind!r}.", param=f"{at}.type",
                                 code="invalid_value")
    return blocks


def _image(part: dict[str, Any], where: str) -> dict[str, Any]:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    param = f"{where}.image_url.url"
    if isinstance(url, str):
        scheme = url[:8].lower()
        if scheme.startswith("data:"):
            header, comma, data = url[5:].partition(",")
            media_type, _, encoding = header.partition(";")
            if comma and encoding == "base64" and media_type and data:
                return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
            raise InvalidRequest(f"'{param}' must be a base64 data URL (data:<media type>;base64,<data>).",
                                 param=param, code="invalid_value")
        if scheme.startswith(("http://", "https://")):
            return {"type": "image", "source": {"type": "url", "url": url}}
    raise InvalidRequest(f"'{param}' must be a data: URL or an http(s) URL.", param=param, code="invalid_value")


def _assistant_blocks(message: dict[str, Any], where: str) -> list[dict[str, Any]]:
    if message.get("function_call") is not None:
        raise InvalidRequest("Legacy 'function_call' messages are not supported; use 'tool_calls'.",
                             param=f"{where}.function_call", code="invalid_value")
    blocks = _text_blocks(message.get("content"), where, also="refusal")
    for k, call in enumerate(message.get("tool_calls") or ()):
        at = f"{where}.tool_calls[{k}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or call.get("type", "function") != "function":
            raise InvalidRequest(f"'{at}' must be a function tool call.", param=at, code="invalid_value")
        call_id, name = call.get("id"), function.get("name")
        if not isinstance(call_id, str) or not call_id:
            raise InvalidRequest(f"'{at}.id' is required.", param=f"{at}.id", code="missing_required_parameter")
        if not isinstance(name, str) or not name:
            raise InvalidRequest(f"'{at}.function.name' is required.", param=f"{at}.function.name",
                                 code="missing_required_parameter")
        blocks.append({"type": "tool_use", "id": call_id, "name": name,
                       "input": _arguments(function.get("arguments"), f"{at}.function.arguments")})
    return blocks


def _arguments(arguments: Any, param: str) -> dict[str, Any]:
    if arguments is None or arguments == "":
        return {}
    if isinstance(arguments, str):
        try:
            arguments = orjson.loads(arguments)
        except orjson.JSONDecodeError:
            raise InvalidRequest(f"'{param}' is not valid JSON.", param=param, code="invalid_value") from None
    if not isinstance(arguments, dict):
        raise InvalidRequest(f"'{param}' must encode a JSON object.", param=param, code="invalid_value")
    if nesting.exceeds(arguments):
        # Parsed from a string, so the body's own depth check never saw it; deeper than the
        # request can be encoded again (see sluicegate.nesting).
        raise InvalidRequest(f"'{param}' nests more than {nesting.MAX_DEPTH} levels deep.", param=param,
                             code="json_too_deep")
    return arguments


def _tool_result(message: dict[str, Any], where: str) -> dict[str, Any]:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise InvalidRequest(f"'{where}.tool_call_id' is required for tool messages.",
                             param=f"{where}.tool_call_id", code="missing_required_parameter")
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id}
    content = message.get("content")
    if isinstance(content, str):
        if content:
            block["content"] = content
    else:
        parts = _text_blocks(content, where)
        if parts:
            block["content"] = parts
    return block


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise InvalidRequest("'tools' must be an array.", param="tools", code="invalid_type")
    out = []
    for i, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or tool.get("type") != "function":
            raise InvalidRequest(f"'tools[{i}]': Anthropic providers take function tools only.",
                                 param=f"tools[{i}].type", code="invalid_value")
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidRequest(f"'tools[{i}].function.name' is required.", param=f"tools[{i}].function.name",
                                 code="missing_required_parameter")
        entry: dict[str, Any] = {"name": name}
        if function.get("description"):
            entry["description"] = function["description"]
        entry["input_schema"] = function.get("parameters") or {"type": "object", "properties": {}}
        out.append(entry)
    return out


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    if choice is None:
        result = None if parallel is not False else {"type": "auto"}
    elif isinstance(choice, str) and choice in TOOL_CHOICES_TO_ANTHROPIC:
        result = {"type": TOOL_CHOICES_TO_ANTHROPIC[choice]}
    elif (
        isinstance(choice, dict)
        and choice.get("type") == "function"
        and isinstance(choice.get("function"), dict)
        and isinstance(choice["function"].get("name"), str)
    ):
        result = {"type": "tool", "name": choice["function"]["name"]}
    else:
        raise InvalidRequest("'tool_choice' must be auto, required, none or a named function.",
                             param="tool_choice", code="invalid_value")
    if parallel is False and result["type"] != "none":
        result["disable_parallel_tool_use"] = True
    return result


# -- answers ----------------------------------------------------------------------------------


def _arguments_json(arguments: Any) -> str:
    return orjson.dumps(arguments).decode() if arguments else ""


def to_openai_completion(message: dict[str, Any], created: int) -> dict[str, Any]:
    """The ``chat.completion`` for an Anthropic Message; its id is the Message's own id."""
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in message.get("content") or ():
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "tool_use":
            calls.append({
                "id": block.get("id"),
                "type": "function",
                "function": {"name": block.get("name"), "arguments": _arguments_json(block.get("input")) or "{}"},
            })
    reply: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None, "refusal": None}
    if calls:
        reply["tool_calls"] = calls
    return {
        "id": message.get("id"),
        "object": "chat.completion",
        "created": created,
        "model": message.get("model"),
        "choices": [
            {"index": 0, "message": reply, "logprobs": None, "finish_reason": finish_reason(message.get("stop_reason"))}
        ],
        "usage": openai_usage(message.get("usage") or {}),
    }


class StreamTranslator:
    """One Anthropic stream: feed each event's data in order, get OpenAI chunk dicts back.

    ``finished`` turns true at ``message_stop``; after it the stream has nothing more to say.
    ``error`` events are not handled here (the caller maps them to a gateway error). A
    ``sluicegate.translating.StreamTranslator``: ``done`` and ``ended`` are ``finished``, and
    ``finish()`` adds nothing (the usage chunk goes out with ``message_stop``).
    """

    __slots__ = ("finished", "include_usage", "_base", "_tools", "_usage")

    def __init__(self, created: int, *, include_usage: bool = False) -> None:
        self.finished = False
        self.include_usage = include_usage
        self._base: dict[str, Any] = {"id": "", "object": "chat.completion.chunk", "created": created, "model": ""}
        self._tools: dict[Any, int] = {}  # Anthropic content block index -> OpenAI tool_calls index
        self._usage: dict[str, int] = {}

    @property
    def done(self) -> bool:
        return self.finished

    ended = done

    def finish(self) -> list[dict[str, Any]]:
        return []

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**self._base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    def _merge_usage(self, usage: Any) -> None:
        # message_delta repeats counts cumulatively (some as null); the latest number wins.
        if isinstance(usage, dict):
            for name, value in usage.items():
                if type(value) is int:
                    self._usage[name] = value

    def feed(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        kind = data.get("type")
        if kind == "content_block_delta":
            delta = data.get("delta") or {}
            delta_kind = delta.get("type")
            if delta_kind == "text_delta":
                return [self._chunk({"content": delta.get("text") or ""})]
            if delta_kind == "input_json_delta":
                k = self._tools.get(data.get("index"))
                if k is not None:  # server-tool blocks stream input too; they have no OpenAI form
                    arguments = delta.get("partial_json") or ""
                    return [self._chunk({"tool_calls": [{"index": k, "function": {"arguments": arguments}}]})]
            return []  # thinking, signature and citation deltas
        if kind == "content_block_start":
            block = data.get("content_block") or {}
            block_kind = block.get("type")
            if block_kind == "tool_use":
                k = self._tools[data.get("index")] = len(self._tools)
                function = {"name": block.get("name"), "arguments": _arguments_json(block.get("input"))}
                return [self._chunk({"tool_calls": [{"index": k, "id": block.get("id"), "type": "function",
                                                     "function": function}]})]
            if block_kind == "text" and block.get("text"):
                return [self._chunk({"content": block["text"]})]
            return []
        if kind == "message_start":
            message = data.get("message") or {}
            self._base["id"] = message.get("id") or ""
            self._base["model"] = message.get("model") or ""
            self._merge_usage(message.get("usage"))
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "message_delta":
            self._merge_usage(data.get("usage"))
            return [self._chunk({}, finish_reason((data.get("delta") or {}).get("stop_reason")))]
        if kind == "message_stop":
            self.finished = True
            if self.include_usage:
                return [{**self._base, "choices": [], "usage": openai_usage(self._usage)}]
            return []
        return []  # ping, content_block_stop, and event types Anthropic may add later


# -- errors -----------------------------------------------------------------------------------

_OPENAI_ERROR_TYPES = {
    400: "invalid_request_error",
    404: "invalid_request_error",
    413: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    429: "rate_limit_error",
}


#: Anthropic error types whose class does not depend on the message.
ERROR_CLASSES = {
    "authentication_error": ErrorClass.AUTHENTICATION,
    "permission_error": ErrorClass.PERMISSION,
    "not_found_error": ErrorClass.NOT_FOUND,
    "billing_error": ErrorClass.QUOTA,
    # A byte limit enforced in front of the API, not the model's context window.
    "request_too_large": ErrorClass.INVALID_REQUEST,
    "rate_limit_error": ErrorClass.RATE_LIMIT,
    "api_error": ErrorClass.OVERLOADED,
    "overloaded_error": ErrorClass.OVERLOADED,
    "timeout_error": ErrorClass.TIMEOUT,
}

# invalid_request_error covers more than malformed requests: a prompt over the context window
# ("prompt is too long: 210000 tokens > 200000 maximum", "input length and `max_tokens` exceed
# context limit: ...") and an account out of credit or over its spend limit.
_CONTEXT_MESSAGES = re.compile(r"prompt is too long|exceed context limit", re.IGNORECASE)
_BILLING_MESSAGES = re.compile(r"credit balance is too low|reached your specified (?:\w+ )?API usage limits",
                               re.IGNORECASE)


def error_class(vendor_status: int, kind: str | None, message: str = "") -> ErrorClass:
    """The class of an Anthropic error from its status, type and message."""
    if kind == "invalid_request_error":
        if _CONTEXT_MESSAGES.search(message):
            return ErrorClass.CONTEXT_LENGTH
        if _BILLING_MESSAGES.search(message):
            return ErrorClass.QUOTA
    return ERROR_CLASSES.get(kind or "") or for_status(vendor_status)


def openai_error_type(status: int) -> str:
    return _OPENAI_ERROR_TYPES.get(status, "upstream_error")


def is_retryable(vendor_status: int) -> bool:
    """Whether an error of this status alone is worth retrying (the class of the status)."""
    return TRAITS[for_status(vendor_status)].retryable
