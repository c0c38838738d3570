"""OpenAI chat to DashScope's native generation API and back: pure functions, no I/O."""

from __future__ import annotations

import re
from typing import Any

import orjson
from attrs import define, field

from sluicegate.errors import InvalidRequest
from sluicegate.resilience import classify
from sluicegate.translate.chat_tools import output_limit, tool_calls
from sluicegate.translate.chunks import ChunkStream

TEXT_PATH = "/services/aigc/text-generation/generation"
# Qwen-VL and the other vision models answer only here, with content as a list of parts.
MULTIMODAL_PATH = "/services/aigc/multimodal-generation/generation"

#: OpenAI request fields DashScope has no counterpart for: dropped, never forwarded. Fields in
#: no list at all are dropped too (a translating adapter cannot guess where they belong).
#: frequency_penalty is here because DashScope's repetition_penalty is a different, multiplicative
#: knob; logprobs because the answer's log-probabilities are not translated back.
DROPPED_FIELDS = frozenset(
    {
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "user",
        "store",
        "metadata",
        "service_tier",
        "prediction",
        "modalities",
        "audio",
        "reasoning_effort",
        "web_search_options",
        "functions",
        "function_call",
        "prompt_cache_key",
        "safety_identifier",
        "verbosity",
    }
)

#: OpenAI fields that DashScope takes in ``parameters`` under the same name and meaning.
SAME_NAME_PARAMETERS = (
    "temperature",
    "top_p",
    "seed",
    "presence_penalty",
    "n",
    "stop",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
)

#: DashScope's own parameters, which OpenAI SDK users send as ``extra_body``; passed as they are.
VENDOR_PARAMETERS = frozenset(
    {
        "top_k",
        "repetition_penalty",
        "enable_search",
        "search_options",
        "enable_thinking",
        "thinking_budget",
        "enable_code_interpreter",
        "vl_high_resolution_images",
        "translation_options",
    }
)

_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "tool"}

# DashScope says "null" (a string) on every stream event until the last one.
_FINISH_REASONS = {"stop": "stop", "length": "length", "tool_calls": "tool_calls", "content_filter": "content_filter"}
_NOT_FINISHED = frozenset({None, "", "null"})


def request_defaults(enable_search: bool | None = None) -> dict[str, Any]:
    """The ``parameters`` every request starts from; built once per provider."""
    defaults: dict[str, Any] = {"result_format": "message"}
    if enable_search is not None:
        defaults["enable_search"] = enable_search
    return defaults


# -- request ----------------------------------------------------------------------------------


