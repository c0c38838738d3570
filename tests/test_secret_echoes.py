"""Issue 11, defect 4: a vendor echoing *part* of a key (16 characters of it, a ``gsk_`` key that is
not ``sk-`` shaped, "gsk_abcd****wxyz"), or another configured secret, leaks nowhere: not to
the client, not to ``/health`` (``last_error``, ``base_url``), not to the access log or logs."""

from __future__ import annotations

import logging

import aiohttp
import orjson
from aiohttp import web

# Distinctive along their whole length: any 8 characters of one found anywhere is a leak.
GROQ_KEY = "gsk_Q7vR2mXp9LkT4wZs8NcB1yHd6FjU3eGa"
OPENAI_KEY = "sk-proj-Hq3Wn8Zt5Kc1Vb7Xm2Lp9Rd4Gs6"
CLIENT_TOKEN = "gw-cli-Tk4Nq8Wv2Zr6Hm1Xc9Bp3Ls7"
ADMIN_TOKEN = "gw-adm-Yp5Jd2Qw8Nv4Tx1Kr7Mc3Zg9"
PROXY_PASSWORD = "prxPw-Vn6Hc2Rt9Lq4Zx8Kd1"
REDIS_PASSWORD = "rdsPw-Bq7Mt3Xw9Ks2Nv5Lh8"
SECRETS = [GROQ_KEY, OPENAI_KEY, CLIENT_TOKEN, ADMIN_TOKEN, PROXY_PASSWORD, REDIS_PASSWORD]
WINDOW = 8

MSG = [{"role": "user", "content": "hi"}]


def pieces(secret: str) -> list[str]:
    return [secret[i:i + WINDOW] for i in range(len(secret) - WINDOW + 1)]


def leaks(text: str) -> list[str]:
    return sorted({piece for secret in SECRETS for piece in pieces(secret) if piece in text})


def echoing_vendor(key: str):
    """A 401 as vendors write it, quoting parts of the key it got and of other secrets."""

    async def respond(request: web.Request) -> web.Response:
        assert request.headers["Authorization"] == f"Bearer {key}"
        message = (
            f"Incorrect API key provided: {key[:8]}{'*' * 16}{key[-4:]}. "
            f"Fragment {key[6:22]} ({key[10:30]}) is not valid. "
            f"Also seen: {CLIENT_TOKEN[4:20]}, {ADMIN_TOKEN[3:19]}, {PROXY_PASSWORD[2:14]}, "
            f"{REDIS_PASSWORD[:12]}. See https://vendor.example/docs for help."
        )
        body = {"error": {"message": message, "type": "invalid_request_error",
                          "code": f"invalid_key_{key[8:20]}", "param": None}}
        return web.json_response(body, status=401)

    return respond


async def test_partial_echoes_of_any_configured_secret_reach_no_client_health_or_log(
    gateway, fake_upstream, tmp_path, caplog
):
    fake_upstream.on("/groq/v1/chat/completions", echoing_vendor(GROQ_KEY))
    fake_upstream.on("/openai/v1/chat/completions", echoing_vendor(OPENAI_KEY))
    access = tmp_path / "access.jsonl"
    server = await gateway(f"""
[auth]
tokens = ["${{CLIENT_TOKEN}}"]

[admin]
token = "${{ADMIN_TOKEN}}"

[providers.groq]
type = "openai"
base_url = "{fake_upstream.url}/groq/v1"
api_key = "${{GROQ_KEY}}"

[providers.openai]
type = "openai"
base_url = "{fake_upstream.url}/openai/v1"
api_key = "${{OPENAI_KEY}}"

[providers.proxy]
type = "openai"
base_url = "https://team:${{PROXY_PASSWORD}}@proxy.example/v1"
api_key = "sk-unused-0000"

[ratelimit]
requests_per_minute = 1000
# Nothing listens there: the limits fail open to local state (url is the redis backend's key).
backend = "redis"
url = "redis://:${{REDIS_PASSWORD}}@127.0.0.1:1/0"

[retry]
attempts = 1

[access_log]
destination = "{access}"
""", env={"CLIENT_TOKEN": CLIENT_TOKEN, "ADMIN_TOKEN": ADMIN_TOKEN, "GROQ_KEY": GROQ_KEY,
          "OPENAI_KEY": OPENAI_KEY, "PROXY_PASSWORD": PROXY_PASSWORD, "REDIS_PASSWORD": REDIS_PASSWORD})
    caplog.set_level(logging.DEBUG, logger="sluicegate")
    bodies, seen = [], []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {CLIENT_TOKEN}"}) as http:
        for model in ("groq/llama-3.3-70b", "openai/gpt-4o-mini"):
            for stream in (False, True):
                async with http.post(server.base_url + "/v1/chat/completions",
                                     json={"model": model, "messages": MSG, "stream": stream}) as response:
                    body = await response.text()
                    assert response.status == 401, body
                    bodies.append(body)
                    seen.append(body + "\n" + "\n".join(f"{k}: {v}" for k, v in response.headers.items()))
        async with http.get(server.base_url + "/health") as response:
            health_raw = await response.text()
    await server.stop()  # flushes the access log

    # Not vacuous: the vendor got each key, the client got the vendor's message, scrubbed.
    assert len(fake_upstream.requests) == 4
    error = orjson.loads(bodies[0])["error"]
    assert error["message"].startswith("provider 'groq' returned HTTP 401: Incorrect API key provided: ***")
    assert "See https://vendor.example/docs for help." in error["message"]
    health = orjson.loads(health_raw)
    for provider in ("groq", "openai"):
        assert health["providers"][provider]["last_error"].startswith(f"provider {provider!r} returned HTTP 401")
    assert health["providers"]["proxy"]["base_url"] == "https://team:***@proxy.example/v1"
    lines = [orjson.loads(line) for line in access.read_text().splitlines()]
    assert [line["status"] for line in lines if line["path"] == "/v1/chat/completions"] == [401] * 4
    assert all(line["error_code"] for line in lines if line["status"] == 401)

    assert leaks("\n".join(seen)) == [], "responses to the client"
    assert leaks(health_raw) == [], "/health"
    assert leaks(access.read_text()) == [], "the access log"
    assert leaks(caplog.text) == [], "the log"


async def test_health_masks_the_password_of_a_base_url(gateway):
    server = await gateway("""
[providers.proxied]
type = "openai"
base_url = "https://user:hunter2pass@host.example/v1?api-key=k-0123456789&api-version=2024-10-21"
api_key = "sk-unused-0000"
""")
    async with aiohttp.ClientSession() as http, http.get(server.base_url + "/health") as response:
        raw = await response.text()
    assert response.status == 200
    assert orjson.loads(raw)["providers"]["proxied"]["base_url"] == (
        "https://user:***@host.example/v1?api-key=***&api-version=2024-10-21"
    )
    assert "hunter2" not in raw and "0123456789" not in raw
