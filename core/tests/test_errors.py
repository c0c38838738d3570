"""Error hierarchy, OpenAI error body, vendor error mapping and upstream header filtering."""

from __future__ import annotations

import orjson
import pytest
from multidict import CIMultiDict

from sluicegate.defaults.openai_errors import openai_error_body
from sluicegate.errors import (
    AuthenticationFailed,
    ConfigError,
    GatewayError,
    InvalidRequest,
    ModelNotFound,
    PayloadTooLarge,
    ProviderNotConfigured,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from sluicegate.upstream import error_message_from_body, forwardable_headers

KEY = "sk-proj-A1b2C3d4E5f6G7h8I9j0KLMNOP"


@pytest.fixture
def provider(build):
    text = '[providers.up]\ntype = "openai"\nbase_url = "http://127.0.0.1:9/v1"\napi_key = "${K}"\n'
    return build(text, env={"K": KEY}).providers["up"]


@pytest.mark.parametrize(
    ("cls", "status", "type_", "code"),
    [
        (InvalidRequest, 400, "invalid_request_error", "invalid_request"),
        (AuthenticationFailed, 401, "authentication_error", "invalid_api_key"),
        (ModelNotFound, 404, "invalid_request_error", "model_not_found"),
        (PayloadTooLarge, 413, "invalid_request_error", "request_too_large"),
        (ProviderNotConfigured, 503, "server_error", "provider_not_configured"),
        (GatewayError, 500, "server_error", "internal_error"),
    ],
)
def test_error_classes_carry_status_type_and_code(cls, status, type_, code):
    error = cls("msg")
    assert (error.status, error.type, error.code, error.retryable, error.headers) == (status, type_, code, False, {})


@pytest.mark.parametrize(
    ("cls", "status", "code"),
    [(UpstreamError, 502, "upstream_error"), (UpstreamUnavailable, 502, "upstream_unavailable"),
     (UpstreamTimeout, 504, "upstream_timeout")],
)
def test_upstream_errors_remember_provider(cls, status, code):
    error = cls("m", provider="p", retryable=True)
    assert (error.status, error.code, error.provider, error.retryable) == (status, code, "p", True)


def test_error_overrides_including_explicit_none_code():
    error = GatewayError("m", status=418, type="teapot", code=None, param="x", headers={"A": "b"})
    assert (error.status, error.type, error.code, error.param, error.headers) == (418, "teapot", None, "x", {"A": "b"})
    assert repr(error) == "GatewayError(418, None, 'm')"


def test_openai_error_body_shape():
    error = InvalidRequest("bad thing", param="messages")
    assert openai_error_body(error, "req-1") == {
        "error": {"message": "bad thing", "type": "invalid_request_error", "param": "messages", "code": "invalid_request"}
    }


def test_assembly_error_body_uses_default_plugin_shape(build):
    assembly = build('[providers.m]\ntype = "mock"\n')
    body = assembly.error_body(ModelNotFound("no such model", param="model"), "rid")
    assert body == openai_error_body(ModelNotFound("no such model", param="model"))


@pytest.mark.parametrize(("plugin", "api"), [("sluicegate.openai_errors", "openai"),
                                             ("sluicegate.anthropic_errors", "anthropic")])
def test_disabling_a_default_error_body_plugin_with_nothing_in_its_place_is_a_config_problem(build, plugin, api):
    # The default plugins are the only shapes there are: no hidden fallback answers instead.
    with pytest.raises(ConfigError) as caught:
        build(f'[plugins]\ndisabled = ["{plugin}"]\n[providers.m]\ntype = "mock"\n')
    [problem] = caught.value.problems
    assert problem.path == "plugins.disabled"
    assert f"no plugin shapes the error bodies of the {api} API ({plugin} is disabled" in problem.message


def test_a_plugin_in_place_of_a_disabled_default_error_body_plugin_is_the_shape(build):
    import types

    from sluicegate import hookimpl

    def gateway_error_body(error, request_id, api):
        return {"oops": error.message} if api == "openai" else None

    mine = types.SimpleNamespace(gateway_error_body=hookimpl(gateway_error_body))
    assembly = build('[plugins]\ndisabled = ["sluicegate.openai_errors"]\n[providers.m]\ntype = "mock"\n',
                     extra_plugins=[("mine", mine)])
    assert assembly.error_body(InvalidRequest("x"), "rid") == {"oops": "x"}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b'{"error": {"message": "Rate limit", "type": "requests", "code": "rate_limit_exceeded"}}',
            ("Rate limit", "rate_limit_exceeded", "requests"),
        ),
        (b'{"object": "error", "message": "flat msg", "code": 400}', ("flat msg", "400", None)),
        (b'{"error": {"msg": "short key"}}', ("short key", None, None)),
        (b'{"error": "plain string error"}', ("plain string error", None, None)),
        (b"  Bad Gateway\n", ("Bad Gateway", None, None)),
        (b"<html>502</html>", ("<html>502</html>", None, None)),
        (b"", ("no error message", None, None)),
        (b"[1, 2]", ("no error message", None, None)),
        (b'{"error": {}}', ("no error message", None, None)),
        (b"\xff\xfe oops", ("\ufffd\ufffd oops", None, None)),
    ],
)
def test_error_message_from_body_shapes(body, expected):
    assert error_message_from_body(body) == expected


