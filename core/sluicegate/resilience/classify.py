"""Error classes: what kind of failure an error is, and what retries, fallback and breakers may do."""

from __future__ import annotations

import enum

from attrs import define

from sluicegate.errors import (
    GatewayError,
    ProviderNotConfigured,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)


class ErrorClass(enum.StrEnum):
    """The kind of a failure, whatever vendor or dialect reported it."""

    AUTHENTICATION = "authentication"
    PERMISSION = "permission"
    NOT_FOUND = "not_found"
    INVALID_REQUEST = "invalid_request"
    CONTEXT_LENGTH = "context_length"
    CONTENT_FILTER = "content_filter"
    QUOTA = "quota"
    RATE_LIMIT = "rate_limit"
    TIMEOUT = "timeout"
    OVERLOADED = "overloaded"  # overloaded, and the vendor's other server errors
    NETWORK = "network"
    UNKNOWN = "unknown"


@define(frozen=True)
class Traits:
    """What the gateway may do after a failure of one class."""

    retryable: bool  # try the same target again (after backoff)
    fallback: bool  # may move on to the next target
    counts_for_breaker: bool  # a failure of the target, not of the client's request


TRAITS: dict[ErrorClass, Traits] = {
    # The vendor refused our key: no retry fixes that, another vendor has another key, and a
    # target with a dead key is broken until an operator acts, so the breaker should know.
    ErrorClass.AUTHENTICATION: Traits(retryable=False, fallback=True, counts_for_breaker=True),
    # Our key may not use this model or resource; another target may. Whether this key may use
    # that one model says nothing about the target's health.
    ErrorClass.PERMISSION: Traits(retryable=False, fallback=True, counts_for_breaker=False),
    # The vendor does not know the model (retired, misspelt in the config); another target
    # may serve the alias. The vendor itself is fine.
    ErrorClass.NOT_FOUND: Traits(retryable=False, fallback=True, counts_for_breaker=False),
    # The client's request is wrong; every vendor would say so, so tell the client at once.
    ErrorClass.INVALID_REQUEST: Traits(retryable=False, fallback=False, counts_for_breaker=False),
    # Too long for this model. Only a model with a larger window helps: the router tries
    # `context_fallbacks` for this class; the ordinary fallback targets are no better.
    ErrorClass.CONTEXT_LENGTH: Traits(retryable=False, fallback=False, counts_for_breaker=False),
    # The vendor's moderation refused the content; sending the same content elsewhere would
    # route around a policy decision, so the client gets the refusal.
    ErrorClass.CONTENT_FILTER: Traits(retryable=False, fallback=False, counts_for_breaker=False),
    # Our account is out of money or quota: it will not come back within a retry, but another
    # vendor bills another account, and every further call to this target fails the same way.
    ErrorClass.QUOTA: Traits(retryable=False, fallback=True, counts_for_breaker=True),
    # Transient by nature: wait (Retry-After when given), or go elsewhere meanwhile; a target
    # that keeps refusing should cool down.
    ErrorClass.RATE_LIMIT: Traits(retryable=True, fallback=True, counts_for_breaker=True),
    ErrorClass.TIMEOUT: Traits(retryable=True, fallback=True, counts_for_breaker=True),
    ErrorClass.OVERLOADED: Traits(retryable=True, fallback=True, counts_for_breaker=True),
    ErrorClass.NETWORK: Traits(retryable=True, fallback=True, counts_for_breaker=True),
    # Nothing known (also any exception that is no GatewayError: resilience/unexpected.py):
    # the same call would most likely fail the same way, another target may not; without
    # knowing whose fault it was, it does not count against the target.
    ErrorClass.UNKNOWN: Traits(retryable=False, fallback=True, counts_for_breaker=False),
}

