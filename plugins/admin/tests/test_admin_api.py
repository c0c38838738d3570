"""The admin API through the real server: auth, listing, edits of a real file on disk, reloads.

Each edit is checked three ways: the answer, the file (comments elsewhere survive; refused edits
leave it byte for byte), and the gateway (requests through the official openai SDK route by the
new config, or still by the old one after a refusal).
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
import pytest_asyncio
from attrs import define

from sluicegate import hookimpl
from sluicegate.errors import ConfigError, ConfigProblem
from sluicegate.gateway import Gateway, GatewaySource
from sluicegate.server.runner import RunningServer, start_server
from sluicegate.testing import FakeUpstream, openai_chat_completion
from sluicegate.testing.gateway import running_gateway
from sluicegate_mock import MockOptions, MockProvider

ADMIN_TOKEN = "admin-token-for-tests-0123456789"
CLIENT_TOKEN = "client-token-for-tests-0123"
VENDOR_KEY = "sk-vendor-key-from-env-000111"
LITERAL_IN_FILE = "sk-literal-in-file-0000aaaa"
ENV = {"ADMIN_TOKEN": ADMIN_TOKEN, "GATEWAY_TOKEN": CLIENT_TOKEN, "VENDOR_KEY": VENDOR_KEY}

CONFIG = f'''\
# Test config: every comment here must survive the admin edits.
[auth]
tokens = ["${{GATEWAY_TOKEN}}"]

[admin]
token = "${{ADMIN_TOKEN}}"   # the admin token

# The offline provider.
[providers.mock]
type = "mock"
reply = "from mock"   # a fixed answer
models = ["echo-1"]

# A vendor whose key variable is not set.
[providers.unset]
type = "openai"
base_url = "https://unset.example/v1?key=in-the-query"
api_key = "${{UNSET_KEY}}"

# A vendor with a literal key in the file.
[providers.lit]
type = "openai"
base_url = "https://lit.example/v1"
api_key = "{LITERAL_IN_FILE}"
headers = {{ X-Team = "ops-team-secret" }}

# --- aliases ---

[models.echo]
targets = ["mock/echo-1"]   # the mock answers

[models.lit]
targets = ["lit/gpt-4o-mini"]

# [models.commented]
# targets = ["mock/x"]
'''


@define
class Admin:
    server: RunningServer
    path: Path
    http: aiohttp.ClientSession

    @property
    def gateway(self) -> Gateway:
        return self.server.gateway

    async def call(self, method: str, route: str, body: Any = None, *, token: str | None = ADMIN_TOKEN,
                   raw: bytes | None = None) -> tuple[int, Any, str]:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        kwargs: dict[str, Any] = {"data": raw} if raw is not None else {"json": body} if body is not None else {}
        async with self.http.request(method, self.server.base_url + route, headers=headers, **kwargs) as response:
            text = await response.text()
            data = await response.json(content_type=None) if "json" in response.content_type else None
            return response.status, data, text

    def client(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=self.server.base_url + "/v1", api_key=CLIENT_TOKEN, max_retries=0)

    async def chat(self, model: str) -> str:
        async with self.client() as client:
            answer = await client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
        return answer.choices[0].message.content

    async def model_ids(self) -> list[str]:
        async with self.client() as client:
            return [model.id async for model in client.models.list()]


async def start_admin(tmp_path: Path, text: str = CONFIG, **source: Any):
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    gateway = Gateway(GatewaySource(path=str(path), env=dict(ENV), **source))
    server = await start_server(gateway, "127.0.0.1", 0, shutdown_grace=0)
    return server, path


@pytest_asyncio.fixture
async def admin(tmp_path):
    server, path = await start_admin(tmp_path)
    async with aiohttp.ClientSession() as http:
        try:
            yield Admin(server, path, http)
        finally:
            await server.stop()


def provider(config: dict, provider_id: str) -> dict:
    return next(entry for entry in config["providers"] if entry["id"] == provider_id)


def assert_openai_error(data: dict, code: str) -> None:
    assert set(data["error"]) >= {"message", "type", "param", "code"}
    assert data["error"]["code"] == code


# -- auth ------------------------------------------------------------------------------------


async def test_admin_routes_need_the_admin_token(admin):
    status, data, _ = await admin.call("GET", "/admin/api/config", token=None)
    assert status == 401
    assert_openai_error(data, "missing_admin_token")

    for wrong in ["not-the-admin-token", CLIENT_TOKEN, ADMIN_TOKEN[:-1], ADMIN_TOKEN + "x"]:
        for route, method in [("/admin/api/config", "GET"), ("/admin/reload", "POST"),
                              ("/admin/api/providers/mock", "DELETE")]:
            status, data, text = await admin.call(method, route, token=wrong)
            assert status == 401, (route, wrong)
            assert_openai_error(data, "invalid_admin_token")
            assert wrong not in text
        # A right token clears this address's count of wrong ones (test_admin_throttle.py).
        assert (await admin.call("GET", "/admin/api/status"))[0] == 200

    async with admin.http.get(admin.server.base_url + "/admin/api/config",
                              headers={"Authorization": f"Basic {ADMIN_TOKEN}"}) as response:
        assert response.status == 401
    status, _, _ = await admin.call("GET", "/admin/api/config")
    assert status == 200
    assert "[providers.mock]" in admin.path.read_text()  # nothing was deleted by the refused calls

    # The page itself loads without a token: it asks for one.
    async with admin.http.get(admin.server.base_url + "/admin") as response:
        assert response.status == 200
        page = await response.text()
        assert 'type="password"' in page and "Sign in" in page
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]


# -- reading ---------------------------------------------------------------------------------


async def test_config_lists_providers_aliases_and_live_state_without_secrets(admin):
    assert await admin.chat("echo") == "from mock"  # the breaker of mock/echo-1 now exists
    status, config, text = await admin.call("GET", "/admin/api/config")
    assert status == 200
    assert config["path"] == str(admin.path) and config["editable"] is True
    assert config["last_reload"]["ok"] is True
    assert [p["id"] for p in config["providers"]] == ["mock", "unset", "lit"]

    mock = provider(config, "mock")
    assert mock["type"] == "mock" and mock["models"] == ["echo-1"] and mock["key"] is None
    assert mock["options"] == {"reply": "from mock"}
    assert mock["configured"] is True and mock["targets"] == {"mock/echo-1": "closed"}
    # The numbers /health shows: one call in the last minute, no error.
    assert (mock["traffic"]["calls_1m"], mock["traffic"]["errors_1m"], mock["traffic"]["breaker"]) == (1, 0, "closed")

    unset = provider(config, "unset")
    assert unset["traffic"]["calls_1m"] == 0
    assert unset["key"] == {"env": "UNSET_KEY", "set": False}
    assert unset["configured"] is False and "UNSET_KEY is not set" in unset["reason"]
    assert unset["base_url"] == "https://unset.example/v1?key=***"

    lit = provider(config, "lit")
    assert lit["key"] == {"literal": True}
    assert lit["options"]["headers"] == {"X-Team": {"literal": True}}

    assert [(m["alias"], m["targets"]) for m in config["models"]] == [
        ("echo", ["mock/echo-1"]), ("lit", ["lit/gpt-4o-mini"])]
    assert "mock" in config["provider_types"] and "openai" in config["provider_types"]
    for secret in [LITERAL_IN_FILE, "ops-team-secret", "in-the-query", ADMIN_TOKEN, CLIENT_TOKEN]:
        assert secret not in text

    status, state, text = await admin.call("GET", "/admin/api/status")
    assert status == 200 and state["last_reload"]["ok"] is True
    assert state["providers"]["unset"]["configured"] is False
    assert state["providers"]["unset"]["base_url"] == "https://unset.example/v1?key=***"
    assert "in-the-query" not in text and LITERAL_IN_FILE not in text


# -- writing ---------------------------------------------------------------------------------


def assert_only_added(before: str, after: str) -> None:
    """Every line of ``before`` is still in ``after``, in order (comments included)."""
    remaining = iter(after.splitlines())
    for line in before.splitlines():
        assert any(candidate == line for candidate in remaining), f"lost line: {line!r}"


async def test_added_provider_with_env_key_serves_after_the_reload(admin):
    async with FakeUpstream() as upstream:
        upstream.json("/v1/chat/completions", openai_chat_completion("from the new vendor"))
        before = admin.path.read_text()
        status, data, text = await admin.call("POST", "/admin/api/providers", {
            "id": "vendor", "type": "openai", "base_url": upstream.url + "/v1", "api_key_env": "VENDOR_KEY",
            "models": ["gpt-4o-mini"], "timeout": 20,
        })
        assert status == 201, data
        assert VENDOR_KEY not in text
        assert provider(data["config"], "vendor")["key"] == {"env": "VENDOR_KEY", "set": True}
        after = admin.path.read_text()
        assert 'api_key = "${VENDOR_KEY}"' in after
        assert tomllib.loads(after)["providers"]["vendor"]["timeout"] == 20
        assert_only_added(before, after)

        status, data, _ = await admin.call("POST", "/admin/api/models", {"alias": "fresh",
                                                                           "targets": ["vendor/gpt-4o-mini"]})
        assert status == 201, data
        assert await admin.chat("fresh") == "from the new vendor"
        assert await admin.chat("vendor/gpt-4o-mini") == "from the new vendor"
        sent = upstream.calls("/v1/chat/completions")
        assert [call.headers["Authorization"] for call in sent] == [f"Bearer {VENDOR_KEY}"] * 2
        assert admin.gateway.last_reload.ok is True


async def test_a_key_is_written_only_as_asked_and_never_echoed(admin):
    status, data, _ = await admin.call("POST", "/admin/api/providers", {"id": "nokey", "type": "openai"})
    assert status == 201
    assert tomllib.loads(admin.path.read_text())["providers"]["nokey"] == {"type": "openai"}
    entry = provider(data["config"], "nokey")
    assert entry["key"] is None and entry["serving"] is True

    async with FakeUpstream() as upstream:
        upstream.json("/v1/chat/completions", openai_chat_completion("literal works"))
        literal = "sk-lit$eral-given-explicitly-42"  # a "$" must not be read as a variable
        status, data, text = await admin.call("PATCH", "/admin/api/providers/nokey",
                                              {"api_key": literal, "base_url": upstream.url + "/v1"})
        assert status == 200, data
        assert literal not in text and "sk-lit" not in text
        assert provider(data["config"], "nokey")["key"] == {"literal": True}
        assert 'api_key = "sk-lit$$eral-given-explicitly-42"' in admin.path.read_text()
        assert await admin.chat("nokey/gpt-4o-mini") == "literal works"
        assert upstream.requests[-1].headers["Authorization"] == f"Bearer {literal}"


async def test_put_replaces_patch_changes_and_comments_stay(admin):
    status, data, _ = await admin.call("PATCH", "/admin/api/providers/mock", {"models": ["m1", "m2"]})
    assert status == 200, data
    text = admin.path.read_text()
    assert 'reply = "from mock"   # a fixed answer' in text
    assert "# The offline provider." in text
    assert {"mock/m1", "mock/m2"} <= set(await admin.model_ids())

    status, data, _ = await admin.call("PUT", "/admin/api/providers/mock",
                                       {"type": "mock", "reply": "replaced", "models": ["m1"]})
    assert status == 200, data
    assert tomllib.loads(admin.path.read_text())["providers"]["mock"] == {
        "type": "mock", "reply": "replaced", "models": ["m1"]}
    assert await admin.chat("echo") == "replaced"

    status, data, _ = await admin.call("PUT", "/admin/api/models/echo",
                                       {"targets": ["mock/m1"], "strategy": "weighted", "weights": [1]})
    assert status == 200, data
    echo = next(m for m in data["config"]["models"] if m["alias"] == "echo")
    assert echo["targets"] == ["mock/m1"] and echo["strategy"] == "weighted"
    status, data, _ = await admin.call("PATCH", "/admin/api/models/echo", {"strategy": None, "weights": None})
    assert status == 200, data
    assert tomllib.loads(admin.path.read_text())["models"]["echo"] == {"targets": ["mock/m1"]}
    assert "# [models.commented]" in admin.path.read_text()


async def test_delete_alias_then_provider(admin):
    admin.path.chmod(0o604)
    status, data, _ = await admin.call("DELETE", "/admin/api/models/lit")
    assert status == 200, data
    status, data, _ = await admin.call("DELETE", "/admin/api/providers/lit")
    assert status == 200, data
    text = admin.path.read_text()
    assert "[providers.lit]" not in text and "[models.lit]" not in text
    assert "# A vendor with a literal key in the file." not in text  # its own comment went with it
    assert "# --- aliases ---" in text and "# A vendor whose key variable is not set." in text
    assert [p["id"] for p in data["config"]["providers"]] == ["mock", "unset"]
    assert admin.path.stat().st_mode & 0o777 == 0o604  # the replaced file keeps its mode
    assert [entry.name for entry in admin.path.parent.iterdir()] == ["gateway.toml"]  # no temp files left
    assert "lit" not in await admin.model_ids()


@pytest.mark.parametrize(
    ("method", "route", "body", "path", "message"),
    [
        ("POST", "/admin/api/providers", {"id": "x", "type": "nope"}, "providers.x.type",
         "unknown provider type 'nope'"),
        ("POST", "/admin/api/models", {"alias": "x", "targets": ["ghost/m"]}, "models.x.targets[0]",
         "unknown provider 'ghost'"),
        ("DELETE", "/admin/api/providers/lit", None, "models.lit.targets[0]", "unknown provider 'lit'"),
        ("PATCH", "/admin/api/providers/mock", {"timeout": "soon"}, "providers.mock.timeout",
         "expected a number"),
        ("PUT", "/admin/api/models/echo", {"strategy": "ordered"}, "models.echo.targets", "is required"),
    ],
)
async def test_a_bad_change_is_refused_with_the_configs_own_message(admin, method, route, body, path, message):
    before = admin.path.read_bytes()
    status, data, _ = await admin.call(method, route, body)
    assert status == 400
    assert data["ok"] is False
    assert_openai_error(data, "config_invalid")
    assert any(p["path"] == path and message in p["message"] for p in data["problems"]), data["problems"]
    assert admin.path.read_bytes() == before
    assert await admin.chat("echo") == "from mock"


@pytest.mark.parametrize(
    ("method", "route", "body", "status", "code"),
    [
        ("POST", "/admin/api/providers", {"id": "a/b", "type": "mock"}, 400, "invalid_name"),
        ("POST", "/admin/api/providers", {"type": "mock"}, 400, "invalid_name"),
        ("POST", "/admin/api/providers", {"id": 7, "type": "mock"}, 400, "invalid_name"),
        ("POST", "/admin/api/providers", ["not", "an", "object"], 400, "invalid_json"),
        ("POST", "/admin/api/providers", {"id": "n", "type": None}, 400, "invalid_value"),
        ("POST", "/admin/api/providers", {"id": "n", "type": "mock", "bad key": 1}, 400, "invalid_name"),
        ("POST", "/admin/api/providers", {"id": "n", "type": "openai", "api_key": "sk-a", "api_key_env": "A"},
         400, "invalid_value"),
        ("POST", "/admin/api/providers", {"id": "n", "type": "openai", "api_key_env": "not a name"},
         400, "invalid_value"),
        ("POST", "/admin/api/providers", {"id": "n", "type": "openai", "api_key": "${SNEAKY}"}, 400,
         "invalid_value"),
        ("POST", "/admin/api/providers", {"id": "mock", "type": "mock"}, 409, "already_exists"),
        ("PUT", "/admin/api/providers/mock", {"id": "other", "type": "mock"}, 400, "invalid_name"),
        ("PATCH", "/admin/api/providers/ghost", {"timeout": 1}, 404, "not_found"),
        ("DELETE", "/admin/api/models/ghost", None, 404, "not_found"),
        ("POST", "/admin/api/models", {"alias": "has space", "targets": ["mock/m"]}, 400, "invalid_name"),
        ("POST", "/admin/api/models", {"alias": "deep", "targets": [[[["x"]]]]}, 400, "invalid_value"),
    ],
)
async def test_malformed_requests_get_clear_errors(admin, method, route, body, status, code):
    before = admin.path.read_bytes()
    got, data, text = await admin.call(method, route, body)
    assert got == status, data
    assert_openai_error(data, code)
    assert "Traceback" not in text
    assert admin.path.read_bytes() == before


async def test_bodies_that_are_not_json_or_too_big(admin):
    before = admin.path.read_bytes()
    status, data, _ = await admin.call("POST", "/admin/api/providers", raw=b"{not json")
    assert status == 400
    assert_openai_error(data, "invalid_json")
    status, data, _ = await admin.call("POST", "/admin/api/providers", raw=b'{"id": "' + b"x" * 300_000 + b'"}')
    assert status == 413
    assert_openai_error(data, "request_too_large")
    assert admin.path.read_bytes() == before


async def test_concurrent_writes_all_land(admin):
    results = await asyncio.gather(*[
        admin.call("POST", "/admin/api/providers", {"id": f"p{i}", "type": "mock"}) for i in range(5)])
    assert [status for status, _, _ in results] == [201] * 5
    providers = tomllib.loads(admin.path.read_text())["providers"]
    assert {f"p{i}" for i in range(5)} <= set(providers)
    assert {f"p{i}" for i in range(5)} <= set(admin.gateway.current.providers)


# -- reload ----------------------------------------------------------------------------------


async def test_reload_refuses_a_broken_file_and_the_old_config_serves(admin):
    admin.path.write_text(CONFIG.replace("[models.lit]", "[bogus]\n[models.lit2]"))
    status, data, _ = await admin.call("POST", "/admin/reload")
    assert status == 422
    assert data["ok"] is False
    assert_openai_error(data, "config_invalid")
    assert {"path": "bogus", "message": "unknown table"} in data["problems"]
    assert await admin.chat("echo") == "from mock"
    assert "lit2" not in await admin.model_ids()
    status, config, _ = await admin.call("GET", "/admin/api/config")
    assert config["last_reload"]["ok"] is False
    assert {"path": "bogus", "message": "unknown table"} in config["last_reload"]["problems"]

    admin.path.write_text(CONFIG.replace("[models.lit]", "[models.lit2]"))
    status, data, _ = await admin.call("POST", "/admin/reload")
    assert (status, data["ok"], data["problems"]) == (200, True, [])
    assert "lit2" in await admin.model_ids()


async def test_a_reload_whose_asker_leaves_still_completes(admin, monkeypatch):
    """Closing the tab mid-reload must not cancel the reload half way (the UI test saw it)."""
    admin.path.write_text(CONFIG.replace("[models.lit]", "[models.lit2]"))
    load = GatewaySource.load
    started = threading.Event()

    def slow_load(self):
        started.set()
        time.sleep(0.3)  # in the executor: the client gives up meanwhile
        return load(self)

    monkeypatch.setattr(GatewaySource, "load", slow_load)
    with pytest.raises(asyncio.TimeoutError):
        async with asyncio.timeout(0.1):
            await admin.call("POST", "/admin/reload")
    assert started.is_set()
    for _ in range(100):
        if admin.gateway.last_reload.at:
            break
        await asyncio.sleep(0.02)
    assert admin.gateway.last_reload.ok is True
    assert "lit2" in await admin.model_ids()


async def test_a_file_that_is_not_toml_is_reported_and_not_edited(admin):
    broken = CONFIG.replace("[models.lit]", "[models.lit")
    admin.path.write_text(broken)
    status, config, _ = await admin.call("GET", "/admin/api/config")
    assert status == 200
    assert "not valid TOML" in config["file_problem"]
    assert "(at line 32, column 12)" in config["file_problem"]  # where, for the page to show
    assert [p["id"] for p in config["providers"]] == ["mock", "unset", "lit"]  # what is serving
    assert [p["key"] for p in config["providers"]] == [None, {"set": False}, {"set": True}]
    status, data, _ = await admin.call("POST", "/admin/api/providers", {"id": "x", "type": "mock"})
    assert status == 400
    assert_openai_error(data, "config_invalid")
    assert "not valid TOML" in data["error"]["message"]
    assert admin.path.read_text() == broken


async def test_reload_signals_the_supervisor(admin, monkeypatch):
    # A stand-in supervisor: it reports the SIGHUP it receives.
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c",
        "import signal, sys, time\n"
        "signal.signal(signal.SIGHUP, lambda *_: (print('hup', flush=True), sys.exit(0)))\n"
        "print('ready', flush=True)\n"
        "time.sleep(30)\n",
        stdout=subprocess.PIPE)
    try:
        assert (await child.stdout.readline()).strip() == b"ready"
        monkeypatch.setenv("SLUICEGATE_SUPERVISOR_PID", str(child.pid))
        status, data, _ = await admin.call("POST", "/admin/reload")
        assert status == 200 and data["ok"] is True
        out = await asyncio.wait_for(child.stdout.read(), 10)
        assert out.strip() == b"hup"
        assert await child.wait() == 0
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()


# -- a provider that refuses at build time -----------------------------------------------------


class Picky:
    """A provider type whose factory refuses any base_url: valid TOML the gateway cannot build."""

    @hookimpl
    def register_providers(self, register):
        def make(*, name, options, services):
            if options.base_url:
                raise ConfigError([ConfigProblem("base_url", "picky providers take no base_url")])
            return MockProvider(name, options, services)

        register("picky", make, options=MockOptions)


async def test_a_config_the_gateway_cannot_build_puts_the_old_file_back(tmp_path):
    server, path = await start_admin(tmp_path, extra_plugins=[("picky", Picky())])
    try:
        async with aiohttp.ClientSession() as http:
            admin = Admin(server, path, http)
            before = path.read_bytes()
            status, data, _ = await admin.call("POST", "/admin/api/providers",
                                               {"id": "p", "type": "picky", "base_url": "https://x.example"})
            assert status == 400, data
            assert {"path": "providers.p.base_url", "message": "picky providers take no base_url"} in data["problems"]
            assert path.read_bytes() == before
            status, data, _ = await admin.call("POST", "/admin/api/providers", {"id": "p", "type": "picky"})
            assert status == 201, data
            assert "p" in admin.gateway.current.providers
    finally:
        await server.stop()


# -- admin off -------------------------------------------------------------------------------


async def test_without_admin_table_every_admin_route_is_404(tmp_path):
    server, path = await start_admin(tmp_path, CONFIG.replace('[admin]\ntoken = "${ADMIN_TOKEN}"', ""))
    try:
        async with aiohttp.ClientSession() as http:
            admin = Admin(server, path, http)
            for method, route in [("GET", "/admin"), ("GET", "/admin/"), ("GET", "/admin/api/config"),
                                  ("POST", "/admin/reload"), ("GET", "/admin/reload"),
                                  ("DELETE", "/admin/api/providers/mock"), ("GET", "/admin/static/admin.js")]:
                status, data, _ = await admin.call(method, route)
                assert status == 404, (method, route)
                assert_openai_error(data, "not_found")
            assert "[providers.mock]" in path.read_text()
    finally:
        await server.stop()


async def test_an_unset_admin_token_keeps_admin_off_with_a_warning(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    server, path = await start_admin(tmp_path, CONFIG.replace("${ADMIN_TOKEN}", "${NO_SUCH_ADMIN_TOKEN}"))
    try:
        async with aiohttp.ClientSession() as http:
            status, data, _ = await Admin(server, path, http).call("GET", "/admin/api/config", token="")
            assert status == 404
        assert "NO_SUCH_ADMIN_TOKEN is not set" in caplog.text and "admin API and UI stay off" in caplog.text
    finally:
        await server.stop()


async def test_a_reload_can_switch_admin_on(tmp_path):
    off = CONFIG.replace('[admin]\ntoken = "${ADMIN_TOKEN}"', "")
    server, path = await start_admin(tmp_path, off)
    try:
        async with aiohttp.ClientSession() as http:
            admin = Admin(server, path, http)
            assert (await admin.call("GET", "/admin/api/config"))[0] == 404
            path.write_text(CONFIG)
            assert await admin.gateway.reload() is True
            assert (await admin.call("GET", "/admin/api/config"))[0] == 200
    finally:
        await server.stop()


async def test_an_in_memory_config_can_be_read_but_not_edited():
    text = CONFIG.replace("${ADMIN_TOKEN}", ADMIN_TOKEN)
    async with running_gateway(text, env=ENV) as server, aiohttp.ClientSession() as http:
        admin = Admin(server, Path("/nonexistent"), http)
        status, config, _ = await admin.call("GET", "/admin/api/config")
        assert status == 200 and config["editable"] is False and config["path"] is None
        assert [p["id"] for p in config["providers"]] == ["mock", "unset", "lit"]
        status, data, _ = await admin.call("POST", "/admin/api/providers", {"id": "x", "type": "mock"})
        assert status == 409
        assert_openai_error(data, "config_not_editable")