def test_error_message_from_long_text_body_is_truncated():
    message, _, _ = error_message_from_body(b"e" * 2000)
    assert message == "e" * 500


def test_map_error_keeps_status_type_and_code(provider):
    body = b'{"error": {"message": "Invalid model", "type": "invalid_request_error", "code": "model_not_found"}}'
    error = provider.map_error(404, body, CIMultiDict())
    assert isinstance(error, UpstreamError)
    assert (error.status, error.type, error.code, error.provider, error.retryable) == (
        404,
        "invalid_request_error",
        "model_not_found",
        "up",
        False,
    )
    assert error.message == "provider 'up' returned HTTP 404: Invalid model"


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(400, False), (401, False), (403, False), (404, False), (422, False),
     (408, True), (409, True), (429, True), (500, True), (502, True), (503, True), (504, True)],
)
def test_map_error_retryable_statuses(provider, status, retryable):
    assert provider.map_error(status, b"oops", CIMultiDict()).retryable is retryable


@pytest.mark.parametrize(("status", "type_"), [(400, "invalid_request_error"), (503, "upstream_error")])
def test_map_error_default_type_and_code(provider, status, type_):
    error = provider.map_error(status, b"oops", CIMultiDict())
    assert (error.type, error.code) == (type_, f"upstream_{status}")


def test_map_error_passes_retry_after_on_429(provider):
    error = provider.map_error(429, b'{"error": {"message": "slow down"}}', CIMultiDict({"Retry-After": "17"}))
    assert error.headers == {"Retry-After": "17"}
    assert error.status == 429


def test_map_error_never_includes_the_api_key(provider):
    echoes = [
        f"Incorrect API key provided: {KEY}.",
        f"Incorrect API key provided: {KEY[:8]}**********************{KEY[-4:]}. You can find your key",
        f"bad header Authorization: Bearer {KEY}",
    ]
    for echo in echoes:
        body = orjson.dumps({"error": {"message": echo, "type": "invalid_request_error", "code": "invalid_api_key"}})
        error = provider.map_error(401, body, CIMultiDict())
        assert KEY not in error.message
        assert KEY[:8] not in error.message and KEY[-4:] not in error.message
        assert "***" in error.message
        assert error.message.startswith("provider 'up' returned HTTP 401: ")


def test_forwardable_headers_drops_credentials_hop_by_hop_and_computed_ones():
    headers = CIMultiDict(
        [
            ("Authorization", "Bearer client-token"),
            ("X-Api-Key", "client-key"),
            ("Api-Key", "client-key"),
            ("Cookie", "session=1"),
            ("Host", "gateway.local"),
            ("Content-Length", "12"),
            ("Content-Type", "application/json"),
            ("Connection", "keep-alive, X-Hop-Trace"),
            ("Keep-Alive", "timeout=5"),
            ("Transfer-Encoding", "chunked"),
            ("TE", "trailers"),
            ("Upgrade", "h2c"),
            ("Proxy-Authorization", "Basic abc"),
            ("X-Hop-Trace", "drop-me"),
            ("User-Agent", "OpenAI/Python 1.0"),
            ("X-Custom", "one"),
            ("x-custom", "two"),
            ("OpenAI-Beta", "assistants=v2"),
            ("Accept", "application/json"),
        ]
    )
    assert forwardable_headers(headers) == [
        ("User-Agent", "OpenAI/Python 1.0"),
        ("X-Custom", "one"),
        ("x-custom", "two"),
        ("OpenAI-Beta", "assistants=v2"),
        ("Accept", "application/json"),
    ]


def test_forwardable_headers_honours_every_connection_header_field():
    # RFC 9110 §5.3/§7.6.1: Connection may be sent as several field lines; all name hop-by-hop headers.
    headers = CIMultiDict(
        [("Connection", "X-First"), ("Connection", "X-Second"), ("X-First", "1"), ("X-Second", "2"), ("X-Keep", "3")]
    )
    assert forwardable_headers(headers) == [("X-Keep", "3")]


def test_forwardable_headers_without_connection_keeps_ordinary_headers():
    assert forwardable_headers(CIMultiDict([("X-A", "1")])) == [("X-A", "1")]
