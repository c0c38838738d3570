"""Retry hints on error responses, decided in one place: ``x-should-retry`` and ``Retry-After``.

The official OpenAI and Anthropic SDKs (and Claude Code, Codex, the Agents SDK built on them)
retry 408, 409, 429 and every 5xx on their own, two to ten times, unless the response says
``x-should-retry: false``. For an error the gateway knows to be permanent for that request, each
of those retries is a wasted round trip (Claude Code spent two minutes on one unconfigured
provider). The rule, applied where an error response is rendered:

- A header a site set itself stands (the router says ``false`` after retrying for the client).
- Waiting helps (``retryable``, or a known wait): no ``false``; the gateway's own errors with a
  known wait carry ``Retry-After`` (rate limits, shutting down).
- The gateway's own 4xx (bad input, auth, unknown model or route, method, size, media type,
  refusals without a wait) except a 408 (a stalled body may arrive next time): ``false``.
- The gateway's own 5xx that only an operator can fix (``provider_not_configured``,
  ``unsupported_endpoint`` on every target): ``false``.
- A vendor's error keeps the vendor's verdict, except that a status an SDK would retry gets
  ``false`` when its class says no retry helps (an exhausted quota, a key the vendor refused).
"""

from __future__ import annotations

import math

from sluicegate.errors import GatewayError, UpstreamError
from sluicegate.resilience.classify import TRAITS, ErrorClass, classify

#: Codes of the gateway's own 5xx errors that the same request would meet again.
PERMANENT_CODES = frozenset({"provider_not_configured", "unsupported_endpoint"})
#: Statuses the SDKs retry unless told otherwise.
SDK_RETRIED = frozenset({408, 409, 429})


def with_retry_hints(error: GatewayError) -> dict[str, str]:
    """The headers of ``error``'s response: its own, plus the hints it lacks."""
    headers = error.headers
    hints: dict[str, str] = {}
    if "Retry-After" not in headers and error.retry_after is not None and not isinstance(error, UpstreamError):
        hints["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
    if "x-should-retry" not in headers and not hints and _permanent(error):
        hints["x-should-retry"] = "false"
    return {**headers, **hints} if hints else headers


def _permanent(error: GatewayError) -> bool:
    if error.retryable or "Retry-After" in error.headers:
        return False
    status = error.status
    if isinstance(error, UpstreamError):
        if status not in SDK_RETRIED and status < 500:
            return False  # no SDK retries it anyway: the vendor's answer is passed on as it was
        error_class = classify(error)
        return error_class is not ErrorClass.UNKNOWN and not TRAITS[error_class].retryable
    if 400 <= status < 500:
        return status != 408
    return error.code in PERMANENT_CODES
