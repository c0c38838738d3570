"""The Gemini API's vocabulary, shared by the Gemini entrance's translations and its error shape.

Google's JSON API reads every field under its JSON name (``inlineData``) and its proto name
(``inline_data``), and its own documented examples use both; ``pick`` reads either. It also
takes a lone object where an array goes (``repeated``). Error
bodies are Google's RPC status: ``{"error": {"code", "message", "status", "details"}}``.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any

#: HTTP status -> the google.rpc status name Google's API pairs with it.
STATUS_NAMES: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

#: Every google.rpc status name: a vendor error that already carries one (a Gemini provider's
#: ``FAILED_PRECONDITION``) keeps it.
RPC_STATUSES = frozenset(
    {
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    }
)

ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
#: The ErrorInfo domain of the gateway's own errors: not Google's, so a client that reads
#: Google's reasons (Gemini CLI's quota handling) does not mistake them for its own.
ERROR_DOMAIN = "sluicegate"

_NOT_REASON = re.compile(r"[^A-Z0-9]+")
_UPPER = re.compile(r"([A-Z])")

# OpenAI finish reasons as Gemini's; a tool call ends a Gemini turn with STOP too.
FINISH_REASONS = {
    "stop": "STOP",
    "tool_calls": "STOP",
    "function_call": "STOP",
    "length": "MAX_TOKENS",
    "content_filter": "SAFETY",
}


@functools.lru_cache(maxsize=256)
def proto_name(json_name: str) -> str:
    """``inlineData`` -> ``inline_data``."""
    return _UPPER.sub(r"_\1", json_name).lower()


def pick(obj: dict[str, Any], json_name: str) -> Any:
    """The value of ``json_name`` (camelCase) in ``obj``, or of its proto name (snake_case)."""
    value = obj.get(json_name)
    if value is None:
        value = obj.get(proto_name(json_name))
    return value


def repeated(value: Any) -> Any:
    """A repeated field's items: Google's API also takes a lone object where an array of them
    goes (its own examples send ``"contents": {"parts": {"text": ...}}``), read as an array
    of one. Anything else is returned as it is, for the caller to refuse."""
    return [value] if isinstance(value, dict) else value


def status_name(status: int, code: str | None = None) -> str:
    """The google.rpc status name for an error: its own ``code`` when that is one, else the
    HTTP status's (4xx ``INVALID_ARGUMENT``, 5xx ``INTERNAL`` for any other)."""
    if code in RPC_STATUSES:
        return code  # type: ignore[return-value]
    name = STATUS_NAMES.get(status)
    if name is not None:
        return name
    return "INTERNAL" if status >= 500 else "INVALID_ARGUMENT"


def gemini_error_body(
    message: str, status: int, code: str | None, request_id: str | None, retry_after: float | None = None
) -> dict[str, Any]:
    """Google's error shape. ``details`` name the gateway's code as an ErrorInfo reason (with the
    request id), and the wait a client should leave as a RetryInfo, where known."""
    info: dict[str, Any] = {"@type": ERROR_INFO, "reason": _reason(code, status), "domain": ERROR_DOMAIN}
    if request_id:
        info["metadata"] = {"request_id": request_id}
    details: list[dict[str, Any]] = [info]
    if retry_after is not None and retry_after >= 0:
        details.append({"@type": RETRY_INFO, "retryDelay": f"{math.ceil(retry_after)}s"})
    return {"error": {"code": status, "message": message, "status": status_name(status, code), "details": details}}


def _reason(code: str | None, status: int) -> str:
    # ErrorInfo reasons are UPPER_SNAKE_CASE.
    reason = _NOT_REASON.sub("_", code.upper()).strip("_") if code else ""
    return reason or status_name(status)


def finish_reason(reason: Any) -> str:
    """Gemini's ``finishReason`` for an OpenAI ``finish_reason``; ``OTHER`` for one it has no
    name for."""
    if reason is None:
        return "STOP"
    return FINISH_REASONS.get(reason, "OTHER") if isinstance(reason, str) else "OTHER"


def usage_metadata(usage: Any) -> dict[str, int] | None:
    """Gemini's ``usageMetadata`` for an OpenAI usage object; None when there is none.

    Gemini counts thoughts apart from the candidates (OpenAI counts reasoning inside the
    completion), and cached prompt tokens inside the prompt (as OpenAI does).
    """
    if not isinstance(usage, dict):
        return None
    prompt = _count(usage.get("prompt_tokens"))
    completion = _count(usage.get("completion_tokens"))
    details = usage.get("completion_tokens_details")
    thoughts = _count(details.get("reasoning_tokens")) if isinstance(details, dict) else 0
    thoughts = min(thoughts, completion)
    total = usage.get("total_tokens")
    metadata = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": completion - thoughts,
        "totalTokenCount": total if _is_count(total) else prompt + completion,
    }
    prompt_details = usage.get("prompt_tokens_details")
    cached = prompt_details.get("cached_tokens") if isinstance(prompt_details, dict) else None
    if not _is_count(cached):
        cached = usage.get("prompt_cache_hit_tokens")  # DeepSeek's own field
    cached = _count(cached)
    if cached:
        metadata["cachedContentTokenCount"] = cached
    if thoughts:
        metadata["thoughtsTokenCount"] = thoughts
    return metadata


def _is_count(value: Any) -> bool:
    return type(value) is int and value >= 0


def _count(value: Any) -> int:
    return value if _is_count(value) else 0
