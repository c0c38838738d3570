"""Error classes, their traits, how errors are classified, and Retry-After parsing."""

from __future__ import annotations

import email.utils

import pytest
from multidict import CIMultiDict

from sluicegate.errors import (
    AuthenticationFailed,
    GatewayError,
    InvalidRequest,
    ModelNotFound,
    ProviderNotConfigured,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from sluicegate.resilience.classify import CODES, TRAITS, ErrorClass, Traits, classify, for_status, traits
from sluicegate.resilience.retry_after import go_duration, retry_after_seconds

E = ErrorClass
NOW = 1_700_000_000.0


def upstream(status: int = 500, code: str | None = None, **kwargs) -> UpstreamError:
    return UpstreamError("m", provider="p", status=status, code=code, **kwargs)


# -- traits -----------------------------------------------------------------------------------


# (retryable, fallback, counts_for_breaker): the table the README prints.
EXPECTED_TRAITS = {
    E.AUTHENTICATION: (False, True, True),
    E.PERMISSION: (False, True, False),
    E.NOT_FOUND: (False, True, False),
    E.INVALID_REQUEST: (False, False, False),
    E.CONTEXT_LENGTH: (False, False, False),
    E.CONTENT_FILTER: (False, False, False),
    E.QUOTA: (False, True, True),
    E.RATE_LIMIT: (True, True, True),
    E.TIMEOUT: (True, True, True),
    E.OVERLOADED: (True, True, True),
    E.NETWORK: (True, True, True),
    E.UNKNOWN: (False, True, False),
}


def test_every_class_has_traits_and_only_those():
    assert set(TRAITS) == set(ErrorClass) == set(EXPECTED_TRAITS)


@pytest.mark.parametrize("error_class", list(ErrorClass))
def test_traits_table(error_class):
    assert TRAITS[error_class] == Traits(*EXPECTED_TRAITS[error_class])


def test_classes_are_their_string_values():
    assert ErrorClass("rate_limit") is E.RATE_LIMIT
    assert f"{E.CONTEXT_LENGTH}" == "context_length"


def test_every_code_names_a_class():
    assert all(isinstance(value, ErrorClass) for value in CODES.values())
    # Generic codes would override the status that tells the truth (DeepSeek's 402).
    assert "invalid_request_error" not in CODES


# -- precedence -------------------------------------------------------------------------------


def test_the_adapters_class_wins_over_code_type_and_status():
    error = UpstreamTimeout("m", provider="p", code="insufficient_quota", error_class="content_filter")
    assert classify(error) is E.CONTENT_FILTER


def test_an_unknown_class_label_is_ignored():
    assert classify(upstream(429, error_class="plugin_specific")) is E.RATE_LIMIT


def test_code_wins_over_type_and_status():
    assert classify(upstream(429, "insufficient_quota")) is E.QUOTA
    assert classify(upstream(400, "Arrearage")) is E.QUOTA
    assert classify(upstream(400, "context_length_exceeded")) is E.CONTEXT_LENGTH
    assert classify(UpstreamTimeout("m", provider="p", code="rate_limit_exceeded")) is E.RATE_LIMIT


def test_type_wins_over_status():
    assert classify(UpstreamTimeout("m", provider="p", status=500, code="x")) is E.TIMEOUT
    assert classify(UpstreamUnavailable("m", provider="p", status=503, code="x")) is E.NETWORK


def test_default_gateway_codes():
    assert classify(UpstreamTimeout("m", provider="p")) is E.TIMEOUT
    assert classify(UpstreamUnavailable("m", provider="p")) is E.NETWORK


def test_generic_codes_leave_it_to_the_status():
    # DeepSeek: {"message": "Insufficient Balance", "type": "unknown_error", "code": "invalid_request_error"}
    assert classify(upstream(402, "invalid_request_error")) is E.QUOTA
    assert classify(upstream(503, "invalid_request_error")) is E.OVERLOADED


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, E.INVALID_REQUEST), (422, E.INVALID_REQUEST), (401, E.AUTHENTICATION), (402, E.QUOTA),
        (403, E.PERMISSION), (404, E.NOT_FOUND), (408, E.TIMEOUT), (409, E.OVERLOADED),
        (413, E.INVALID_REQUEST), (418, E.INVALID_REQUEST), (429, E.RATE_LIMIT),
        (500, E.OVERLOADED), (502, E.OVERLOADED), (503, E.OVERLOADED), (529, E.OVERLOADED),
        (504, E.TIMEOUT), (524, E.TIMEOUT), (599, E.OVERLOADED), (200, E.UNKNOWN), (302, E.UNKNOWN),
    ],
)
def test_status_classes(status, expected):
    assert for_status(status) is expected
    assert classify(upstream(status)) is expected


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ProviderNotConfigured("no key"), E.AUTHENTICATION),
        (InvalidRequest("no /v1/embeddings here", code="unsupported_endpoint"), E.NOT_FOUND),
        (InvalidRequest("n must be 1"), E.INVALID_REQUEST),
        (ModelNotFound("no such model"), E.INVALID_REQUEST),
        # The client's token, not our key: nothing another target could change.
        (AuthenticationFailed("bad token"), E.INVALID_REQUEST),
        (GatewayError("bug"), E.UNKNOWN),
    ],
)
def test_gateway_side_errors(error, expected):
    assert classify(error) is expected


