"""Vertex's errors read and classified: pure functions, no I/O.

Vertex answers in two shapes. Its own front end (a bad token, a project without access, a model
it does not know, a quota) answers with Google's RPC status,
``{"error": {"code": 429, "message", "status": "RESOURCE_EXHAUSTED", "details": [...]}}``, for
Gemini and Claude models alike; read with ``sluicegate_gemini.errors``. Claude itself answers
with Anthropic's ``{"type": "error", "error": {"type": "overloaded_error", "message"}}``, also
inside a stream. The body says which it is, so no caller needs to know the model.
"""

from __future__ import annotations

from typing import Any

import orjson
from attrs import frozen

from sluicegate.resilience.classify import ErrorClass
from sluicegate_gemini import errors as google_errors
from sluicegate_gemini.errors import ErrorKind, GeminiError


@frozen
class ClaudeError:
    """What one Anthropic error object says."""

    message: str
    #: Anthropic's error type (``overloaded_error``), when it named one.
    kind: str | None = None


#: Google's ``ErrorInfo`` reasons on Vertex that say more than their RPC status.
REASONS: dict[str, ErrorClass] = {
    # A 403 PERMISSION_DENIED, but the project's account is the problem: no retry helps, and
    # another vendor bills another account.
    "BILLING_DISABLED": ErrorClass.QUOTA,
    # The Vertex AI API is not enabled in the project: an operator must act.
    "SERVICE_DISABLED": ErrorClass.PERMISSION,
    "ACCESS_TOKEN_EXPIRED": ErrorClass.AUTHENTICATION,
    "ACCESS_TOKEN_TYPE_UNSUPPORTED": ErrorClass.AUTHENTICATION,
    "CREDENTIALS_MISSING": ErrorClass.AUTHENTICATION,
}


def read(body: bytes) -> GeminiError | ClaudeError:
    """What an error body says, in whichever of the two shapes it came."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return google_errors.error_details(body)  # keeps the text of a body that is not JSON
    return read_parsed(data)


def read_parsed(data: Any) -> GeminiError | ClaudeError:
    """``read`` for a body or stream event already parsed."""
    if isinstance(data, list) and data:
        data = data[0]  # a stream request's error may come as a one-element list
    if not isinstance(data, dict):
        return GeminiError("no error message")
    error = data.get("error")
    if isinstance(error, dict):
        kind = error.get("type")
        # Anthropic's object says "type": "error" around it; a proxy may drop that envelope but
        # keep the error's own type, where Google's would have a status or a numeric code.
        if data.get("type") == "error" or (isinstance(kind, str) and "status" not in error and "code" not in error):
            return ClaudeError(str(error.get("message") or "no error message"), kind if isinstance(kind, str) else None)
        return google_errors.reported(error)
    if isinstance(error, str):
        return GeminiError(error)
    return GeminiError("no error message")


def is_error(data: dict[str, Any]) -> bool:
    """A parsed answer or stream event that reports an error rather than a result: Anthropic's
    ``"type": "error"``, or an ``"error"`` object where a result has none (Gemini chunks and
    Anthropic events never carry one)."""
    kind = data.get("type")
    return kind == "error" or (kind is None and "error" in data)


def google_kind(error: GeminiError, http_status: int | None) -> ErrorKind:
    """Status, OpenAI error type and class of a Google-shaped error: Gemini's classification,
    refined by Vertex's reasons."""
    kind = google_errors.classify_error(error, http_status)
    refined = REASONS.get(error.reason or "")
    if refined is None:
        return kind
    return ErrorKind(kind.status, kind.type, refined)
