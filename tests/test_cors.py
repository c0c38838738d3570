"""CORS: preflights answered and every response (JSON, stream, error) tagged for an allowed
origin when ``[server.cors]`` is present; nothing at all when it is absent."""

from __future__ import annotations

import aiohttp
import orjson
import pytest

ORIGIN = "https://app.example"
CHAT = orjson.dumps({"model": "echo", "messages": [{"role": "user", "content": "hi there"}]})
STREAM = orjson.dumps({"model": "echo", "messages": [{"role": "user", "content": "hi there"}], "stream": True})
BASE = """
[auth]
tokens = ["tok"]
[providers.mock]
type = "mock"
[models.echo]
targets = ["mock/echo-1"]
"""
WITH_CORS = BASE + f"""
[server.cors]
allow_origins = ["{ORIGIN}"]
"""
PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type"}


def cors_headers(headers) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items() if k.lower().startswith("access-control-")}


async def call(server, method, path, *, origin=None, body=None, headers=None):
    sent = dict(headers or {})
    if origin:
        sent["Origin"] = origin
    async with aiohttp.ClientSession() as http, \
            http.request(method, server.base_url + path, data=body, headers=sent) as resp:
        return resp.status, resp.headers, await resp.read()


async def test_preflight_allowed_origin(gateway):
    server = await gateway(WITH_CORS)
    status, headers, raw = await call(server, "OPTIONS", "/v1/chat/completions", origin=ORIGIN, headers=PREFLIGHT)
    assert status == 204
    assert raw == b""
    assert cors_headers(headers) == {
        "access-control-allow-origin": ORIGIN,
        "access-control-allow-methods": "GET, POST, OPTIONS",
        "access-control-allow-headers": "authorization, content-type, x-request-id, x-api-key, "
                                        "anthropic-version, openai-organization",
        "access-control-max-age": "600",
        "access-control-expose-headers": "x-request-id",
    }
    assert headers["Vary"] == "Origin"
    assert headers["x-request-id"].startswith("req_")


async def test_preflight_other_origin_gets_no_allow_origin(gateway):
    server = await gateway(WITH_CORS)
    _, headers, _ = await call(server, "OPTIONS", "/v1/chat/completions", origin="https://evil.example",
                               headers=PREFLIGHT)
    assert "access-control-allow-origin" not in cors_headers(headers)


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status"),
    [
        pytest.param("POST", "/v1/chat/completions", CHAT, {"Authorization": "Bearer tok"}, 200, id="json"),
        pytest.param("POST", "/v1/chat/completions", STREAM, {"Authorization": "Bearer tok"}, 200, id="stream"),
        pytest.param("POST", "/v1/chat/completions", CHAT, {}, 401, id="401"),
        pytest.param("POST", "/v1/chat/completions", b"{", {"Authorization": "Bearer tok"}, 400, id="400"),
        pytest.param("GET", "/nope", None, {}, 404, id="404"),
        pytest.param("GET", "/v1/chat/completions", None, {}, 405, id="405"),
        pytest.param("GET", "/v1/models", None, {"Authorization": "Bearer tok"}, 200, id="models"),
        pytest.param("GET", "/health", None, {}, 200, id="health"),
    ],
)
async def test_responses_tagged_for_allowed_origin_only(gateway, method, path, body, headers, status):
    server = await gateway(WITH_CORS)
    got, resp_headers, raw = await call(server, method, path, origin=ORIGIN, body=body, headers=headers)
    assert got == status, raw
    assert cors_headers(resp_headers) == {
        "access-control-allow-origin": ORIGIN,
        "access-control-expose-headers": "x-request-id",
    }
    if body is STREAM:
        assert resp_headers["Content-Type"].startswith("text/event-stream")
        assert raw.endswith(b"data: [DONE]\n\n")
    got, resp_headers, _ = await call(server, method, path, origin="https://evil.example", body=body,
                                      headers=headers)
    assert got == status
    assert cors_headers(resp_headers) == {}
    got, resp_headers, _ = await call(server, method, path, body=body, headers=headers)
    assert got == status
    assert cors_headers(resp_headers) == {}


async def test_without_cors_table_options_is_405_and_no_headers(gateway):
    server = await gateway(BASE)
    status, headers, raw = await call(server, "OPTIONS", "/v1/chat/completions", origin=ORIGIN, headers=PREFLIGHT)
    assert status == 405
    assert orjson.loads(raw)["error"]["code"] == "method_not_allowed"
    assert headers["x-request-id"].startswith("req_")
    assert cors_headers(headers) == {}
    for body in (CHAT, STREAM):
        status, headers, _ = await call(server, "POST", "/v1/chat/completions", origin=ORIGIN, body=body,
                                        headers={"Authorization": "Bearer tok"})
        assert status == 200
        assert cors_headers(headers) == {}
