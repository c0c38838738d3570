"""``GET /health`` and the shipped gateway.toml, which must answer offline with no keys set."""

from __future__ import annotations

import contextlib
from pathlib import Path

import aiohttp
import anthropic
import openai
import orjson
import pytest

from sluicegate import __version__
from sluicegate.gateway import Gateway, GatewaySource
from sluicegate.server.runner import start_server

SHIPPED = Path(__file__).resolve().parents[1] / "gateway.toml"
LIVE_KEY = "sk-live-secret-0123456789"


async def get_json(url: str, headers: dict[str, str] | None = None):
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as resp:
        return resp.status, resp.headers, await resp.read()


async def test_health_reports_each_provider_without_secrets(gateway, fake_upstream):
    server = await gateway(f"""
[auth]
tokens = ["client-secret-token"]
[providers.live]
type = "openai"
base_url = "{fake_upstream.url}/v1"
api_key = "${{LIVE_KEY}}"
[providers.missing]
type = "openai"
api_key = "${{MISSING_VAR}}"
[providers.local]
type = "openai"
base_url = "http://127.0.0.1:9/v1"
[providers.mock]
type = "mock"
[models.chat]
targets = ["missing/gpt-4o"]
""", env={"LIVE_KEY": LIVE_KEY})
    # /health is a liveness probe: it needs no token.
    status, headers, raw = await get_json(server.base_url + "/health")
    assert status == 200
    assert headers["x-request-id"].startswith("req_")
    health = orjson.loads(raw)
    assert health["status"] == "ok"
    assert health["version"] == __version__
    assert health["models"] == ["chat"]
    # No calls yet: every provider is idle and closed.
    idle = {"breaker": "closed", "open_targets": 0, "calls_1m": 0, "errors_1m": 0, "error_rate_1m": None,
            "ewma_ttfb_ms": None}
    assert health["providers"] == {
        "live": {"type": "openai", "configured": True, "base_url": f"{fake_upstream.url}/v1", **idle},
        "missing": {"type": "openai", "configured": False, "base_url": "https://api.openai.com/v1",
                    "reason": "MISSING_VAR is not set", **idle},
        "local": {"type": "openai", "configured": True, "base_url": "http://127.0.0.1:9/v1", **idle},
        "mock": {"type": "mock", "configured": True, **idle},
    }
    assert LIVE_KEY.encode() not in raw
    assert b"sk-live" not in raw
    assert b"client-secret-token" not in raw


async def test_unconfigured_provider_refuses_without_calling_out(gateway, fake_upstream):
    server = await gateway(f"""
[providers.missing]
type = "openai"
base_url = "{fake_upstream.url}/v1"
api_key = "${{MISSING_VAR}}"
[models.chat]
targets = ["missing/gpt-4o"]
""")
    client = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key="anything", max_retries=0)
    with pytest.raises(openai.InternalServerError) as caught:
        await client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 503
    assert caught.value.body == {
        "message": "provider 'missing' is not configured: MISSING_VAR is not set",
        "type": "server_error", "param": None, "code": "provider_not_configured",
    }
    assert fake_upstream.requests == []


@contextlib.asynccontextmanager
async def shipped_gateway():
    gateway = Gateway(GatewaySource(path=str(SHIPPED), env={}))
    server = await start_server(gateway, "127.0.0.1", 0, shutdown_grace=1.0)
    try:
        yield server
    finally:
        await server.stop()


async def test_shipped_config_health_offline():
    async with shipped_gateway() as server:
        assert server.gateway.config.server.port == 8899  # the file's own port, overridden here
        status, _, raw = await get_json(server.base_url + "/health")
    assert status == 200
    health = orjson.loads(raw)
    assert health["status"] == "ok"
    providers = health["providers"]
    assert providers["mock"]["configured"] is True
    assert providers["mock"]["breaker"] == "closed"
    assert providers["openai"]["configured"] is False
    assert providers["openai"]["reason"] == "OPENAI_API_KEY is not set"
    assert providers["deepseek"]["reason"] == "DEEPSEEK_API_KEY is not set"
    assert providers["qwen-compat"]["reason"] == "DASHSCOPE_API_KEY is not set"
    assert {key: providers["anthropic"][key] for key in ("type", "configured", "base_url", "reason")} == {
        "type": "anthropic", "configured": False, "base_url": "https://api.anthropic.com/v1",
        "reason": "ANTHROPIC_API_KEY is not set",
    }
    assert providers["qwen"]["type"] == "dashscope"
    assert providers["qwen"]["reason"] == "DASHSCOPE_API_KEY is not set"
    assert health["models"] == ["echo", "chat", "claude", "qwen"]


async def test_shipped_config_answers_chat_with_mock():
    async with shipped_gateway() as server:
        # No GATEWAY_TOKEN set: the shipped config is open, any key works.
        client = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key="unused", max_retries=0)
        reply = await client.chat.completions.create(
            model="echo", messages=[{"role": "user", "content": "hello offline world"}]
        )
        assert reply.choices[0].message.content == "hello offline world"
        assert reply.model == "echo-1"
        stream = await client.chat.completions.create(
            model="echo", messages=[{"role": "user", "content": "hello offline world"}], stream=True
        )
        assert "".join([c.choices[0].delta.content or "" async for c in stream]) == "hello offline world"
        ids = [m.id for m in (await client.models.list()).data]
        assert ids[:4] == ["echo", "chat", "claude", "qwen"]
        assert {"openai/gpt-4o-mini", "anthropic/claude-sonnet-4-5", "qwen/qwen-plus"} <= set(ids)
        # The keyed alias is refused at once, no network.
        with pytest.raises(openai.InternalServerError) as caught:
            await client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "x"}])
        assert caught.value.code == "provider_not_configured"


async def test_shipped_config_answers_the_anthropic_sdk_with_mock():
    async with shipped_gateway() as server:
        claude = anthropic.AsyncAnthropic(base_url=server.base_url, api_key="unused", max_retries=0)
        message = await claude.messages.create(
            model="echo", max_tokens=50, messages=[{"role": "user", "content": "hello offline claude"}]
        )
        assert message.content[0].text == "hello offline claude"
        with pytest.raises(anthropic.APIStatusError) as caught:
            await claude.messages.create(model="claude", max_tokens=5, messages=[{"role": "user", "content": "x"}])
        assert caught.value.status_code == 503
        assert caught.value.body["error"]["type"] == "api_error"
        assert "ANTHROPIC_API_KEY is not set" in caught.value.body["error"]["message"]
