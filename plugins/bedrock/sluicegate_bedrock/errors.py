"""Bedrock's errors read and classified: pure functions, no I/O.

Bedrock answers an error with a JSON body ``{"message": "..."}`` (some AWS front ends spell it
``Message``) and names the error's type in the ``x-amzn-ErrorType`` header
(``ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/``) or in the body's
``__type`` (``com.amazon.coral.service#UnrecognizedClientException``). Inside an event stream
the same types arrive in camel case (``throttlingException``) as exception messages.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from attrs import frozen

from sluicegate.resilience.classify import ErrorClass


@frozen
class BedrockError:
    """What one Bedrock error says."""

    #: The exception's name in Bedrock's API model (``ThrottlingException``), "" when unknown.
    type: str
    message: str


@frozen
class ErrorKind:
    """How a Bedrock error appears to a client, and what kind of failure it is."""

    status: int
    error_class: ErrorClass


# The client's status and the failure's class, per exception (lower-cased: the stream spells
# them in camel case).
_KINDS: dict[str, ErrorKind] = {
    "throttlingexception": ErrorKind(429, ErrorClass.RATE_LIMIT),
    # Bedrock sends this one as a 400, but it says "too many requests or tokens for your quota".
    "servicequotaexceededexception": ErrorKind(429, ErrorClass.RATE_LIMIT),
    # A model (an imported one, mostly) still loading: AWS's SDKs retry it as a throttle.
    "modelnotreadyexception": ErrorKind(429, ErrorClass.RATE_LIMIT),
    "validationexception": ErrorKind(400, ErrorClass.INVALID_REQUEST),
    "accessdeniedexception": ErrorKind(403, ErrorClass.PERMISSION),
    "resourcenotfoundexception": ErrorKind(404, ErrorClass.NOT_FOUND),
    # Bedrock's 408; to an HTTP client the gateway's vendor timing out is a 504.
    "modeltimeoutexception": ErrorKind(504, ErrorClass.TIMEOUT),
    "serviceunavailableexception": ErrorKind(503, ErrorClass.OVERLOADED),
    "internalserverexception": ErrorKind(500, ErrorClass.OVERLOADED),
    # The model failed (a 424 from Bedrock): the vendor's failure, retried like a 5xx.
    "modelerrorexception": ErrorKind(502, ErrorClass.OVERLOADED),
    "modelstreamerrorexception": ErrorKind(502, ErrorClass.OVERLOADED),
    # AWS's front door: the signature, the key or the session token is wrong or stale.
    "unrecognizedclientexception": ErrorKind(401, ErrorClass.AUTHENTICATION),
    "invalidsignatureexception": ErrorKind(401, ErrorClass.AUTHENTICATION),
    "signaturedoesnotmatch": ErrorKind(401, ErrorClass.AUTHENTICATION),
    "incompletesignatureexception": ErrorKind(401, ErrorClass.AUTHENTICATION),
    "missingauthenticationtokenexception": ErrorKind(401, ErrorClass.AUTHENTICATION),
    "expiredtokenexception": ErrorKind(401, ErrorClass.AUTHENTICATION),
    "invalidclienttokenid": ErrorKind(401, ErrorClass.AUTHENTICATION),
}

# ValidationException messages that mean "too long for this model" (Claude's, Nova's, Llama's).
_CONTEXT = re.compile(
    r"input is too long|too many input tokens|prompt is too long|maximum context length|"
    r"exceeds? the (?:model'?s? )?(?:maximum )?context|context window",
    re.IGNORECASE,
)
# Messages that mean a guardrail or the model's content filter refused the request.
_FILTERED = re.compile(r"content filter|guardrail|blocked by .*polic", re.IGNORECASE)

#: The OpenAI error type a client sees per status.
OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


def error_details(body: bytes, header_type: str | None = None) -> BedrockError:
    """What an error body (and its ``x-amzn-ErrorType`` header, when there is one) says."""
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        text = body.decode("utf-8", "replace").strip()
        return BedrockError(type_name(header_type), text[:500] or "no error message")
    return reported(data, header_type)


def reported(data: dict[str, Any], header_type: str | None = None) -> BedrockError:
    """A parsed error body (or an event stream's exception, whose type is in ``__type``)."""
    message = data.get("message") or data.get("Message") or "no error message"
    kind = type_name(header_type) or type_name(data.get("__type") if isinstance(data.get("__type"), str) else None)
    return BedrockError(kind, str(message))


def type_name(raw: str | None) -> str:
    """The bare exception name of an ``x-amzn-ErrorType`` or ``__type`` value."""
    if not raw:
        return ""
    return raw.split(":", 1)[0].rsplit("#", 1)[-1].strip()


def classify_error(error: BedrockError, http_status: int | None) -> ErrorKind:
    """Status and class for a Bedrock error; ``http_status`` is None inside a stream."""
    kind = _KINDS.get(error.type.lower())
    if kind is None:
        status = http_status or 500
        if status >= 500:
            kind = ErrorKind(status, ErrorClass.OVERLOADED)
        elif status == 429:
            kind = ErrorKind(429, ErrorClass.RATE_LIMIT)
        elif status == 408:
            kind = ErrorKind(504, ErrorClass.TIMEOUT)
        elif status in (401, 403) and "security token" in error.message.lower():
            kind = ErrorKind(401, ErrorClass.AUTHENTICATION)
        else:
            kind = ErrorKind(status, _CLASS_BY_STATUS.get(status, ErrorClass.INVALID_REQUEST))
    if kind.status == 400:
        if _CONTEXT.search(error.message):
            return ErrorKind(400, ErrorClass.CONTEXT_LENGTH)
        if _FILTERED.search(error.message):
            return ErrorKind(400, ErrorClass.CONTENT_FILTER)
    return kind


_CLASS_BY_STATUS = {
    401: ErrorClass.AUTHENTICATION,
    403: ErrorClass.PERMISSION,
    404: ErrorClass.NOT_FOUND,
}


def openai_type(status: int) -> str:
    return OPENAI_TYPES.get(status) or ("invalid_request_error" if status < 500 else "upstream_error")
