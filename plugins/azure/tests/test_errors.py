"""Azure's error bodies (recorded from Azure's documented examples in fixtures/) read and mapped:
the class each one is to the router, and the status, code, message and Retry-After an OpenAI
client gets. No network: ``map_error`` is called as the HTTP plumbing calls it."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluicegate.resilience.classify import TRAITS, ErrorClass
from sluicegate.secrets import Secret
from sluicegate.services import Services
from sluicegate_azure import AzureOptions, AzureProvider, errors

FIXTURES = Path(__file__).parent / "fixtures"
KEY = "azure-key-for-error-tests-31"
NOW = 1_800_000_000.0


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture
def provider() -> AzureProvider:
    options = AzureOptions(type="azure", base_url="https://res.openai.azure.com", api_key=None)
    return AzureProvider("az", options, Services(http=None, config=None, wall_clock=lambda: NOW))


def test_a_content_filter_body_names_what_was_filtered():
    error = errors.read(body("content_filter_hate.json"))
    assert error.content_filter
    assert (error.code, error.inner_code, error.param, error.type) == (
        "content_filter", "ResponsibleAIPolicyViolation", "prompt", None)
    assert errors.filtered(error.filter_result) == "hate (high), violence (medium)"
    jailbreak = errors.read(body("content_filter_jailbreak_blocklist.json"))
    assert errors.filtered(jailbreak.filter_result) == "custom_blocklists competitor-names, jailbreak"
    assert errors.filtered(None) == ""


@pytest.mark.parametrize(
    ("fixture", "status", "headers", "expected"),
    [
        ("content_filter_hate.json", 400, {},
         (400, "content_filter", ErrorClass.CONTENT_FILTER, None,
          "Azure OpenAI's content filter refused the request (hate (high), violence (medium)): The response was "
          "filtered")),
        ("content_filter_jailbreak_blocklist.json", 400, {},
         (400, "content_filter", ErrorClass.CONTENT_FILTER, None,
          "content filter refused the request (custom_blocklists competitor-names, jailbreak)")),
        ("deployment_not_found.json", 404, {},
         (404, "DeploymentNotFound", ErrorClass.NOT_FOUND, None,
          "does not exist. If you created the deployment within the last 5 minutes")),
        ("bad_key.json", 401, {}, (401, "invalid_api_key", ErrorClass.AUTHENTICATION, None, "Access denied")),
        ("rate_limited.json", 429, {"retry-after": "6", "retry-after-ms": "5400"},
         (429, "rate_limit_exceeded", ErrorClass.RATE_LIMIT, "6", "exceeded token rate limit")),
        ("rate_limited.json", 429, {"Retry-After-Ms": "250"},
         (429, "rate_limit_exceeded", ErrorClass.RATE_LIMIT, "1", "exceeded token rate limit")),
        ("rate_limited.json", 429, {}, (429, "rate_limit_exceeded", ErrorClass.RATE_LIMIT, None, "Please retry")),
        ("server_busy.json", 503, {"retry-after": "3"},
         (503, "ServiceUnavailable", ErrorClass.OVERLOADED, "3", "temporarily unable")),
        ("context_length.json", 400, {},
         (400, "context_length_exceeded", ErrorClass.CONTEXT_LENGTH, None, "maximum context length")),
    ],
)
def test_each_azure_error_maps_to_its_class_status_and_wait(provider, fixture, status, headers, expected):
    error = provider.map_error(status, body(fixture), headers)
    want_status, code, error_class, retry_after, fragment = expected
    assert (error.status, error.code, error.error_class) == (want_status, code, error_class)
    assert error.retryable is TRAITS[error_class].retryable
    assert error.headers.get("Retry-After") == retry_after
    assert fragment in error.message
    assert error.message.startswith(f"provider 'az' returned HTTP {status}: ")


def test_the_wait_azure_asks_is_kept_in_milliseconds_for_the_gateway(provider):
    error = provider.map_error(429, body("rate_limited.json"), {"retry-after": "6", "retry-after-ms": "5400"})
    assert error.retry_after == 5.4
    # A wait on a status that no wait fixes is not passed on.
    refused = provider.map_error(400, body("content_filter_hate.json"), {"retry-after-ms": "100"})
    assert refused.retry_after is None and "Retry-After" not in refused.headers


def test_a_body_that_is_not_azures_keeps_its_text_and_status(provider):
    error = provider.map_error(502, b"<html><body>Bad Gateway</body></html>", {})
    assert (error.status, error.code, error.error_class) == (502, "upstream_502", ErrorClass.OVERLOADED)
    assert "Bad Gateway" in error.message


def test_secrets_azure_echoes_are_scrubbed():
    options = AzureOptions(type="azure", base_url="https://res.openai.azure.com", api_key=Secret(KEY))
    provider = AzureProvider("az", options, Services(http=None, config=None))
    echoed = b'{"error":{"code":"401","message":"Access denied for key ' + KEY.encode() + b'."}}'
    assert KEY not in provider.map_error(401, echoed, {}).message


def test_an_error_inside_a_stream_is_classed_by_azures_code(provider):
    assert provider.vendor_error_class(None, "content_filter", None, "filtered") is ErrorClass.CONTENT_FILTER
    assert provider.vendor_error_class(None, "DeploymentNotFound", None, "gone") is ErrorClass.NOT_FOUND
    assert provider.vendor_error_class(None, None, "server_error", "boom") is ErrorClass.OVERLOADED