@pytest.mark.parametrize(
    ("error", "expected"),
    [(TimeoutError(), E.TIMEOUT), (ConnectionResetError(), E.NETWORK), (KeyError("x"), E.UNKNOWN)],
)
def test_exceptions_that_are_not_gateway_errors(error, expected):
    assert classify(error) is expected


def test_traits_of_an_error():
    assert traits(upstream(429)) == Traits(True, True, True)
    assert traits(upstream(400, "content_filter")) == Traits(False, False, False)


# -- Retry-After ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": " 2.5 "}, 2.5),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"Retry-After-Ms": "20.5"}, 0.0205),
        # The millisecond header is the more precise one.
        ({"retry-after": "2", "retry-after-ms": "1234"}, 1.234),
        # ... unless it does not parse.
        ({"retry-after": "2", "retry-after-ms": "soon"}, 2.0),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after-ms": "-50"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after": ""}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after": "1e3"}, None),
        ({}, None),
    ],
)
def test_retry_after_values(headers, expected):
    got = retry_after_seconds(headers, NOW)
    assert got == (None if expected is None else pytest.approx(expected))


def test_retry_after_http_date_is_relative_to_now():
    future = email.utils.formatdate(NOW + 30, usegmt=True)
    assert retry_after_seconds({"retry-after": future}, NOW) == pytest.approx(30.0)
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 1445412470.0) == 10.0
    # "-0000" (no zone information) is read as GMT, as HTTP dates always are.
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 -0000"}, 1445412470.0) == 10.0


def test_retry_after_http_date_in_the_past_is_zero():
    past = email.utils.formatdate(NOW - 30, usegmt=True)
    assert retry_after_seconds({"retry-after": past}, NOW) == 0.0


def test_retry_after_accepts_a_multidict():
    assert retry_after_seconds(CIMultiDict({"Retry-After": "4"}), NOW) == 4.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0), ("6m0s", 360.0), ("20ms", 0.02), ("1h2m3.5s", 3723.5), ("2m59.56s", 179.56),
        ("500us", 0.0005), ("500µs", 0.0005), ("7ns", 7e-9), ("0", 0.0), (".5s", 0.5), ("-1s", 0.0),
        ("", None), ("1", None), ("s", None), ("1x", None), ("1s 2s", None), ("1s2", None), ("abc", None),
        ("1.2.3s", None), (None, None),
    ],
)
def test_go_durations(text, seconds):
    got = go_duration(text)
    assert got == (None if seconds is None else pytest.approx(seconds))


def test_openai_reset_headers_count_only_for_a_429_and_the_later_wins():
    headers = {"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "6m0s"}
    assert retry_after_seconds(headers, NOW, status=429) == 360.0
    # OpenAI sends them on every answer; on anything but a 429 they ask for no wait.
    assert retry_after_seconds(headers, NOW, status=500) is None
    assert retry_after_seconds(headers, NOW) is None


def test_openai_reset_headers_one_missing_or_garbled():
    assert retry_after_seconds({"x-ratelimit-reset-tokens": "20ms"}, NOW, status=429) == pytest.approx(0.02)
    headers = {"x-ratelimit-reset-requests": "later", "x-ratelimit-reset-tokens": "2s"}
    assert retry_after_seconds(headers, NOW, status=429) == 2.0
    assert retry_after_seconds({"x-ratelimit-reset-requests": "later"}, NOW, status=429) is None


def test_retry_after_beats_the_reset_headers():
    headers = {"retry-after": "3", "x-ratelimit-reset-tokens": "6m0s"}
    assert retry_after_seconds(headers, NOW, status=429) == 3.0
    headers = {"retry-after": "garbage", "x-ratelimit-reset-tokens": "6m0s"}
    assert retry_after_seconds(headers, NOW, status=429) == 360.0