#: Error codes that say more than their HTTP status, across vendors (the codes adapters put
#: in ``GatewayError.code``). Generic codes some vendors use for everything (DeepSeek answers
#: even a 402 with ``invalid_request_error``) are deliberately absent: the status decides those.
CODES: dict[str, ErrorClass] = {
    # OpenAI and OpenAI-compatible vendors.
    "insufficient_quota": ErrorClass.QUOTA,  # arrives as a 429, but no wait fixes it
    "billing_hard_limit_reached": ErrorClass.QUOTA,
    "billing_not_active": ErrorClass.QUOTA,
    "context_length_exceeded": ErrorClass.CONTEXT_LENGTH,
    "content_filter": ErrorClass.CONTENT_FILTER,  # Azure OpenAI
    "content_policy_violation": ErrorClass.CONTENT_FILTER,
    "data_inspection_failed": ErrorClass.CONTENT_FILTER,  # Qwen's compatible mode
    "rate_limit_exceeded": ErrorClass.RATE_LIMIT,
    "invalid_api_key": ErrorClass.AUTHENTICATION,
    "model_not_found": ErrorClass.NOT_FOUND,
    # Anthropic error types (the Anthropic adapter puts them in ``code``).
    "billing_error": ErrorClass.QUOTA,
    "overloaded_error": ErrorClass.OVERLOADED,
    "rate_limit_error": ErrorClass.RATE_LIMIT,
    "request_too_large": ErrorClass.INVALID_REQUEST,  # a byte limit, not the context window
    # DashScope codes that arrive with a status that would mislead (Arrearage is a 400).
    "Arrearage": ErrorClass.QUOTA,
    "DataInspectionFailed": ErrorClass.CONTENT_FILTER,
    "InvalidParameter.DataInspection": ErrorClass.CONTENT_FILTER,
    "InvalidApiKey": ErrorClass.AUTHENTICATION,
    "Throttling": ErrorClass.RATE_LIMIT,
    "Throttling.RateQuota": ErrorClass.RATE_LIMIT,
    "Throttling.BurstRate": ErrorClass.RATE_LIMIT,
    "Throttling.AllocationQuota": ErrorClass.RATE_LIMIT,
    # The gateway's own codes for vendors it could not reach or that did not answer in time.
    "upstream_timeout": ErrorClass.TIMEOUT,
    "upstream_unavailable": ErrorClass.NETWORK,
}

_STATUSES: dict[int, ErrorClass] = {
    400: ErrorClass.INVALID_REQUEST,
    422: ErrorClass.INVALID_REQUEST,  # DeepSeek's "Invalid Parameters"
    401: ErrorClass.AUTHENTICATION,
    402: ErrorClass.QUOTA,  # DeepSeek's "Insufficient Balance", Anthropic's billing_error
    403: ErrorClass.PERMISSION,
    404: ErrorClass.NOT_FOUND,
    408: ErrorClass.TIMEOUT,
    # A conflict with work in progress at the vendor (Anthropic documents retrying it).
    409: ErrorClass.OVERLOADED,
    # A byte limit (Anthropic's request_too_large comes from its CDN), not the context window.
    413: ErrorClass.INVALID_REQUEST,
    429: ErrorClass.RATE_LIMIT,
    504: ErrorClass.TIMEOUT,
    524: ErrorClass.TIMEOUT,  # Cloudflare, in front of several vendors: origin timed out
}


def for_status(status: int) -> ErrorClass:
    """The class an upstream HTTP status implies when nothing more specific is known."""
    known = _STATUSES.get(status)
    if known is not None:
        return known
    if 400 <= status < 500:
        return ErrorClass.INVALID_REQUEST
    if 500 <= status < 600:
        # 500, 502, 503 and Anthropic's 529 alike: the vendor failed, not the request.
        return ErrorClass.OVERLOADED
    return ErrorClass.UNKNOWN


def classify(error: BaseException) -> ErrorClass:
    """The class of a failure: the adapter's verdict, else its code, type and status."""
    if not isinstance(error, GatewayError):
        # An adapter bug or a timeout the caller imposed, not a mapped vendor error.
        if isinstance(error, TimeoutError):
            return ErrorClass.TIMEOUT
        if isinstance(error, OSError):
            return ErrorClass.NETWORK
        return ErrorClass.UNKNOWN
    if error.error_class:
        try:
            return ErrorClass(error.error_class)
        except ValueError:
            pass  # a plugin's own label: derive the class as if it had set none
    if isinstance(error, UpstreamError):
        known = CODES.get(error.code or "")
        if known is not None:
            return known
        if isinstance(error, UpstreamTimeout):
            return ErrorClass.TIMEOUT
        if isinstance(error, UpstreamUnavailable):
            return ErrorClass.NETWORK
        return for_status(error.status)
    # Errors the gateway raised itself, before or instead of a vendor call.
    if isinstance(error, ProviderNotConfigured):
        # Our key for the provider is unset: like a rejected key, another target may have one.
        return ErrorClass.AUTHENTICATION
    if error.code == "unsupported_endpoint":
        # The provider lacks the operation (embeddings at Anthropic): like a model unknown
        # there, another target may have it, and the provider is not broken.
        return ErrorClass.NOT_FOUND
    # Its verdicts on the client's request (an adapter that cannot translate it, a model name
    # it does not know) would be the same next time; codes such as invalid_api_key mean the
    # client's token here, not ours, so CODES does not apply. A 5xx of our own making says
    # nothing about the request.
    return ErrorClass.INVALID_REQUEST if 400 <= error.status < 500 else ErrorClass.UNKNOWN


def traits(error: BaseException) -> Traits:
    """The traits of an error's class."""
    return TRAITS[classify(error)]
