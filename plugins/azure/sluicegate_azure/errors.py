"""Azure OpenAI's errors read and classified: pure functions, no I/O.

Azure answers in OpenAI's error shape, with its own codes: a bare status as the code
(``{"error": {"code": "429", "message": ...}}``), ``DeploymentNotFound`` (404), and the
content filter's refusal, a 400 whose ``innererror`` says which categories were filtered::

    {"error": {"message": "The response was filtered ...", "type": null, "param": "prompt",
               "code": "content_filter", "status": 400,
               "innererror": {"code": "ResponsibleAIPolicyViolation",
                              "content_filter_result": {"hate": {"filtered": true, "severity": "high"}, ...}}}}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from attrs import frozen

from sluicegate.resilience.classify import ErrorClass

#: Azure's codes that say more than their status.
CODES: dict[str, ErrorClass] = {
    "content_filter": ErrorClass.CONTENT_FILTER,
    "ResponsibleAIPolicyViolation": ErrorClass.CONTENT_FILTER,
    "DeploymentNotFound": ErrorClass.NOT_FOUND,
}

# The OpenAI code an OpenAI client knows for a status Azure gave as its code ("401", "429").
_STATUS_CODES = {
    400: "invalid_request",
    401: "invalid_api_key",
    403: "permission_denied",
    404: "not_found",
    408: "timeout",
    429: "rate_limit_exceeded",
    500: "server_error",
    503: "service_unavailable",
}
_STATUS_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}


@frozen
class AzureError:
    """What one Azure error body says."""

    message: str
    code: str | None = None
    type: str | None = None
    param: str | None = None
    #: ``innererror.code`` (``ResponsibleAIPolicyViolation``).
    inner_code: str | None = None
    #: ``innererror.content_filter_result``: category -> verdict.
    filter_result: Mapping[str, Any] | None = None

    @property
    def content_filter(self) -> bool:
        return self.code == "content_filter" or self.inner_code == "ResponsibleAIPolicyViolation"


def read(body: bytes) -> AzureError:
    """The error in a body; one that is not Azure's shape keeps (the start of) its text."""
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return AzureError(body.decode("utf-8", "replace").strip()[:500] or "no error message")
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, str):
        return AzureError(error)
    if not isinstance(error, dict):
        return AzureError("no error message")
    inner = error.get("innererror")
    inner = inner if isinstance(inner, dict) else {}
    result = inner.get("content_filter_result")
    return AzureError(
        message=_text(error.get("message")) or "no error message",
        code=_text(error.get("code")),
        type=_text(error.get("type")),
        param=_text(error.get("param")),
        inner_code=_text(inner.get("code")),
        filter_result=result if isinstance(result, dict) else None,
    )


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value)


def error_class(error: AzureError) -> ErrorClass | None:
    """The class Azure's code or inner code names, or None (the status and OpenAI's codes decide)."""
    return CODES.get(error.inner_code or "") or CODES.get(error.code or "")


def client_code(error: AzureError, status: int) -> str:
    """The ``code`` an OpenAI client gets: Azure's own, unless it is only the status again."""
    code = error.code
    if code and not code.isdigit():
        return code
    return _STATUS_CODES.get(status, f"upstream_{status}")


def client_type(error: AzureError, status: int) -> str:
    if error.type:
        return error.type
    return _STATUS_TYPES.get(status) or ("invalid_request_error" if status < 500 else "upstream_error")


def filtered(result: Mapping[str, Any] | None) -> str:
    """The categories the content filter stopped, for a message: ``hate (high), jailbreak``.

    A category's verdict is ``{"filtered", "severity"}`` (or ``"detected"`` for jailbreak and
    protected material); custom blocklists list one verdict per list, bare or under ``details``.
    """
    found = []
    for category, verdict in (result or {}).items():
        lists = verdict.get("details") if isinstance(verdict, dict) else verdict
        if isinstance(lists, list):
            found += [
                f"{category} {item['id']}" if isinstance(item.get("id"), str) else category
                for item in lists
                if isinstance(item, dict) and item.get("filtered")
            ]
        elif isinstance(verdict, dict) and verdict.get("filtered"):
            severity = verdict.get("severity")
            found.append(f"{category} ({severity})" if isinstance(severity, str) else category)
    return ", ".join(found)


def content_filter_message(error: AzureError) -> str:
    """What a client is told of a content-filter refusal (without the provider's name)."""
    categories = filtered(error.filter_result)
    what = f" ({categories})" if categories else ""
    return f"Azure OpenAI's content filter refused the request{what}: {error.message}"
