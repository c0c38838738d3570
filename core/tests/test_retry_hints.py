"""The retry-hint rule (sluicegate.retry_hints): which errors say ``x-should-retry: false``, which
say ``Retry-After``, and which leave the client's SDK to its own judgement."""

from __future__ import annotations

import pytest

from sluicegate.errors import (
    AuthenticationFailed,
    GatewayError,
    InvalidRequest,
    ModelNotFound,
    ProviderNotConfigured,
    UpstreamError,
    UpstreamUnavailable,
)
from sluicegate.retry_hints import with_retry_hints
from sluicegate.server.drain import cut_at_shutdown, refused_while_draining
from sluicegate.server.inbound import body_stalled

NO = {"x-should-retry": "false"}


def upstream(status: int, error_class: str | None = None, **kwargs) -> UpstreamError:
    return UpstreamError("vendor said no", provider="p", status=status, error_class=error_class, **kwargs)


@pytest.mark.parametrize(
    "error, expected",
    [
        # The gateway's own verdicts on the request.
        (InvalidRequest("bad"), NO),
        (AuthenticationFailed("who"), NO),
        (ModelNotFound("which"), NO),
        (GatewayError("conflict", status=409, code="already_exists"), NO),
        (GatewayError("over budget", status=429, code="budget_exceeded"), NO),
        (InvalidRequest("no such endpoint here", code="unsupported_endpoint"), NO),
        # Only an operator fixes these 5xx.
        (ProviderNotConfigured("no key"), NO),
        (GatewayError("every target", status=503, code="provider_not_configured"), NO),
        (GatewayError("every target", status=503, code="unsupported_endpoint"), NO),
        # Waiting or trying again helps: no "false".
        (body_stalled(30), {"Connection": "close"}),
        (GatewayError("limited", status=429, code="rate_limit_exceeded", retry_after=2.2,
                      headers={"Retry-After": "3"}), {"Retry-After": "3"}),
        (GatewayError("open", status=503, code="circuit_open", headers={"Retry-After": "5"}), {"Retry-After": "5"}),
        (refused_while_draining(), {"Connection": "close", "Retry-After": "1"}),
        (cut_at_shutdown(), {"Connection": "close"}),
        (GatewayError("internal", status=500), {}),
        (GatewayError("every target", status=503, code="no_target_available"), {}),
        # A vendor's errors: its verdict stands, unless an SDK would retry what cannot pass.
        (upstream(400, "invalid_request"), {}),
        (upstream(401, "authentication"), {}),
        (upstream(429, "quota"), NO),
        (upstream(502, "authentication"), NO),
        (upstream(429, "rate_limit", retryable=True, headers={"Retry-After": "7"}), {"Retry-After": "7"}),
        (upstream(503, "overloaded", retryable=True), {}),
        (upstream(502), {}),  # unclassified: a bad answer is the vendor's failure, transient
        (upstream(599, "unknown"), {}),
        (UpstreamUnavailable("refused", provider="p", retryable=True, retry_after=3.0), {}),
        # A site's own hint stands (the router's "false" after it retried for the client).
        (upstream(503, "overloaded", retryable=True, headers=dict(NO)), NO),
        (GatewayError("x", status=400, headers={"x-should-retry": "true"}), {"x-should-retry": "true"}),
    ],
)
def test_hints(error, expected):
    before = dict(error.headers)
    assert with_retry_hints(error) == expected
    assert error.headers == before  # the error itself is left as it was
