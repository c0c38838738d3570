"""The console's API through the real server, on a real gateway.toml on disk: vendor presets, the
one-step add-model (checked three ways: the answer, the file, the gateway serving it), the
provider test against fake vendors, the overview's numbers, and the read-only viewer token.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from attrs import define
from served_gateway import serving

from sluicegate.errors import InvalidRequest
from sluicegate.gateway import Gateway
from sluicegate.server.runner import RunningServer
from sluicegate.testing import FakeUpstream, openai_chat_completion
from sluicegate_admin.add_model import parse_new_model, problem_param
from sluicegate_admin.overview import Traffic, provider_state
from sluicegate_admin.presets import BY_ID, preset_view
from sluicegate_admin.routes import static_file
from sluicegate_dashscope.fake import result as dashscope_result

ADMIN_TOKEN = "admin-token-for-console-tests-0123456789"
VIEWER_TOKEN = "viewer-token-for-console-tests-987654321"
CLIENT_TOKEN = "client-token-for-console-tests-0123"
VENDOR_KEY = "sk-vendor-key-from-env-000111222333"
ENV = {"ADMIN_TOKEN": ADMIN_TOKEN, "VIEWER_TOKEN": VIEWER_TOKEN, "GATEWAY_TOKEN": CLIENT_TOKEN,
       "VENDOR_KEY": VENDOR_KEY}

CONFIG = '''\
# Console test config: the comments must survive the edits.
[auth]
tokens = ["${{GATEWAY_TOKEN}}"]

[admin]
token = "${{ADMIN_TOKEN}}"
viewer_token = "${{VIEWER_TOKEN}}"

[retry]
attempts = 1

[breaker]
failure_threshold = {threshold}
cooldown = 600

# The offline provider.
[providers.mock]
type = "mock"
models = ["echo-1"]

# A vendor behind a fake upstream.
[providers.vendor]
type = "openai"
base_url = "{upstream}/v1"
api_key = "${{VENDOR_KEY}}"
models = ["gpt-4o-mini"]

# A vendor nobody set a key for.
[providers.keyless]
type = "openai"
base_url = "{upstream}/v1"
api_key = "${{NOT_SET_ANYWHERE}}"

[models.echo]
targets = ["mock/echo-1"]

[models.flaky]
targets = ["vendor/gpt-4o-mini"]
{extra}'''

STORE = '''
[pricing.prices."mock/*"]
input = 1000
output = 1000

[store]
url = "sqlite+aiosqlite:///{path}"
refresh_interval = 3600
'''

PRESET_ORDER = ["openai", "anthropic", "deepseek", "qwen", "qwen-compat", "gemini", "gemini-compat", "azure",
                "bedrock", "vertex", "ollama", "vllm", "custom"]


@define
class Console:
    server: RunningServer
    path: Path
    http: aiohttp.ClientSession
    upstream: FakeUpstream
    seen: list[str]  # every response text, to search for secrets afterwards

    @property
    def gateway(self) -> Gateway:
        return self.server.gateway

    async def call(self, method: str, route: str, body: Any = None, *, token: str | None = ADMIN_TOKEN
                   ) -> tuple[int, Any, str]:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        kwargs = {"json": body} if body is not None else {}
        async with self.http.request(method, self.server.base_url + route, headers=headers, **kwargs) as response:
            text = await response.text()
            data = await response.json(content_type=None) if "json" in response.content_type else None
            self.seen.append(text)
            return response.status, data, text

    async def chat(self, model: str, token: str = CLIENT_TOKEN) -> int:
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
        status, _, _ = await self.call("POST", "/v1/chat/completions", body, token=token)
        return status

    async def model_ids(self) -> list[str]:
        status, data, _ = await self.call("GET", "/v1/models", token=CLIENT_TOKEN)
        assert status == 200
        return [entry["id"] for entry in data["data"]]

    async def overview(self) -> dict[str, Any]:
        status, data, _ = await self.call("GET", "/admin/api/overview")
        assert status == 200, data
        return data

    def provider(self, data: dict[str, Any], provider_id: str) -> dict[str, Any]:
        return next(row for row in data["providers"] if row["id"] == provider_id)


@contextlib.asynccontextmanager
async def console_on(tmp_path: Path, *, threshold: int = 1, extra: str = "") -> AsyncIterator[Console]:
    async with FakeUpstream() as upstream, \
            serving(tmp_path, CONFIG.format(upstream=upstream.url, threshold=threshold, extra=extra), ENV) as (
                server, path), \
            aiohttp.ClientSession() as http:
        yield Console(server, path, http, upstream, [])


@pytest_asyncio.fixture
async def console(tmp_path):
    async with console_on(tmp_path) as opened:
        yield opened


def assert_error(data: dict[str, Any], code: str, param: str | None = None) -> None:
    assert set(data["error"]) >= {"message", "type", "param", "code"}
    assert data["error"]["code"] == code, data
    if param is not None:
        assert data["error"]["param"] == param, data


def add_body(**fields: Any) -> dict[str, Any]:
    body = {"preset": "deepseek", "provider_id": "deepseek", "model": "deepseek-chat", "alias": "deepseek-chat",
            "api_key_env": "DEEPSEEK_API_KEY"}
    body.update(fields)
    return {key: value for key, value in body.items() if value is not None}


# -- presets ---------------------------------------------------------------------------------------


async def test_presets_come_in_the_dialogs_order_with_the_vendors_types(console):
    status, data, _ = await console.call("GET", "/admin/api/presets")
    assert status == 200
    presets = {entry["id"]: entry for entry in data["data"]}
    assert [entry["id"] for entry in data["data"]] == PRESET_ORDER
    assert presets["deepseek"] == {
        "id": "deepseek", "label": "DeepSeek", "type": "openai", "base_url": "https://api.deepseek.com/v1",
        "base_url_optional": False, "base_url_hint": None,
        "models": ["deepseek-chat", "deepseek-reasoner"], "key_env": "DEEPSEEK_API_KEY", "key_optional": False,
        "available": True, "note": None, "fields": []}
    assert [presets[name]["label"] for name in PRESET_ORDER] == [
        "OpenAI", "Anthropic", "DeepSeek", "Qwen (DashScope native)", "Qwen (compatible mode)", "Gemini",
        "Gemini (OpenAI-compatible)", "Azure OpenAI", "AWS Bedrock", "Vertex AI", "Ollama", "vLLM",
        "OpenAI-compatible"]
    assert [presets[name]["type"] for name in PRESET_ORDER] == [
        "openai", "anthropic", "openai", "dashscope", "openai", "gemini", "openai", "azure", "bedrock", "vertex",
        "openai", "openai", "openai"]
    gemini = presets["gemini-compat"]
    assert (gemini["type"], gemini["base_url"], gemini["key_env"]) == (
        "openai", "https://generativelanguage.googleapis.com/v1beta/openai", "GEMINI_API_KEY")
    assert presets["qwen-compat"]["base_url"] == "https://dashscope.aliyuncs.com/compatible-mode/v1"
    # Every preset's fields, in order (test_console_vendors_api.py checks them in full).
    assert {name: [field["name"] for field in entry["fields"]] for name, entry in presets.items()
            if entry["fields"]} == {"azure": ["api_version"], "bedrock": ["region"],
                                    "vertex": ["region", "project", "credentials_file"]}
    for local, url in (("ollama", "http://localhost:11434/v1"), ("vllm", "http://localhost:8000/v1")):
        assert (presets[local]["base_url"], presets[local]["key_env"], presets[local]["key_optional"]) == (
            url, None, True)
    custom = presets["custom"]
    assert (custom["type"], custom["base_url"], custom["models"], custom["key_env"]) == ("openai", "", [], None)
    # Every type a preset names is installed here.
    assert all(entry["available"] for entry in presets.values())


def test_a_preset_whose_type_is_not_installed_is_not_available():
    assert preset_view(BY_ID["anthropic"], {"openai"})["available"] is False
    assert "'anthropic'" in preset_view(BY_ID["anthropic"], {"openai"})["note"]
    assert preset_view(BY_ID["bedrock"], {"openai"})["note"] == (
        "The provider type 'bedrock' is not installed (install its plugin, sluicegate-bedrock).")
    assert preset_view(BY_ID["azure"], {"openai", "azure"})["available"] is True
    with pytest.raises(InvalidRequest) as refused:
        parse_new_model(add_body(preset="anthropic", provider_id="claude"), {"openai"})
    assert refused.value.param == "preset"


# -- add-model ---------------------------------------------------------------------------------------


async def test_add_model_unchecked_writes_the_variable_and_the_alias_serves(console):
    before = console.path.read_text()
    body = add_body(base_url=console.upstream.url + "/v1")
    status, data, _ = await console.call("POST", "/admin/api/add-model", body)
    assert status == 201, data
    assert (data["provider"], data["alias"], data["created_provider"]) == ("deepseek", "deepseek-chat", True)
    assert data["reload"]["ok"] is True

    text = console.path.read_text()
    assert 'api_key = "${DEEPSEEK_API_KEY}"' in text
    assert all(line in text for line in before.splitlines())  # comments and all kept
    written = tomllib.loads(text)
    assert written["providers"]["deepseek"] == {
        "type": "openai", "base_url": console.upstream.url + "/v1", "api_key": "${DEEPSEEK_API_KEY}"}
    assert written["models"]["deepseek-chat"] == {"targets": ["deepseek/deepseek-chat"]}
    assert "deepseek-chat" in await console.model_ids()

    # The reload reads the environment: once the variable is set, the alias reaches the vendor
    # with the key in the header the openai type sends.
    console.upstream.json("/v1/chat/completions", openai_chat_completion("from deepseek"))
    assert await console.chat("deepseek-chat") == 503  # not configured yet
    console.gateway.source.env["DEEPSEEK_API_KEY"] = "sk-deepseek-0000111122223333"
    assert await console.gateway.reload() is True
    assert await console.chat("deepseek-chat") == 200
    sent = console.upstream.calls("/v1/chat/completions")[-1]
    assert sent.headers["Authorization"] == "Bearer sk-deepseek-0000111122223333"
    assert sent.json()["model"] == "deepseek-chat"


async def test_add_model_with_a_literal_key_writes_it_and_never_shows_it(console):
    literal = "sk-typed-by-hand-$9f8e7d6c5b4a"
    body = add_body(preset="custom", provider_id="my-vendor", base_url=console.upstream.url + "/v1",
                    model="best-model", alias="best", api_key_env=None, api_key=literal + "\n")
    status, data, text = await console.call("POST", "/admin/api/add-model", body)
    assert status == 201, data
    assert literal not in text and "sk-typed" not in text
    assert 'api_key = "sk-typed-by-hand-$$9f8e7d6c5b4a"' in console.path.read_text()  # "$" as the loader reads it

    console.upstream.json("/v1/chat/completions", openai_chat_completion("custom answers"))
    assert await console.chat("best") == 200
    assert console.upstream.calls("/v1/chat/completions")[-1].headers["Authorization"] == f"Bearer {literal}"
    for route in ("/admin/api/config", "/admin/api/status", "/admin/api/overview", "/admin/api/presets"):
        status, data, _ = await console.call("GET", route)
        assert status == 200
    status, data, _ = await console.call("POST", "/admin/api/providers/my-vendor/test")
    assert status == 200 and data["ok"] is True
    config = (await console.call("GET", "/admin/api/config"))[1]
    assert next(p for p in config["providers"] if p["id"] == "my-vendor")["key"] == {"literal": True}
    for seen in console.seen:
        assert literal not in seen and "sk-typed" not in seen and "9f8e7d6c" not in seen


async def test_add_model_to_an_existing_provider_adds_only_the_alias(console):
    body = add_body(preset="openai", provider_id="vendor", model="gpt-4o", alias="big", api_key_env="OTHER_KEY")
    status, data, _ = await console.call("POST", "/admin/api/add-model", body)
    assert status == 201, data
    assert data["created_provider"] is False
    written = tomllib.loads(console.path.read_text())
    assert written["providers"]["vendor"]["api_key"] == "${VENDOR_KEY}"  # the provider is as it was
    assert written["models"]["big"] == {"targets": ["vendor/gpt-4o"]}
    assert "big" in await console.model_ids()


@pytest.mark.parametrize(
    ("fields", "status", "code", "param"),
    [
        ({"preset": None}, 400, "invalid_value", "preset"),
        ({"preset": "nope"}, 400, "invalid_value", "preset"),
        ({"provider_id": "a/b"}, 400, "invalid_name", "provider_id"),
        ({"provider_id": None}, 400, "invalid_name", "provider_id"),
        ({"model": ""}, 400, "invalid_value", "model"),
        ({"model": "has space"}, 400, "invalid_value", "model"),
        ({"alias": "bad alias"}, 400, "invalid_name", "alias"),
        ({"model": "org/model", "alias": None}, 400, "invalid_value", "alias"),
        ({"base_url": "ftp://x.example"}, 400, "invalid_value", "base_url"),
        ({"base_url": "https://"}, 400, "invalid_value", "base_url"),
        ({"preset": "custom", "provider_id": "mine"}, 400, "invalid_value", "base_url"),
        ({"api_key_env": None}, 400, "invalid_value", "api_key_env"),
        ({"api_key_env": "not a name"}, 400, "invalid_value", "api_key_env"),
        ({"api_key_env": None, "api_key": ""}, 400, "invalid_value", "api_key"),
        ({"api_key_env": None, "api_key": "sk-with space"}, 400, "invalid_value", "api_key"),
        ({"api_key_env": None, "api_key": "${SNEAKY}"}, 400, "invalid_value", "api_key"),
        ({"api_key": "sk-both-given-0000"}, 400, "invalid_value", "api_key"),
        ({"type": "anthropic"}, 400, "unknown_field", "type"),
        ({"alias": "echo"}, 409, "alias_exists", "alias"),
        ({"preset": "anthropic", "provider_id": "vendor"}, 409, "provider_exists", "provider_id"),
    ],
)
async def test_add_model_refusals_name_the_field(console, fields, status, code, param):
    before = console.path.read_bytes()
    got, data, text = await console.call("POST", "/admin/api/add-model", add_body(**fields))
    assert got == status, data
    assert_error(data, code, param)
    assert "sk-both-given" not in text and "Traceback" not in text
    assert console.path.read_bytes() == before


async def test_a_local_server_needs_no_key_line(console):
    body = add_body(preset="ollama", provider_id="ollama", model="llama3.2", alias="local", api_key_env=None,
                    base_url=console.upstream.url + "/v1")
    status, data, _ = await console.call("POST", "/admin/api/add-model", body)
    assert status == 201, data
    assert tomllib.loads(console.path.read_text())["providers"]["ollama"] == {
        "type": "openai", "base_url": console.upstream.url + "/v1"}


def test_config_problems_are_mapped_to_the_field_that_caused_them():
    new = parse_new_model(add_body(api_key_env=None, api_key="sk-x-000"), {"openai"})
    assert problem_param("providers.deepseek.base_url", new) == "base_url"
    assert problem_param("providers.deepseek.api_key", new) == "api_key"
    assert problem_param("providers.deepseek.type", new) == "provider_id"
    assert problem_param("models.deepseek-chat.targets[0]", new) == "model"
    assert problem_param("models.deepseek-chat", new) == "alias"
    assert problem_param("providers.deepseek2.base_url", new) is None
    assert "sk-x-000" not in repr(new)
    # A key the preset asked for is named as sent (options.<name>); any other key of the table
    # is the provider's as a whole.
    vertex = parse_new_model({"preset": "vertex", "provider_id": "gcp", "model": "gemini-2.5-flash",
                              "options": {"region": "us-east5", "project": "my-project-1"}}, {"vertex"})
    assert vertex.options == {"region": "us-east5", "project": "my-project-1"}
    assert problem_param("providers.gcp.region", vertex) == "options.region"
    assert problem_param("providers.gcp.credentials_file", vertex) == "options.credentials_file"
    assert problem_param("providers.gcp.publishers.x", vertex) == "provider_id"
    assert problem_param("providers.gcp", vertex) == "provider_id"


async def test_the_vendor_headers_come_from_the_presets_type(console):
    """A vendor added from a preset gets its auth and version headers from its type."""
    url = console.upstream.url
    console.upstream.json("/v1/messages", {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
        "content": [{"type": "text", "text": "OK"}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 1}})
    console.upstream.json("/api/v1/services/aigc/text-generation/generation", dashscope_result(
        {"content": "OK"}, "stop", {"input_tokens": 5, "output_tokens": 1, "total_tokens": 6}))
    for preset, provider_id, base_url, model in (("anthropic", "claude", url + "/v1", "claude-haiku-4-5"),
                                                 ("qwen", "qwen", url + "/api/v1", "qwen-plus")):
        body = add_body(preset=preset, provider_id=provider_id, base_url=base_url, model=model, alias=None,
                        api_key_env=None, api_key=f"sk-{provider_id}-key-0123456789")
        status, data, _ = await console.call("POST", "/admin/api/add-model", body)
        assert status == 201, data
        status, data, _ = await console.call("POST", f"/admin/api/providers/{provider_id}/test")
        assert (status, data["ok"]) == (200, True), data
    anthropic = {k.lower(): v for k, v in console.upstream.calls("/v1/messages")[-1].headers.items()}
    assert anthropic["x-api-key"] == "sk-claude-key-0123456789"
    assert anthropic["anthropic-version"] == "2023-06-01" and "authorization" not in anthropic
    dashscope = console.upstream.calls("/api/v1/services/aigc/text-generation/generation")[-1]
    assert dashscope.headers["Authorization"] == "Bearer sk-qwen-key-0123456789"


# -- the provider test -------------------------------------------------------------------------------


async def test_testing_a_provider_sends_one_real_request(console):
    console.upstream.json("/v1/chat/completions", openai_chat_completion("OK"))
    status, data, _ = await console.call("POST", "/admin/api/providers/vendor/test")
    assert status == 200, data
    assert (data["ok"], data["status"], data["model"], data["error"]) == (True, 200, "gpt-4o-mini", None)
    assert isinstance(data["latency_ms"], float) and data["latency_ms"] >= 0
    [sent] = console.upstream.calls("/v1/chat/completions")
    assert sent.headers["Authorization"] == f"Bearer {VENDOR_KEY}"
    assert sent.json()["model"] == "gpt-4o-mini" and sent.json()["max_tokens"] == 16
    assert ADMIN_TOKEN not in str(sent.headers)  # the operator's token never goes upstream

    status, data, _ = await console.call("POST", "/admin/api/providers/vendor/test?model=gpt-4.1")
    assert (status, data["ok"], data["model"]) == (200, True, "gpt-4.1")
    assert console.upstream.calls("/v1/chat/completions")[-1].json()["model"] == "gpt-4.1"


@pytest.mark.parametrize("vendor_status", [401, 500])
async def test_a_failing_provider_test_reports_a_scrubbed_error(console, vendor_status):
    console.upstream.json("/v1/chat/completions", {"error": {
        "message": f"Incorrect API key provided: {VENDOR_KEY}. Partial: {VENDOR_KEY[:16]}",
        "type": "invalid_request_error", "code": "invalid_api_key"}}, status=vendor_status)
    status, data, text = await console.call("POST", "/admin/api/providers/vendor/test")
    assert status == 200, data
    assert (data["ok"], data["status"]) == (False, vendor_status)
    assert "Incorrect API key provided" in data["error"]
    assert VENDOR_KEY not in text and VENDOR_KEY[:16] not in text and VENDOR_KEY[-12:] not in text
    # A test is not traffic: it neither counts nor moves a breaker (the threshold here is 1).
    vendor = console.provider(await console.overview(), "vendor")
    assert (vendor["state"], vendor["breakers_open"], vendor["calls_1m"]) == ("ok", 0, 0)


async def test_a_provider_test_that_cannot_run(console):
    status, data, _ = await console.call("POST", "/admin/api/providers/keyless/test?model=m")
    assert status == 200
    assert (data["ok"], data["status"], data["code"]) == (False, None, "provider_not_configured")
    assert "NOT_SET_ANYWHERE is not set" in data["error"]
    assert console.upstream.requests == []

    status, data, _ = await console.call("POST", "/admin/api/providers/keyless/test")
    assert status == 400
    assert_error(data, "invalid_value", "model")  # no listed model and no alias: ask for one
    status, data, _ = await console.call("POST", "/admin/api/providers/ghost/test")
    assert status == 404
    assert_error(data, "provider_not_found")
    status, data, _ = await console.call("GET", "/admin/api/providers/vendor/test")
    assert status == 405


# -- the overview ------------------------------------------------------------------------------------


async def test_the_overview_counts_model_calls(console):
    first = await console.overview()
    assert (first["requests"], first["errors"], first["p50_ms"], first["p95_ms"]) == (0, 0, None, None)
    assert first["top_models"] == [] and first["top_keys"] == []
    assert (first["spend_today"], first["currency"], first["store"]) == (None, None, None)
    assert first["last_reload"]["ok"] is True
    assert [row["id"] for row in first["providers"]] == ["mock", "vendor", "keyless"]
    assert console.provider(first, "keyless")["state"] == "down"  # not configured: it cannot serve
    assert console.provider(first, "mock")["state"] == "ok"

    for _ in range(3):
        assert await console.chat("echo") == 200
    assert await console.chat("no-such-model") == 404
    after = await console.overview()
    # The console's own calls (the overview above included) are not traffic.
    assert (after["requests"], after["errors"]) == (4, 1)
    assert after["p50_ms"] is not None and after["p95_ms"] >= after["p50_ms"] >= 0
    assert after["top_models"] == [{"model": "echo", "requests": 3}]
    mock = console.provider(after, "mock")
    assert (mock["state"], mock["calls_1m"], mock["error_rate"]) == ("ok", 3, 0.0)


async def test_without_metrics_the_traffic_numbers_are_null(tmp_path):
    async with console_on(tmp_path, extra="\n[metrics]\nenabled = false\n") as console:
        assert await console.chat("echo") == 200
        data = await console.overview()
        assert (data["requests"], data["errors"], data["p50_ms"], data["top_models"]) == (None, None, None, [])
        assert console.provider(data, "mock")["calls_1m"] == 1  # provider states do not need metrics


async def test_an_open_breaker_is_never_ok(console):
    console.upstream.json("/v1/chat/completions", {"error": {"message": "boom", "type": "server_error"}},
                          status=500)
    assert await console.chat("flaky") >= 500
    vendor = console.provider(await console.overview(), "vendor")
    assert vendor["breakers_open"] == 1
    assert vendor["state"] == "down" and vendor["error_rate"] == 1.0
    assert "boom" in vendor["last_error"]


async def test_every_call_failing_is_never_ok_even_with_the_breaker_closed(tmp_path):
    async with console_on(tmp_path, threshold=50) as console:
        console.upstream.json("/v1/chat/completions", {"error": {"message": "boom"}}, status=500)
        for _ in range(2):
            assert await console.chat("flaky") >= 500
        vendor = console.provider(await console.overview(), "vendor")
        assert (vendor["breakers_open"], vendor["error_rate"], vendor["state"]) == (0, 1.0, "down")


def test_provider_states_and_quantiles():
    summary = {"calls_1m": 10, "errors_1m": 0, "open_targets": 0, "breaker": "closed"}
    assert provider_state(True, summary, 1, None) == "ok"
    assert provider_state(True, {**summary, "errors_1m": 1}, 1, None) == "degraded"
    assert provider_state(True, {**summary, "open_targets": 1, "breaker": "open"}, 2, None) == "degraded"
    assert provider_state(True, {**summary, "open_targets": 2, "breaker": "open"}, 2, None) == "down"
    assert provider_state(True, {**summary, "breaker": "half_open"}, 1, None) == "degraded"
    assert provider_state(True, summary, 1, {"ok": False}) == "down"
    traffic = Traffic(buckets={0.1: 50.0, 0.5: 90.0, 1.0: 100.0, float("inf"): 100.0})
    assert traffic.quantile_ms(0.5) == 100.0
    assert traffic.quantile_ms(0.95) == 750.0
    assert Traffic(buckets={1.0: 0.0, float("inf"): 4.0}).quantile_ms(0.5) == 1000.0
    assert Traffic().quantile_ms(0.5) is None


async def test_spend_today_and_top_keys_come_from_the_store(tmp_path):
    async with console_on(tmp_path, extra=STORE.format(path=tmp_path / "store.db")) as console:
        status, key, _ = await console.call("POST", "/admin/api/keys", {"name": "bot"})
        assert status == 201, key
        for _ in range(2):
            assert await console.chat("echo", token=key["key"]) == 200
        assert await console.chat("echo") == 200  # an [auth] token: no key to rank

        deadline = time.monotonic() + 10
        data = await console.overview()
        while time.monotonic() < deadline and not (data["top_keys"] and data["top_keys"][0]["requests"] == 2):
            await asyncio.sleep(0.05)  # the ledger is written in batches
            data = await console.overview()
        [top] = data["top_keys"]
        assert (top["key_id"], top["name"], top["requests"]) == (key["id"], "bot", 2)
        assert top["cost"] > 0 and data["spend_today"] >= top["cost"]
        assert (data["currency"], data["store"]) == ("USD", "ok")


# -- roles -------------------------------------------------------------------------------------------


async def test_the_viewer_token_reads_everything_and_changes_nothing(tmp_path):
    async with console_on(tmp_path, extra=STORE.format(path=tmp_path / "store.db")) as console:
        assert (await console.call("GET", "/admin/api/whoami"))[1] == {"role": "admin"}
        assert (await console.call("GET", "/admin/api/whoami", token=VIEWER_TOKEN))[1] == {"role": "viewer"}
        status, data, _ = await console.call("GET", "/admin/api/whoami", token="not-a-token-at-all-000")
        assert status == 401
        assert_error(data, "invalid_admin_token")

        for route in ("/admin/api/config", "/admin/api/status", "/admin/api/presets", "/admin/api/overview",
                      "/admin/api/keys", "/admin/api/teams", "/admin/api/usage", "/admin/api/logs"):
            status, data, _ = await console.call("GET", route, token=VIEWER_TOKEN)
            assert status == 200, (route, data)

        before = console.path.read_bytes()
        writes = [
            ("POST", "/admin/api/add-model", add_body()),
            ("POST", "/admin/api/providers", {"id": "x", "type": "mock"}),
            ("PATCH", "/admin/api/providers/mock", {"timeout": 5}),
            ("DELETE", "/admin/api/models/echo", None),
            ("POST", "/admin/api/providers/vendor/test", None),
            ("POST", "/admin/reload", None),
            ("POST", "/admin/api/keys", {"name": "sneaky"}),
            ("POST", "/admin/api/teams", {"name": "sneaky"}),
        ]
        for method, route, body in writes:
            status, data, _ = await console.call(method, route, body, token=VIEWER_TOKEN)
            assert status == 403, (method, route, data)
            assert_error(data, "read_only")
        assert console.path.read_bytes() == before
        assert console.upstream.requests == []  # the refused test sent nothing
        status, keys, _ = await console.call("GET", "/admin/api/keys")
        assert keys["data"] == []  # the refused key was not made
        # The admin token still writes.
        status, _, _ = await console.call("POST", "/admin/api/teams", {"name": "ops"})
        assert status == 201


async def test_without_a_viewer_token_it_opens_nothing(tmp_path):
    async with console_on(tmp_path) as console:
        console.gateway.source.env.pop("VIEWER_TOKEN")
        assert await console.gateway.reload() is True
        status, data, _ = await console.call("GET", "/admin/api/overview", token=VIEWER_TOKEN)
        assert status == 401
        assert_error(data, "invalid_admin_token")


# -- static files --------------------------------------------------------------------------------------


async def test_static_files_are_served_by_type_and_never_outside_the_folder(console):
    async with console.http.get(console.server.base_url + "/admin/static/admin.js") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/javascript")
        assert "script-src" in response.headers["Content-Security-Policy"] or \
            "default-src 'self'" in response.headers["Content-Security-Policy"]
    for path in ("%2e%2e/routes.py", "..%2Froutes.py", "%2e%2e%2f%2e%2e%2fextension.py", ".hidden.js",
                 "index.html", "routes.py", "missing.js", "", "a//b.js"):
        async with console.http.get(console.server.base_url + "/admin/static/" + path) as response:
            assert response.status == 404, path
    assert static_file("pages/overview.js") == (("pages", "overview.js"), "text/javascript")
    assert static_file("icons/logo.svg") == (("icons", "logo.svg"), "image/svg+xml")
    assert static_file("../routes.py") is None and static_file("pages/../x.js") is None
    assert static_file("x.py") is None and static_file("a\\b.js") is None
