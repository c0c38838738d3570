"""What a target receives (``GatewayRequest.for_target``): its model name, limits above its output
cap lowered (which fields, for which operation), the stream usage the edge asked for, all in one
copy of the body; and a request with nothing to change is the very same object, whose bytes are
the client's own."""

from __future__ import annotations

import orjson
import pytest

from sluicegate.exchange import Endpoint, GatewayRequest, Target


def request(endpoint: Endpoint, **fields) -> GatewayRequest:
    body = {"model": "asked", **fields}
    return GatewayRequest(endpoint, body, orjson.dumps(body), "asked", False, ())


def target(cap: int | None, model: str = "upstream-model") -> Target:
    return Target(None, model, f"p/{model}", cap)  # type: ignore[arg-type]


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
    fitted = req.for_target(target(8192))
    expected = {**req.body, **lowered, "model": "upstream-model"}
    assert fitted.body == expected
    assert orjson.loads(fitted.wire) == expected  # what a pass-through provider sends as it is
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
    assert req.for_target(target(cap)) is req  # the adapter still sees the client's own body


def test_an_unchanged_request_sends_the_clients_own_bytes():
    raw = b'{ "messages": [],\n  "model": "asked" }'  # the client's spacing and key order
    req = GatewayRequest(Endpoint.CHAT, orjson.loads(raw), raw, "asked", False)
    assert req.wire_for(target(None, model="asked")) is raw


def test_a_renamed_model_alone_is_one_copy_encoded_once():
    req = request(Endpoint.CHAT, messages=[])
    assert orjson.loads(req.wire_for(target(None))) == {"model": "upstream-model", "messages": []}
    assert req.body["model"] == "asked"


def test_model_cap_stream_usage_and_omitted_fields_make_one_copy_encoded_once():
    body = {"model": "asked", "max_tokens": 64000, "stream": True, "stream_options": {"x": 1}, "private": 1}
    req = GatewayRequest(Endpoint.CHAT, body, orjson.dumps(body), "asked", True, stream_usage=True)
    fitted = req.for_target(target(8192), omit=("private",))
    assert fitted.body == {"model": "upstream-model", "max_tokens": 8192, "stream": True,
                           "stream_options": {"x": 1, "include_usage": True}}
    assert fitted.for_target(target(8192)) is fitted  # fitting again changes nothing
    sent = fitted.wire_for(target(8192))
    assert sent is fitted.wire is fitted.wire  # the copy carries the model: encoded once, then kept
    assert orjson.loads(sent) == fitted.body
    assert req.body["max_tokens"] == 64000 and "include_usage" not in req.body["stream_options"]


def test_replace_is_a_new_request_encoded_from_its_new_body():
    req = request(Endpoint.CHAT, messages=[{"role": "user", "content": "my card is 4111"}])
    redacted = req.replace(body={**req.body, "messages": [{"role": "user", "content": "my card is [card]"}]})
    assert orjson.loads(redacted.wire) == redacted.body
    assert b"4111" in req.wire and b"4111" not in redacted.wire
    with pytest.raises(AttributeError):
        req.body = {}  # type: ignore[misc]
