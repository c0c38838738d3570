"""The front door through the real HTTP server: bad input, auth, size limits, unknown routes.

Every refusal must be OpenAI-shaped, carry ``x-request-id``, never echo a token, and never
reach the upstream.
"""

from __future__ import annotations

import gzip
import re
import zlib

import aiohttp
import openai
import orjson
import pytest

from sluicegate.testing import openai_chat_completion

TOKENS = ("tok-alpha-1234567890", "tok-beta-0987654321")
UPSTREAM_KEY = "sk-upstream-secret-abcdef"
REQUEST_ID = re.compile(r"^req_[0-9a-f]{24}$")
GOOD_CHAT = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
AUTH = {"Authorization": f"Bearer {TOKENS[0]}"}


def config(upstream_url: str) -> str:
    return f"""
[server]
max_body_mb = 0.001

[auth]
tokens = ["{TOKENS[0]}", "${{SECOND_TOKEN}}"]

[providers.up]
type = "openai"
base_url = "{upstream_url}/v1"
api_key = "${{UP_KEY}}"

[models.chat]
targets = ["up/gpt-4o-mini"]
"""


@pytest.fixture
async def front(gateway, fake_upstream):
    fake_upstream.json("/v1/chat/completions", openai_chat_completion("fine"))
    server = await gateway(config(fake_upstream.url), env={"UP_KEY": UPSTREAM_KEY, "SECOND_TOKEN": TOKENS[1]})
    async with aiohttp.ClientSession() as http:
        yield server, fake_upstream, http


def assert_error(status: int, headers, raw: bytes, *, want_status: int, code: str | None,
                 message: str | None = None, param: str | None = None, type_: str = "invalid_request_error"):
    """Exactly the OpenAI error shape, the right status, a request id, no secrets."""
    assert status == want_status, raw
    assert headers["Content-Type"].startswith("application/json")
    assert REQUEST_ID.match(headers["x-request-id"]), headers.get("x-request-id")
    body = orjson.loads(raw)
    assert list(body) == ["error"]
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == type_
    assert error["code"] == code
    assert error["param"] == param
    assert isinstance(error["message"], str) and error["message"]
    if message is not None:
        assert error["message"] == message
    for secret in (*TOKENS, UPSTREAM_KEY):
        assert secret.encode() not in raw
    return error


async def post(http, url, data, headers=AUTH):
    async with http.post(url, data=data, headers=headers) as resp:
        return resp.status, resp.headers, await resp.read()


def dumps(obj) -> bytes:
    return orjson.dumps(obj)


MSG = [{"role": "user", "content": "hi"}]

# (path, body bytes, code, param, exact message or None)
BAD_BODIES = [
    pytest.param("chat/completions", b"", "invalid_json", None,
                 "The request body is empty; expected a JSON object.", id="empty"),
    pytest.param("chat/completions", b'{"model": "chat",', "invalid_json", None, None, id="invalid-json"),
    pytest.param("chat/completions", b'{"model": "\xff\xfe"}', "invalid_encoding", None,
                 "The request body is not valid UTF-8 (byte 11).", id="invalid-utf8"),
    pytest.param("chat/completions", b"[1, 2]", "invalid_json", None,
                 "The request body must be a JSON object, not an array.", id="array"),
    pytest.param("chat/completions", b'"hello"', "invalid_json", None,
                 "The request body must be a JSON object, not a string.", id="string"),
    pytest.param("chat/completions", b"42", "invalid_json", None,
                 "The request body must be a JSON object, not a number.", id="number"),
    pytest.param("chat/completions", b"null", "invalid_json", None,
                 "The request body must be a JSON object, not null.", id="null"),
    pytest.param("chat/completions", dumps({"messages": MSG}), "missing_required_parameter", "model",
                 "you must provide a model parameter", id="missing-model"),
    pytest.param("chat/completions", dumps({"model": 7, "messages": MSG}), "invalid_type", "model",
                 "'model' must be a non-empty string", id="model-number"),
    pytest.param("chat/completions", dumps({"model": "", "messages": MSG}), "invalid_type", "model",
                 "'model' must be a non-empty string", id="model-empty"),
    pytest.param("chat/completions", dumps({"model": "chat"}), "missing_required_parameter", "messages",
                 "Missing required parameter: 'messages'.", id="missing-messages"),
    pytest.param("chat/completions", dumps({"model": "chat", "messages": []}), "invalid_value", "messages",
                 "'messages' must contain at least one message", id="empty-messages"),
    pytest.param("chat/completions", dumps({"model": "chat", "messages": "hi"}), "invalid_type", "messages",
                 "'messages' must be an array of message objects", id="messages-string"),
    pytest.param("chat/completions", dumps({"model": "chat", "messages": ["hi"]}), "invalid_type",
                 "messages[0]", "'messages[0]' must be an object", id="message-not-object"),
    pytest.param("chat/completions", dumps({"model": "chat", "messages": [*MSG, {"content": "x"}]}),
                 "missing_required_parameter", "messages[1].role", "'messages[1].role' must be a string",
                 id="message-without-role"),
    pytest.param("chat/completions", dumps({"model": "chat", "messages": [{"role": 1}]}), "invalid_type",
                 "messages[0].role", "'messages[0].role' must be a string", id="role-number"),
    pytest.param("chat/completions", dumps({**GOOD_CHAT, "stream": "yes"}), "invalid_type", "stream",
                 "'stream' must be a boolean", id="stream-string"),
    pytest.param("chat/completions", dumps({**GOOD_CHAT, "stream": 1}), "invalid_type", "stream",
                 "'stream' must be a boolean", id="stream-int"),
    pytest.param("completions", dumps({"model": "chat"}), "missing_required_parameter", "prompt",
                 "Missing required parameter: 'prompt'.", id="completions-without-prompt"),
    pytest.param("completions", dumps({"model": "chat", "prompt": 3}), "invalid_type", "prompt",
                 "'prompt' must be a string or an array", id="completions-prompt-number"),
    pytest.param("embeddings", dumps({"model": "chat"}), "missing_required_parameter", "input",
                 "Missing required parameter: 'input'.", id="embeddings-without-input"),
    pytest.param("embeddings", dumps({"model": "chat", "input": {"a": 1}}), "invalid_type", "input",
                 "'input' must be a string or an array", id="embeddings-input-object"),
    pytest.param("moderations", dumps({"model": "chat"}), "missing_required_parameter", "input",
                 "Missing required parameter: 'input'.", id="moderations-without-input"),
]


