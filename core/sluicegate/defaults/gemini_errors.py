"""Default plugin ``sluicegate.gemini_errors``: error responses in Google's shape.

For the Gemini entrance (``/v1beta/models/{model}:generateContent`` and its kin):
``{"error": {"code", "message", "status", "details"}}``, the shape the google-genai SDK and
Gemini CLI read (``sluicegate.translate.gemini_dialect``). The wait a client should leave (a
rate limit's, a vendor's ``Retry-After``) goes in a ``RetryInfo`` detail too, where Gemini
CLI looks for it.
"""

from __future__ import annotations

from sluicegate.errors import GatewayError
from sluicegate.hookspecs import hookimpl
from sluicegate.translate.gemini_dialect import gemini_error_body


def retry_after(error: GatewayError) -> float | None:
    """Seconds the client should wait, as the error or its ``Retry-After`` header says."""
    if error.retry_after is not None:
        return error.retry_after
    header = error.headers.get("Retry-After")
    if header is not None:
        try:
            return float(header)
        except ValueError:
            return None  # an HTTP date: the header itself still tells the client
    return None


@hookimpl(trylast=True)
def gateway_error_body(error, request_id, api):
    if api != "gemini":
        return None
    wait = retry_after(error) if error.status in (429, 503) else None
    return gemini_error_body(error.message, error.status, error.code, request_id, wait)