def chat_request(
    body: dict[str, Any], model: str, *, stream: bool, defaults: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    """(DashScope request body, whether it needs the multimodal endpoint) for an OpenAI chat body.

    Raises ``InvalidRequest`` for anything DashScope cannot be told, before any network call.
    """
    messages, multimodal = _messages(body.get("messages"))
    parameters = dict(defaults)
    for name in SAME_NAME_PARAMETERS:
        value = body.get(name)
        if value is not None:
            parameters[name] = value
    limit = output_limit(body)
    if limit is not None:
        parameters["max_tokens"] = limit
    for name in VENDOR_PARAMETERS.intersection(body):
        parameters[name] = body[name]
    if stream:
        # Without it every event repeats the whole answer so far.
        parameters["incremental_output"] = True
    return {"model": model, "input": {"messages": messages}, "parameters": parameters}, multimodal


def _messages(messages: Any) -> tuple[list[dict[str, Any]], bool]:
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages must be a non-empty list", param="messages")
    out: list[dict[str, Any]] = []
    # Older DashScope models want the function name on tool results; OpenAI names only the call.
    names: dict[str, str] = {}
    multimodal = False
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise InvalidRequest(f"{where} must be an object", param=where)
        role = _ROLES.get(message.get("role"))  # type: ignore[arg-type]
        if role is None:
            raise InvalidRequest(
                f"{where}.role {message.get('role')!r} cannot be sent to DashScope "
                "(use system, developer, user, assistant or tool)",
                param=f"{where}.role",
            )
        parts = _parts(message.get("content"), f"{where}.content")
        multimodal = multimodal or any("image" in part for part in parts)
        item: dict[str, Any] = {"role": role, "content": parts}
        if role == "assistant":
            calls = message.get("tool_calls")
            if calls:
                item["tool_calls"] = _tool_calls(calls, where, names)
        elif role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                raise InvalidRequest(f"{where} needs a tool_call_id", param=f"{where}.tool_call_id")
            item["tool_call_id"] = call_id
            name = message.get("name") or names.get(call_id)
            if name:
                item["name"] = name
        out.append(item)
    if not multimodal:
        # The text endpoint takes content as a plain string.
        for item in out:
            item["content"] = "\n".join(part["text"] for part in item["content"])
    return out, multimodal


def _parts(content: Any, where: str) -> list[dict[str, str]]:
    """Content in DashScope's list form: ``{"text": ...}`` and ``{"image": url}`` parts."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}]
    if not isinstance(content, list):
        raise InvalidRequest(f"{where} must be a string or a list of parts", param=where)
    parts = []
    for j, part in enumerate(content):
        param = f"{where}[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            text = part.get("text")
            if not isinstance(text, str):
                raise InvalidRequest(f"{param}.text must be a string", param=f"{param}.text")
            parts.append({"text": text})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str) or not url:
                raise InvalidRequest(f"{param}.image_url needs a url", param=f"{param}.image_url")
            parts.append({"image": url})
        elif kind == "input_audio":
            raise InvalidRequest(f"{param}: audio input is not supported by DashScope chat models", param=param)
        else:
            raise InvalidRequest(f"{param}: content part type {kind!r} cannot be sent to DashScope", param=param)
    return parts


def _tool_calls(calls: Any, where: str, names: dict[str, str]) -> list[dict[str, Any]]:
    out = []
    for call in tool_calls(calls, where):
        arguments = call.arguments
        if arguments is None:
            arguments = "{}"
        elif not isinstance(arguments, str):
            param = f"{call.param}.function.arguments"
            raise InvalidRequest(f"{param} must be a JSON string", param=param)
        names[call.id] = call.name
        out.append({"id": call.id, "type": "function", "function": {"name": call.name, "arguments": arguments}})
    return out


# -- response ---------------------------------------------------------------------------------


def chat_completion(data: dict[str, Any], *, model: str, created: int) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` for a DashScope answer; ValueError if it is not one."""
    output = data.get("output")
    if not isinstance(output, dict):
        raise ValueError("no output")
    choices = output.get("choices")
    if choices is None:
        # result_format "text": a model that ignored "message" answers with output.text.
        choices = [{"message": {"content": output.get("text") or ""}, "finish_reason": output.get("finish_reason")}]
    completion: dict[str, Any] = {
        "id": completion_id(data),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [_choice(position, choice) for position, choice in enumerate(choices)],
    }
    usage = data.get("usage")
    if isinstance(usage, dict):
        completion["usage"] = openai_usage(usage)
    return completion


def _choice(position: int, choice: dict[str, Any]) -> dict[str, Any]:
    message = choice.get("message") or {}
    text = content_text(message.get("content"))
    calls = [_call(call) for call in message.get("tool_calls") or ()]
    out: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
    reasoning = message.get("reasoning_content")
    if reasoning:
        out["reasoning_content"] = reasoning
    if calls:
        out["tool_calls"] = calls
    return {
        "index": choice.get("index", position),
        "message": out,
        "logprobs": None,
        "finish_reason": finish_reason(choice.get("finish_reason")) or "stop",
    }


def _call(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    return {
        "id": call.get("id") or "",
        "type": "function",
        "function": {"name": function.get("name") or "", "arguments": function.get("arguments") or ""},
    }


def completion_id(data: dict[str, Any]) -> str:
    return "chatcmpl-" + str(data.get("request_id") or "dashscope")


def content_text(content: Any) -> str:
    """Text of a DashScope message: a string, or (multimodal) a list of ``{"text": ...}`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text") or "" for part in content if isinstance(part, dict))
    return ""


def finish_reason(reason: Any) -> str | None:
    if reason in _NOT_FINISHED:
        return None
    return _FINISH_REASONS.get(reason, "stop")


def openai_usage(usage: dict[str, Any]) -> dict[str, Any]:
    prompt = usage.get("input_tokens") or 0
    completion = usage.get("output_tokens") or 0
    # Multimodal answers carry no total_tokens.
    out: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": usage.get("total_tokens") or prompt + completion,
    }
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", usage.get("cached_tokens"))
    if cached is not None:
        out["prompt_tokens_details"] = {"cached_tokens": cached}
    reasoning = (usage.get("output_tokens_details") or {}).get("reasoning_tokens")
    if reasoning is not None:
        out["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return out


class StreamTranslator(ChunkStream):
    """DashScope incremental stream results in, OpenAI ``chat.completion.chunk`` dicts out.

    Feed each event's parsed ``data``; ``complete`` tells whether every choice finished, and
    ``finish()`` gives what follows the last event (the usage chunk, when asked for). A
    ``sluicegate.translating.StreamTranslator``: ``done`` is ``complete``, and it never ``ended``
    (the counts are cumulative, so events after the last finish are still read).
    """

    def __init__(self, model: str, created: int, include_usage: bool) -> None:
        super().__init__(model, created, include_usage)
        # (choice, call slot) -> whether the function name went out yet.
        self._calls: dict[tuple[int, int], bool] = {}

    @property
    def complete(self) -> bool:
        return self.done

    def usage_of(self, usage: dict[str, Any]) -> dict[str, Any]:
        return openai_usage(usage)

    def feed(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        if self.id is None:
            self.id = completion_id(data)
        usage = data.get("usage")
        if isinstance(usage, dict):
            # Cumulative on every event: the last one is the total.
            self.usage = usage
        output = data.get("output") or {}
        chunks = []
        for position, choice in enumerate(output.get("choices") or ()):
            index = choice.get("index", position)
            message = choice.get("message") or {}
            delta: dict[str, Any] = {}
            reasoning = message.get("reasoning_content")
            if reasoning:
                delta["reasoning_content"] = reasoning
            text = content_text(message.get("content"))
            if text:
                delta["content"] = text
            calls = self._call_deltas(index, message.get("tool_calls"))
            if calls:
                delta["tool_calls"] = calls
            finish = finish_reason(choice.get("finish_reason"))
            if delta:
                chunks.append(self._chunk(index, self._with_role(index, delta), None))
            if finish is not None and index not in self._finished:
                self._finished.add(index)
                chunks.append(self._chunk(index, self._with_role(index, {}), finish))
        return chunks

    def _call_deltas(self, index: int, calls: Any) -> list[dict[str, Any]]:
        out = []
        for position, call in enumerate(calls or ()):
            slot = call.get("index", position)
            function = call.get("function") or {}
            name = function.get("name") or ""
            arguments = function.get("arguments") or ""
            key = (index, slot)
            named = self._calls.get(key)
            if named is None:
                # The first delta of a call carries its id and name, as OpenAI's do; DashScope
                # repeats an empty id on the following ones.
                self._calls[key] = bool(name)
                out.append(
                    {
                        "index": slot,
                        "id": call.get("id") or f"call_{slot}",
                        "type": "function",
                        "function": {"name": name, "arguments": arguments},
                    }
                )
            elif name and not named:
                self._calls[key] = True
                out.append({"index": slot, "function": {"name": name, "arguments": arguments}})
            elif arguments:
                out.append({"index": slot, "function": {"arguments": arguments}})
        return out



# -- errors -----------------------------------------------------------------------------------

#: The HTTP status DashScope answers each error code with. Used for errors inside a stream,
#: whose status travels only in an SSE comment (``:HTTP_STATUS/400``) that SSE parsers drop.
ERROR_STATUS: dict[str, int] = {
    "InvalidParameter": 400,
    "DataInspectionFailed": 400,
    "InvalidParameter.DataInspection": 400,
    "BadRequest.EmptyInput": 400,
    "BadRequest.EmptyParameters": 400,
    "BadRequest.EmptyModel": 400,
    "InvalidURL": 400,
    "Arrearage": 400,
    "UnsupportedOperation": 400,
    "IPInfringementSuspect": 400,
    "InvalidApiKey": 401,
    "AccessDenied": 403,
    "AccessDenied.Unpurchased": 403,
    "Model.AccessDenied": 403,
    "AllocationQuota.FreeTierOnly": 403,
    "ModelNotFound": 404,
    "RequestTimeOut": 408,
    "BadRequest.TooLarge": 413,
    "Throttling": 429,
    "Throttling.RateQuota": 429,
    "Throttling.BurstRate": 429,
    "Throttling.AllocationQuota": 429,
    "CommodityNotPurchased": 429,
    "PrepaidBillOverdue": 429,
    "PostpaidBillOverdue": 429,
    "InternalError": 500,
    "InternalError.Algo": 500,
    "InternalError.Timeout": 500,
    "SystemError": 500,
    "ModelServingError": 500,
    "ModelServiceFailed": 500,
    "ModelUnavailable": 503,
}

# About the account's money, not the request: OpenAI's name for that is insufficient_quota.
_BILLING = frozenset(
    {"Arrearage", "AllocationQuota.FreeTierOnly", "CommodityNotPurchased", "PrepaidBillOverdue", "PostpaidBillOverdue"}
)

#: The class of each DashScope code whose status alone would mislead or say too little; codes
#: not listed (and not Throttling*) follow their status. Whatever status they arrive with, an
#: unpaid account, moderation, a bad key and no access are never retried.
CODE_CLASSES: dict[str, classify.ErrorClass] = {
    **dict.fromkeys(_BILLING, classify.ErrorClass.QUOTA),
    "DataInspectionFailed": classify.ErrorClass.CONTENT_FILTER,
    "InvalidParameter.DataInspection": classify.ErrorClass.CONTENT_FILTER,
    "data_inspection_failed": classify.ErrorClass.CONTENT_FILTER,  # the compatible mode's spelling
    "IPInfringementSuspect": classify.ErrorClass.CONTENT_FILTER,  # input suspected of infringing
    "InvalidApiKey": classify.ErrorClass.AUTHENTICATION,
    "AccessDenied": classify.ErrorClass.PERMISSION,
    "AccessDenied.Unpurchased": classify.ErrorClass.PERMISSION,
    "Model.AccessDenied": classify.ErrorClass.PERMISSION,
    "ModelNotFound": classify.ErrorClass.NOT_FOUND,
    "RequestTimeOut": classify.ErrorClass.TIMEOUT,
    "InternalError.Timeout": classify.ErrorClass.TIMEOUT,
    "ModelUnavailable": classify.ErrorClass.OVERLOADED,
}

# InvalidParameter also reports a prompt over the model's window: "Range of input length should
# be [1, 30720]" (natively) or "<400> InternalError.Algo.InvalidParameter: Range of input length
# should be [1, 983616]" (compatible mode); other ranges ("Range of max_tokens ...") are plain
# invalid requests.
_CONTEXT_MESSAGES = re.compile(r"range of input length should be|maximum context length", re.IGNORECASE)
# Throttling.AllocationQuota also means a used-up free quota, which no wait brings back.
_FREE_QUOTA_MESSAGES = re.compile(r"free allocated quota exceeded", re.IGNORECASE)
_STATUS_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    429: "rate_limit_error",
}


@define(frozen=True, slots=True)
class ErrorClass:
    """How a DashScope error appears to an OpenAI client, and what kind of failure it is."""

    status: int
    type: str
    retryable: bool
    # Derived from the same code, so left out of comparisons.
    error_class: classify.ErrorClass | None = field(default=None, eq=False)


def error_class(code: str | None, status: int, message: str = "") -> classify.ErrorClass:
    """The class of a DashScope error from its code, message and (documented) status."""
    if code is not None and code.startswith("Throttling"):
        if _FREE_QUOTA_MESSAGES.search(message):
            return classify.ErrorClass.QUOTA
        return classify.ErrorClass.RATE_LIMIT
    known = CODE_CLASSES.get(code or "")
    if known is not None:
        return known
    if code is not None and "DataInspection" in code:
        return classify.ErrorClass.CONTENT_FILTER  # e.g. InternalError.Algo.DataInspectionFailed
    if 400 <= status < 500 and _CONTEXT_MESSAGES.search(message):
        return classify.ErrorClass.CONTEXT_LENGTH
    # InternalError*, SystemError, ModelServing* and the like land on OVERLOADED by status.
    return classify.for_status(status)


def classify_error(code: str | None, status: int | None, message: str = "") -> ErrorClass:
    """Status, OpenAI error type and retryability for a DashScope error code.

    ``status`` is the HTTP status DashScope answered with, or None inside a stream.
    """
    if status is None:
        status = ERROR_STATUS.get(code, 500) if code else 500
    kind_of_failure = error_class(code, status, message)
    retryable = classify.TRAITS[kind_of_failure].retryable
    if kind_of_failure is classify.ErrorClass.QUOTA:
        kind = "insufficient_quota"
    elif code == "InvalidApiKey":
        kind = "authentication_error"
    else:
        kind = _STATUS_TYPES.get(status) or ("invalid_request_error" if status < 500 else "upstream_error")
    return ErrorClass(status, kind, retryable, kind_of_failure)


def error_details(body: bytes) -> tuple[str | None, str]:
    """(code, message) of a DashScope error body: ``{"code", "message", "request_id"}`` JSON, or
    the same JSON in an SSE ``data:`` line (how stream requests fail), or anything else."""
    data = _error_json(body)
    if isinstance(data, dict):
        return _error_fields(data)
    text = body.decode("utf-8", "replace").strip()
    return None, text[:500] or "no error message"


def reported_error(data: dict[str, Any]) -> tuple[str | None, str] | None:
    """(code, message) when a parsed answer or stream event sent with a 200 reports an error
    rather than a result; None for a result (anything with an ``output``).

    DashScope writes ``{"code", "message"}`` with no (or a null) ``output``; some front ends
    use OpenAI's ``{"error": {...}}`` envelope instead, which carries no top-level code.
    """
    if data.get("output"):
        return None
    if data.get("code") or data.get("error"):
        return _error_fields(data)
    return None


def _error_fields(data: dict[str, Any]) -> tuple[str | None, str]:
    # Some DashScope front ends answer in OpenAI's {"error": {...}} envelope.
    error = data.get("error")
    if isinstance(error, str):
        return None, error
    if not isinstance(error, dict):
        error = data
    code, message = error.get("code"), error.get("message")
    return (str(code) if code else None), (str(message) if message else "no error message")


def _error_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    for line in body.splitlines():
        if line.startswith(b"data:"):
            try:
                return orjson.loads(line[5:])
            except orjson.JSONDecodeError:
                return None
    return None