@pytest.mark.parametrize(("path", "body", "code", "param", "message"), BAD_BODIES)
async def test_bad_body_is_400_and_never_reaches_upstream(front, path, body, code, param, message):
    server, upstream, http = front
    status, headers, raw = await post(http, f"{server.base_url}/v1/{path}", body)
    error = assert_error(status, headers, raw, want_status=400, code=code, param=param, message=message)
    if code == "invalid_json" and message is None:
        assert error["message"].startswith("The request body is not valid JSON")
    assert upstream.requests == []


async def test_unknown_model_is_404_with_suggestion(front):
    server, upstream, http = front
    status, headers, raw = await post(http, f"{server.base_url}/v1/chat/completions",
                                      dumps({"model": "chatt", "messages": MSG}))
    assert_error(status, headers, raw, want_status=404, code="model_not_found", param="model",
                 message="The model 'chatt' does not exist on this gateway (did you mean \"chat\"?). "
                 "Use an alias from GET /v1/models or 'provider/model' with a configured provider.")
    status, headers, raw = await post(http, f"{server.base_url}/v1/embeddings",
                                      dumps({"model": "nobody/x", "input": "a"}))
    assert_error(status, headers, raw, want_status=404, code="model_not_found", param="model")
    assert upstream.requests == []


@pytest.mark.parametrize(
    ("headers", "code", "message"),
    [
        pytest.param({}, "missing_api_key",
                     "Missing API key. Send 'Authorization: Bearer <token>' with a token from [auth] tokens.",
                     id="no-token"),
        pytest.param({"Authorization": "Bearer tok-alpha-WRONG"}, "invalid_api_key",
                     "Invalid API key provided.", id="bad-bearer"),
        pytest.param({"x-api-key": "tok-alpha-WRONG"}, "invalid_api_key",
                     "Invalid API key provided.", id="bad-x-api-key"),
        pytest.param({"Authorization": f"Bearer {TOKENS[0]}x"}, "invalid_api_key",
                     "Invalid API key provided.", id="token-prefix"),
        pytest.param({"Authorization": "Bearer "}, "missing_api_key", None, id="empty-bearer"),
    ],
)
async def test_auth_refused_is_401(front, headers, code, message):
    server, upstream, http = front
    # Auth is checked before the body: even garbage gets a 401, not a 400.
    for body in (dumps(GOOD_CHAT), b"not json"):
        status, resp_headers, raw = await post(http, f"{server.base_url}/v1/chat/completions", body, headers)
        assert_error(status, resp_headers, raw, want_status=401, code=code, message=message,
                     type_="authentication_error")
        assert b"tok-alpha-WRONG" not in raw
    async with http.get(f"{server.base_url}/v1/models", headers=headers) as resp:
        assert_error(resp.status, resp.headers, await resp.read(), want_status=401, code=code,
                     type_="authentication_error")
    assert upstream.requests == []


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Authorization": f"Bearer {TOKENS[0]}"}, id="bearer"),
        pytest.param({"Authorization": f"bearer {TOKENS[1]}"}, id="bearer-lowercase-second-token"),
        pytest.param({"x-api-key": TOKENS[0]}, id="x-api-key"),
    ],
)
async def test_good_token_accepted_and_never_forwarded(front, headers):
    server, upstream, http = front
    status, _, raw = await post(http, f"{server.base_url}/v1/chat/completions", dumps(GOOD_CHAT), headers)
    assert status == 200, raw
    assert orjson.loads(raw)["choices"][0]["message"]["content"] == "fine"
    (sent,) = upstream.requests
    assert sent.headers["Authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert "x-api-key" not in {name.lower() for name in sent.headers}
    for token in TOKENS:
        assert all(token not in value for value in sent.headers.values())


async def test_body_over_limit_is_413_with_content_length(front):
    server, upstream, http = front
    body = dumps({**GOOD_CHAT, "pad": "x" * 5000})
    status, headers, raw = await post(http, f"{server.base_url}/v1/chat/completions", body)
    assert_error(status, headers, raw, want_status=413, code="request_too_large")
    assert upstream.requests == []


@pytest.mark.parametrize("chunks", [3, 400], ids=["just-over", "far-over"])
async def test_body_over_limit_is_413_when_chunked(front, chunks):
    server, upstream, http = front

    async def body():
        for _ in range(chunks):
            yield b"x" * 1000

    async with http.post(f"{server.base_url}/v1/chat/completions", data=body(), headers=AUTH) as resp:
        assert "Content-Length" not in resp.request_info.headers
        assert resp.request_info.headers["Transfer-Encoding"] == "chunked"
        assert_error(resp.status, resp.headers, await resp.read(), want_status=413, code="request_too_large")
    # The same keep-alive pool still works: the unread rest of the body did not poison it.
    status, _, raw = await post(http, f"{server.base_url}/v1/chat/completions", dumps(GOOD_CHAT))
    assert status == 200, raw
    assert len(upstream.requests) == 1


async def test_body_at_limit_is_accepted(front):
    server, upstream, http = front
    limit = int(0.001 * 1024 * 1024)
    base = dumps({**GOOD_CHAT, "pad": ""})
    body = dumps({**GOOD_CHAT, "pad": "x" * (limit - len(base))})
    assert len(body) == limit
    status, _, raw = await post(http, f"{server.base_url}/v1/chat/completions", body)
    assert status == 200, raw
    status, headers, raw = await post(http, f"{server.base_url}/v1/chat/completions", body[:-2] + b'x"}')
    assert_error(status, headers, raw, want_status=413, code="request_too_large")


# -- compressed request bodies ---------------------------------------------------------------
# aiohttp inflates gzip/deflate request bodies on its own; the limit, the error shape and what
# goes upstream must hold for the inflated body.

BIG_CHAT = dumps({"model": "chat", "messages": [{"role": "user", "content": "a " * 100_000}]})


@pytest.mark.parametrize("compress", [gzip.compress, zlib.compress], ids=["gzip", "deflate"])
async def test_compressed_body_over_limit_is_413(front, compress):
    """A 200 kB body squeezed into a few hundred bytes must not slip past max_body_mb."""
    server, upstream, http = front
    packed = compress(BIG_CHAT)
    assert len(packed) < 1000 < len(BIG_CHAT)
    encoding = "gzip" if compress is gzip.compress else "deflate"
    status, headers, raw = await post(http, f"{server.base_url}/v1/chat/completions", packed,
                                      {**AUTH, "Content-Encoding": encoding})
    assert_error(status, headers, raw, want_status=413, code="request_too_large")
    assert upstream.requests == []


async def test_compressed_body_is_forwarded_decoded(front):
    """The gateway forwards the body it decoded, so it must not claim it is still gzip."""
    server, upstream, http = front
    body = dumps(GOOD_CHAT)
    status, _, raw = await post(http, f"{server.base_url}/v1/chat/completions", gzip.compress(body),
                                {**AUTH, "Content-Encoding": "gzip", "Content-Type": "application/json"})
    assert status == 200, raw
    (sent,) = upstream.requests
    assert sent.json() == {**GOOD_CHAT, "model": "gpt-4o-mini"}
    assert "content-encoding" not in {name.lower() for name in sent.headers}


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_corrupt_compressed_body_is_400(front, encoding):
    server, upstream, http = front
    status, headers, raw = await post(http, f"{server.base_url}/v1/chat/completions", b"not compressed at all",
                                      {**AUTH, "Content-Encoding": encoding})
    assert_error(status, headers, raw, want_status=400, code="invalid_encoding")
    assert upstream.requests == []


@pytest.mark.parametrize("encoding", ["br", "zstd"])
async def test_undecodable_content_encoding_is_openai_shaped(front, encoding):
    """Whether or not the codec is installed, the refusal is an API error, not aiohttp's text."""
    server, upstream, http = front
    status, headers, raw = await post(http, f"{server.base_url}/v1/chat/completions", b"\x00\x01\x02",
                                      {**AUTH, "Content-Encoding": encoding})
    assert status in (400, 415), raw
    error = assert_error(status, headers, raw, want_status=status, code=orjson.loads(raw)["error"]["code"])
    assert error["code"] in ("unsupported_encoding", "invalid_encoding")
    assert upstream.requests == []


@pytest.mark.parametrize(
    ("method", "path", "want", "code"),
    [
        ("GET", "/v1/nope", 404, "not_found"),
        ("POST", "/v2/chat/completions", 404, "not_found"),
        ("GET", "/", 404, "not_found"),
        ("GET", "/v1/chat/completions", 405, "method_not_allowed"),
        ("PUT", "/v1/embeddings", 405, "method_not_allowed"),
        ("POST", "/health", 405, "method_not_allowed"),
        ("DELETE", "/v1/models", 405, "method_not_allowed"),
        ("OPTIONS", "/v1/chat/completions", 405, "method_not_allowed"),
    ],
)
async def test_unknown_route_and_wrong_method(front, method, path, want, code):
    server, upstream, http = front
    async with http.request(method, server.base_url + path, headers=AUTH) as resp:
        error = assert_error(resp.status, resp.headers, await resp.read(), want_status=want, code=code)
    verb = "Unknown route" if want == 404 else f"Method {method} is not allowed on"
    assert error["message"] == (f"{verb}: {method} {path}" if want == 404 else f"{verb} {path}")
    assert upstream.requests == []


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("GET", "/v1/chat/completions", {"POST"}), ("POST", "/health", {"GET", "HEAD"})],
)
async def test_405_names_the_allowed_methods(front, method, path, allowed):
    """RFC 9110 §15.5.6: a 405 response MUST carry an Allow header."""
    server, _, http = front
    async with http.request(method, server.base_url + path) as resp:
        assert resp.status == 405
        assert "Allow" in resp.headers, dict(resp.headers)
        assert {m.strip() for m in resp.headers["Allow"].split(",")} == allowed


