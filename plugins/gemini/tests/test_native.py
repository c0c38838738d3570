"""The Gemini entrance's native pass-through, its pure parts: where a model lives, what the vendor is
sent, how a stream event is told final or an error. End to end it is driven by the google-genai
SDK in tests/test_gemini_entrance.py."""

from __future__ import annotations

import orjson
import pytest

from sluicegate.exchange import Endpoint, GatewayRequest, Target
from sluicegate_gemini import native


@pytest.mark.parametrize(
    ("model", "path", "name"),
    [
        ("gemini-2.5-flash", "/models/gemini-2.5-flash", "models/gemini-2.5-flash"),
        ("models/gemini-2.5-flash", "/models/gemini-2.5-flash", "models/gemini-2.5-flash"),
        ("tunedModels/my-tune-42", "/tunedModels/my-tune-42", "tunedModels/my-tune-42"),
        ("tunedModels/../../x", "/tunedModels/..%2F..%2Fx", "tunedModels/../../x"),
    ],
)
def test_a_model_lives_at_its_resource_path_quoted(model, path, name):
    assert native.resource_path(model) == path
    assert native.resource_name(model) == name


def request(endpoint: Endpoint, body: dict, raw: bytes | None = None) -> GatewayRequest:
    return GatewayRequest(endpoint, body, raw, "alias", False)


def target(cap: int | None = None) -> Target:
    return Target(None, "gemini-2.5-flash", "google/gemini-2.5-flash", cap)  # type: ignore[arg-type]


def test_the_clients_own_bytes_go_when_nothing_changes():
    raw = b'{"contents":[{"parts":[{"text":"hi"}]}],   "generationConfig":{"maxOutputTokens":10}}'
    req = request(Endpoint.GENERATE_CONTENT, orjson.loads(raw), raw)
    assert native.vendor_body(req, target(cap=50)) is raw
    assert native.vendor_body(req, target()) is raw


@pytest.mark.parametrize(("config_key", "limit_key"), [("generationConfig", "maxOutputTokens"),
                                                         ("generation_config", "max_output_tokens")])
def test_a_limit_above_the_cap_is_lowered_in_the_clients_spelling(config_key, limit_key):
    body = {"contents": [{"parts": [{"text": "hi"}]}], config_key: {limit_key: 4000, "temperature": 0}}
    sent = orjson.loads(native.vendor_body(request(Endpoint.GENERATE_CONTENT, body), target(cap=50)))
    assert sent[config_key] == {limit_key: 50, "temperature": 0}
    assert body[config_key][limit_key] == 4000  # the client's body is left as it was


def test_a_count_of_a_whole_request_names_the_targets_model():
    body = {"generate_content_request": {"model": "models/alias", "contents": [{"parts": [{"text": "x"}]}]}}
    sent = orjson.loads(native.vendor_body(request(Endpoint.GEMINI_COUNT_TOKENS, body), target()))
    assert sent["generate_content_request"]["model"] == "models/gemini-2.5-flash"
    contents_only = {"contents": [{"parts": [{"text": "x"}]}]}
    req = request(Endpoint.GEMINI_COUNT_TOKENS, contents_only, b"raw bytes")
    assert native.vendor_body(req, target()) == b"raw bytes"


def test_events_are_told_final_or_errors_by_their_keys_never_by_their_text():
    final = orjson.dumps({"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": "STOP"}]})
    blocked = orjson.dumps({"promptFeedback": {"blockReason": "SAFETY"}})
    chatter = orjson.dumps({"candidates": [{"content": {"parts": [{"text": 'say "finishReason" and "error"'}]}}]})
    assert native.is_final_event(final) and native.is_final_event(blocked)
    assert not native.is_final_event(chatter)
    assert native.is_error_event(orjson.dumps({"error": {"code": 500}}))
    assert not native.is_error_event(chatter)
