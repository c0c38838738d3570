"""Gemini's errors read and classified: pure functions, no I/O.

Gemini answers an error with Google's RPC status as JSON,
``{"error": {"code": 429, "message", "status": "RESOURCE_EXHAUSTED", "details": [...]}}`` (a
stream request's error may come wrapped in a one-element list); ``details`` may hold a
``google.rpc.RetryInfo`` with the wait (``"retryDelay": "30s"``) and a ``google.rpc.ErrorInfo``
with a reason (``API_KEY_INVALID``).
"""

from __future__ import annotations

import math
import re
from typing import Any

import orjson
from attrs import frozen

from sluicegate.resilience import classify


@frozen
class GeminiError:
    """What one Gemini error body says."""

    message: str
    #: The RPC status name (``RESOURCE_EXHAUSTED``), when the body had one.
    status: str | None = None
    #: The HTTP status the body names (its ``code``).
    code: int | None = None
    #: ``RetryInfo.retryDelay`` in seconds: how long Gemini asks us to wait.
    retry_delay: float | None = None
    #: ``ErrorInfo.reason`` (``API_KEY_INVALID``).
    reason: str | None = None


@frozen
class ErrorKind:
    """How a Gemini error appears to an OpenAI client, and what kind of failure it is."""

    status: int
    type: str
    error_class: classify.ErrorClass


#: The HTTP status Google's RPC status names map to (google.rpc.Code's documented mapping).
RPC_STATUS: dict[str, int] = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "ABORTED": 409,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL": 500,
    "UNKNOWN": 500,
    "DATA_LOSS": 500,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}

_CLASSES: dict[str, classify.ErrorClass] = {
    "UNAUTHENTICATED": classify.ErrorClass.AUTHENTICATION,
    "PERMISSION_DENIED": classify.ErrorClass.PERMISSION,
    "NOT_FOUND": classify.ErrorClass.NOT_FOUND,
    "RESOURCE_EXHAUSTED": classify.ErrorClass.RATE_LIMIT,
    "UNAVAILABLE": classify.ErrorClass.OVERLOADED,
    "DEADLINE_EXCEEDED": classify.ErrorClass.TIMEOUT,
}

# Gemini answers a bad key with INVALID_ARGUMENT (400) and this reason; to an OpenAI client
# that is a 401, and no retry or other request fixes it.
_BAD_KEY_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED"})
# Gemini's API is not offered in every country: another target (Vertex, another vendor) may
# well be, so this precondition is a permission failure the router falls back on.
_LOCATION = re.compile(r"location is not supported", re.IGNORECASE)
_CONTEXT = re.compile(r"input token count .* exceeds|exceeds the maximum number of tokens", re.IGNORECASE)
_TYPES = {401: "authentication_error", 403: "permission_error", 404: "not_found_error", 429: "rate_limit_error"}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def error_details(body: bytes) -> GeminiError:
    """What a Gemini error body says; a body that is not Google's shape keeps its text."""
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace").strip()
        return GeminiError(text[:500] or "no error message")
    if isinstance(data, list) and data:
        data = data[0]
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return GeminiError("no error message")
    return reported(error)


def reported(error: dict[str, Any]) -> GeminiError:
    """The ``error`` object of a body or a stream event read."""
    retry_delay: float | None = None
    reason: str | None = None
    for detail in error.get("details") or ():
        if not isinstance(detail, dict):
            continue
        delay = detail.get("retryDelay")
        if isinstance(delay, str) and retry_delay is None:
            retry_delay = _seconds(delay)
        if isinstance(detail.get("reason"), str) and reason is None:
            reason = detail["reason"]
    code = error.get("code")
    status = error.get("status")
    return GeminiError(
        message=str(error.get("message") or "no error message"),
        status=status if isinstance(status, str) else None,
        code=code if isinstance(code, int) else None,
        retry_delay=retry_delay,
        reason=reason,
    )


def _seconds(delay: str) -> float | None:
    """A protobuf Duration in JSON ("30s", "1.5s") in seconds."""
    match = _DURATION.match(delay)
    return float(match.group(1)) if match else None


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` for a wait: whole seconds, rounded up, at least one."""
    return str(max(1, math.ceil(seconds)))


def classify_error(error: GeminiError, http_status: int | None) -> ErrorKind:
    """Status, OpenAI error type and class for a Gemini error; ``http_status`` is None for an
    error inside a stream, where only the body tells."""
    status = RPC_STATUS.get(error.status or "") or http_status or error.code or 500
    if error.reason in _BAD_KEY_REASONS:
        status, kind = 401, classify.ErrorClass.AUTHENTICATION
    elif error.status in _CLASSES:
        kind = _CLASSES[error.status]  # type: ignore[index]
    elif status == 400 and _CONTEXT.search(error.message):
        kind = classify.ErrorClass.CONTEXT_LENGTH
    elif error.status == "FAILED_PRECONDITION" and _LOCATION.search(error.message):
        kind = classify.ErrorClass.PERMISSION
    else:
        kind = classify.for_status(status)
    return ErrorKind(status, _TYPES.get(status) or ("invalid_request_error" if status < 500 else "upstream_error"), kind)
