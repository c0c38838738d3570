"""Per-target output caps (sluicegate.output_caps): which fields are lowered, for which operation,
and that a request already within the cap is passed on as the very same object."""

from __future__ import annotations

import orjson
import pytest

from sluicegate.exchange import Endpoint, GatewayRequest
from sluicegate.output_caps import fit_to_target
from sluicegate.routing import Target


def request(endpoint: Endpoint, **fields) -> GatewayRequest:
    body = {"model": "asked", **fields}
    return GatewayRequest(endpoint, body, orjson.dumps(body), "asked", False, ())


def target(cap: int | None) -> Target:
    return Target(None, "upstream-model", "p/upstream-model", cap)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "endpoint, fields, lowered",
    [
        (Endpoint.CHAT, {"max_tokens": 64000}, {"max_tokens": 8192}),
        (Endpoint.CHAT, {"max_completion_tokens": 64000}, {"max_completion_tokens": 8192}),
        (Endpoint.CHAT, {"max_tokens": 9000, "max_completion_tokens": 100}, {"max_tokens": 8192}),
        (Endpoint.COMPLETIONS, {"max_tokens": 10000}, {"max_tokens": 8192}),
        (Endpoint.MESSAGES, {"max_tokens": 64000, "stream": True}, {"max_tokens": 8192}),
        (Endpoint.RESPONSES, {"max_output_tokens": 128000}, {"max_output_tokens": 8192}),
    ],
)
def test_a_limit_above_the_cap_is_lowered_in_body_and_bytes_with_the_targets_model(endpoint, fields, lowered):
    req = request(endpoint, **fields)
    fitted = fit_to_target(req, target(8192))
    expected = {**req.body, **lowered, "model": "upstream-model"}
    assert fitted.body == expected
    assert orjson.loads(fitted.raw) == expected  # what a pass-through provider sends as it is
    # The client's request is not changed (another target has another cap).
    assert req.body == {"model": "asked", **fields}
    assert (fitted.endpoint, fitted.model, fitted.stream) == (req.endpoint, req.model, req.stream)


@pytest.mark.parametrize(
    "endpoint, fields, cap",
    [
        (Endpoint.CHAT, {"max_tokens": 8192}, 8192),  # at the cap
        (Endpoint.CHAT, {}, 8192),  # no limit asked: the vendor's own default applies
        (Endpoint.CHAT, {"max_tokens": 64000}, None),  # no cap configured
        (Endpoint.CHAT, {"max_tokens": "64000"}, 8192),  # not an integer: the vendor judges it as sent
        (Endpoint.CHAT, {"max_tokens": True}, 1),
        (Endpoint.CHAT, {"max_output_tokens": 64000}, 8192),  # not a chat field
        (Endpoint.EMBEDDINGS, {"max_tokens": 64000}, 8192),
        (Endpoint.COUNT_TOKENS, {"max_tokens": 64000}, 8192),
    ],
)
def test_a_request_within_the_cap_is_the_same_object(endpoint, fields, cap):
    req = request(endpoint, **fields)
    assert fit_to_target(req, target(cap)) is req