async def test_server_still_serves_after_every_refusal(front):
    server, upstream, http = front
    url = f"{server.base_url}/v1/chat/completions"
    for case in BAD_BODIES:
        path, body, *_ = case.values
        status, _, _ = await post(http, f"{server.base_url}/v1/{path}", body)
        assert status == 400
    assert (await post(http, url, dumps(GOOD_CHAT), {}))[0] == 401
    assert (await post(http, url, dumps({"model": "zzz", "messages": MSG})))[0] == 404
    assert (await post(http, url, b"x" * 5000))[0] == 413
    async with http.get(url) as resp:
        assert resp.status == 405
    assert upstream.requests == []

    client = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=TOKENS[0], max_retries=0)
    reply = await client.chat.completions.create(model="chat", messages=MSG)
    assert reply.choices[0].message.content == "fine"
    assert len(upstream.requests) == 1


# -- the official SDK sees the right exception classes ------------------------------------


async def test_sdk_authentication_error(front):
    server, upstream, _ = front
    client = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key="tok-alpha-WRONG", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        await client.chat.completions.create(model="chat", messages=MSG)
    error = caught.value
    assert error.status_code == 401
    assert error.body == {"message": "Invalid API key provided.", "type": "authentication_error",
                          "param": None, "code": "invalid_api_key"}
    assert "Invalid API key provided." in error.message
    assert "tok-alpha-WRONG" not in error.message
    assert REQUEST_ID.match(error.request_id)
    assert upstream.requests == []


async def test_sdk_not_found_error(front):
    server, upstream, _ = front
    client = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=TOKENS[1], max_retries=0)
    with pytest.raises(openai.NotFoundError) as caught:
        await client.chat.completions.create(model="gpt-5-nonexistent", messages=MSG)
    assert caught.value.code == "model_not_found"
    assert caught.value.param == "model"
    assert "The model 'gpt-5-nonexistent' does not exist on this gateway" in caught.value.message
    with pytest.raises(openai.NotFoundError) as caught:
        await client.models.retrieve("gpt-5-nonexistent")
    assert caught.value.code == "model_not_found"
    assert upstream.requests == []


async def test_sdk_bad_request_error(front):
    server, upstream, _ = front
    client = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=TOKENS[0], max_retries=0)
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model="chat", messages=[])
    assert caught.value.body == {"message": "'messages' must contain at least one message",
                                 "type": "invalid_request_error", "param": "messages", "code": "invalid_value"}
    assert "'messages' must contain at least one message" in caught.value.message
    with pytest.raises(openai.BadRequestError) as caught:
        await client.embeddings.create(model="chat", input="x", extra_body={"input": None})
    assert caught.value.param == "input"
    assert caught.value.code == "missing_required_parameter"
    assert upstream.requests == []
