"""Provider ``headers`` that HTTP cannot carry are config errors, not a 500 on every request.

A header name must be an RFC 7230 token; a value must hold no CR, LF, NUL or other control
character. Checked by the config itself, so a hand-edited gateway.toml (reload, ``sluicegate
check``) and the admin API refuse them alike, naming the header and never showing its value.
"""

from __future__ import annotations

import json

import aiohttp
import pytest

from sluicegate.cli import main as cli_main
from sluicegate.config.loader import load_config_text
from sluicegate.errors import ConfigError
from sluicegate.gateway import Gateway, GatewaySource
from sluicegate.server.runner import start_server
from sluicegate.testing import FakeUpstream, openai_chat_completion

ADMIN_TOKEN = "admin-token-headers-0123456789abc"
HIDDEN = "value-that-must-stay-hidden"


def provider_table(headers: str, base_url: str = "https://vendor.example/v1") -> str:
    return (f'[providers.vendor]\ntype = "openai"\nbase_url = "{base_url}"\napi_key = "sk-test-0000"\n'
            f"headers = {headers}\n")


def problems_of(headers: str, env: dict[str, str] | None = None) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        load_config_text(provider_table(headers), env=env or {})
    return [(p.path, p.message) for p in caught.value.problems]


@pytest.mark.parametrize("headers, shown", [
    ('{ "X-Team" = "ops\\r\\nInjected: yes' + HIDDEN + '" }', "'X-Team'"),
    ('{ "X-Team" = "ops\\n' + HIDDEN + '" }', "'X-Team'"),
    ('{ "X-Team" = "ops\\u0000' + HIDDEN + '" }', "'X-Team'"),
    ('{ "X-Team" = "ops\\u001b[31m' + HIDDEN + '" }', "'X-Team'"),
    ('{ "X-Team" = "ops\\u007f' + HIDDEN + '" }', "'X-Team'"),
])
def test_a_header_value_with_a_line_break_or_control_character_is_a_config_error(headers, shown):
    [(path, message)] = problems_of(headers)
    assert path.startswith("providers.vendor")
    assert shown in message and "line break or control character" in message
    assert HIDDEN not in message and "ops" not in message


@pytest.mark.parametrize("name", ["X Team", "X-Team:", "X-Team\\r\\nInjected", "", "Tëam", "X(Team)"])
def test_a_header_name_that_is_not_a_token_is_a_config_error(name):
    [(path, message)] = problems_of('{ "' + name + '" = "ok" }')
    assert path.startswith("providers.vendor")
    assert "is not a valid HTTP header name" in message


def test_a_value_from_the_environment_is_checked_too():
    [(_, message)] = problems_of('{ "X-Key" = "${HDR}" }', env={"HDR": "abc\r\nEvil: 1" + HIDDEN})
    assert "'X-Key'" in message and HIDDEN not in message


def test_ordinary_headers_are_accepted():
    config = load_config_text(provider_table(
        '{ "X-Team" = "ops team\\tone", "anthropic-beta" = "a,b", "X_Odd.Name~1" = "ünïcode", "X-Empty" = "" }'),
        env={}).config
    assert sorted(config.providers["vendor"].headers) == ["X-Empty", "X-Team", "X_Odd.Name~1", "anthropic-beta"]


def test_sluicegate_check_lists_the_header(tmp_path, capsys):
    path = tmp_path / "gateway.toml"
    path.write_text(provider_table('{ "X-Team" = "a\\r\\nb" }'))
    assert cli_main(["check", "--config", str(path)]) == 1
    out = capsys.readouterr()
    assert "providers.vendor" in out.err + out.out and "'X-Team'" in out.err + out.out
    assert "Traceback" not in out.err + out.out


@pytest.fixture
async def site(tmp_path):
    async with FakeUpstream() as upstream:
        upstream.json("/v1/chat/completions", openai_chat_completion("fine"))
        text = f'[admin]\ntoken = "{ADMIN_TOKEN}"\n\n' + provider_table('{ "X-Team" = "ops" }', upstream.url + "/v1")
        path = tmp_path / "gateway.toml"
        path.write_text(text)
        gateway = Gateway(GatewaySource(path=str(path), env={}))
        server = await start_server(gateway, "127.0.0.1", 0, shutdown_grace=0)
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as http:
            try:
                yield server, http, path, upstream
            finally:
                await server.stop()


async def chat(server, http) -> int:
    async with http.post(server.base_url + "/v1/chat/completions",
                         json={"model": "vendor/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}) as r:
        await r.read()
        return r.status


async def test_a_hand_edited_file_with_a_bad_header_is_refused_and_the_old_config_serves(site):
    server, http, path, upstream = site
    path.write_text(path.read_text().replace('"X-Team" = "ops"', '"X-Team" = "ops\\r\\nX-Injected: 1"'))
    async with http.post(server.base_url + "/admin/reload") as response:
        assert response.status == 422
        data = await response.json()
    [problem] = data["problems"]
    assert problem["path"].startswith("providers.vendor") and "'X-Team'" in problem["message"]
    assert "X-Injected" not in json.dumps(data)
    assert await chat(server, http) == 200  # the old config, not a 500
    assert upstream.calls("/v1/chat/completions")[-1].headers["X-Team"] == "ops"


@pytest.mark.parametrize("method, route, body, code", [
    ("POST", "/admin/api/providers",
     {"id": "other", "type": "openai", "base_url": "https://o.example/v1", "headers": {"X-Team": "a\r\nb"}},
     "config_invalid"),
    ("PATCH", "/admin/api/providers/vendor", {"headers": {"X-Team": "ops\r\nX-Injected: 1"}}, "config_invalid"),
    # A name that is no header name is refused by the body check itself, naming the field.
    ("PATCH", "/admin/api/providers/vendor", {"headers": {"X Team": "ops"}}, "invalid_name"),
    ("PUT", "/admin/api/providers/vendor",
     {"type": "openai", "base_url": "https://o.example/v1", "headers": {"X-Team": "\u0000"}}, "config_invalid"),
])
async def test_the_admin_api_refuses_a_bad_header_naming_it(site, method, route, body, code):
    server, http, path, _ = site
    before = path.read_bytes()
    async with http.request(method, server.base_url + route, json=body) as response:
        assert response.status == 400
        data = await response.json()
    assert data["error"]["code"] == code
    name = next(iter(body["headers"]))
    assert repr(name) in data["error"]["message"]
    assert "X-Injected" not in json.dumps(data)
    assert path.read_bytes() == before
    assert await chat(server, http) == 200
