"""What the console's provider form needs from the admin API, through the real server on a real
gateway.toml: the options of every installed provider type (GET /admin/api/provider-types), and
editing a provider's headers where the values the console never sees are kept as written
(``{"keep": true}``), never shown back.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from served_gateway import serving

from sluicegate.secrets import Secret
from sluicegate.testing import FakeUpstream, openai_chat_completion
from sluicegate_admin.provider_schema import option_kind

ADMIN_TOKEN = "admin-token-for-form-tests-0123456789"
VIEWER_TOKEN = "viewer-token-for-form-tests-987654321"
CLIENT_TOKEN = "client-token-for-form-tests-0123"
HEADER_SECRET = "hdr-secret-value-0011223344556677"
ENV = {"ADMIN_TOKEN": ADMIN_TOKEN, "VIEWER_TOKEN": VIEWER_TOKEN, "GATEWAY_TOKEN": CLIENT_TOKEN,
       "HEADER_SECRET": HEADER_SECRET}

CONFIG = '''\
# Form test config.
[auth]
tokens = ["${{GATEWAY_TOKEN}}"]

[admin]
token = "${{ADMIN_TOKEN}}"
viewer_token = "${{VIEWER_TOKEN}}"

# A vendor behind a fake upstream, with a header holding a secret.
[providers.vendor]
type = "openai"
base_url = "{upstream}/v1"
models = ["gpt-4o-mini"]
headers = {{ "X-Vendor-Key" = "${{HEADER_SECRET}}", "X-Literal" = "literal-header-value-98765" }}

[models.chat]
targets = ["vendor/gpt-4o-mini"]
'''


class Site:
    def __init__(self, base_url: str, path: Path, http: aiohttp.ClientSession, upstream: FakeUpstream) -> None:
        self.base_url, self.path, self.http, self.upstream = base_url, path, http, upstream
        self.seen: list[str] = []

    async def call(self, method: str, route: str, body: Any = None, token: str = ADMIN_TOKEN) -> tuple[int, Any]:
        kwargs = {"json": body} if body is not None else {}
        async with self.http.request(method, self.base_url + route, headers={"Authorization": f"Bearer {token}"},
                                     **kwargs) as response:
            text = await response.text()
            self.seen.append(text)
            return response.status, await response.json(content_type=None)

    def table(self) -> dict[str, Any]:
        return tomllib.loads(self.path.read_text())["providers"]["vendor"]


@pytest_asyncio.fixture
async def site(tmp_path):
    async with FakeUpstream() as upstream, \
            serving(tmp_path, CONFIG.format(upstream=upstream.url), ENV) as (server, path), \
            aiohttp.ClientSession() as http:
        yield Site(server.base_url, path, http, upstream)


# -- provider types ------------------------------------------------------------------------------


@pytest.mark.parametrize(("hint", "expected"), [
    (float, ("number", False)), (float | None, ("number", True)), (int | None, ("integer", True)),
    (bool, ("boolean", False)), (bool | None, ("boolean", True)), (str, ("string", False)),
    (Secret | None, ("secret", True)), (list[str], ("list", False)), (dict[str, Secret], ("headers", False)),
    (dict[str, int], ("json", False)), (int | str, ("json", False)),
])
def test_each_option_type_gets_its_input_kind(hint, expected):
    assert option_kind(hint) == expected


async def test_every_installed_type_lists_its_options_with_kind_default_and_help(site):
    status, data = await site.call("GET", "/admin/api/provider-types")
    assert status == 200
    types = {row["type"]: row for row in data["data"]}
    assert {"openai", "anthropic", "dashscope", "mock"} <= set(types)
    openai = {option["name"]: option for option in types["openai"]["options"]}
    # What every provider accepts, with the right input kinds and the config's defaults.
    assert openai["timeout"] | {"help": None} == {
        "name": "timeout", "kind": "number", "nullable": False, "required": False, "default": 600.0,
        "help": None, "type_specific": False}
    assert openai["timeout"]["help"].startswith("Seconds")
    for name in ("connect_timeout", "first_byte_timeout", "idle_timeout"):
        assert (openai[name]["kind"], openai[name]["nullable"], openai[name]["default"]) == ("number", True, None)
    assert (openai["max_output_tokens"]["kind"], openai["max_output_tokens"]["nullable"]) == ("integer", True)
    assert (openai["headers"]["kind"], openai["headers"]["default"]) == ("headers", {})
    assert (openai["api_key"]["kind"], openai["api_key"]["default"]) == ("secret", None)
    assert openai["type"]["required"] is True
    # The type's own options, marked as such.
    assert openai["organization"]["type_specific"] and openai["organization"]["kind"] == "string"
    assert (openai["responses"]["kind"], openai["responses"]["nullable"]) == ("boolean", True)
    anthropic = {option["name"]: option for option in types["anthropic"]["options"]}
    assert (anthropic["version"]["default"], anthropic["beta"]["kind"]) == ("2023-06-01", "list")
    dashscope = {option["name"]: option for option in types["dashscope"]["options"]}
    assert dashscope["workspace"]["type_specific"] and "workspace" not in openai
    mock = {option["name"]: option for option in types["mock"]["options"]}
    assert (mock["fail_rate"]["kind"], mock["fail_rate"]["default"]) == ("number", 0.0)
    # A read: the viewer may see it too.
    status, _ = await site.call("GET", "/admin/api/provider-types", token=VIEWER_TOKEN)
    assert status == 200


async def test_provider_types_need_the_admin_or_viewer_token(site):
    status, data = await site.call("GET", "/admin/api/provider-types", token="wrong-token")
    assert (status, data["error"]["code"]) == (401, "invalid_admin_token")


# -- editing options and headers ---------------------------------------------------------------


async def test_a_patch_sets_timeouts_and_keeps_the_header_values_it_is_not_sent(site):
    status, data = await site.call("PATCH", "/admin/api/providers/vendor", {
        "timeout": 42.5, "connect_timeout": 3, "idle_timeout": None, "max_output_tokens": 8192,
        "headers": {"X-Vendor-Key": {"keep": True}, "X-Team": "research"}})
    assert status == 200, data
    table = site.table()
    assert (table["timeout"], table["connect_timeout"], table["max_output_tokens"]) == (42.5, 3, 8192)
    # Kept as written: still a reference, not the resolved secret; X-Literal was dropped.
    assert table["headers"] == {"X-Vendor-Key": "${HEADER_SECRET}", "X-Team": "research"}
    assert "# Form test config." in site.path.read_text()
    # The gateway serves it: the upstream gets both headers.
    site.upstream.json("/v1/chat/completions", openai_chat_completion("hi"))
    status, _ = await site.call("POST", "/v1/chat/completions",
                                {"model": "chat", "messages": [{"role": "user", "content": "x"}]}, token=CLIENT_TOKEN)
    assert status == 200
    sent = {k.lower(): v for k, v in site.upstream.calls("/v1/chat/completions")[-1].headers.items()}
    assert (sent["x-vendor-key"], sent["x-team"]) == (HEADER_SECRET, "research")
    # The view names the headers and masks every value.
    status, data = await site.call("GET", "/admin/api/config")
    vendor = next(p for p in data["providers"] if p["id"] == "vendor")
    assert vendor["options"]["headers"] == {"X-Vendor-Key": {"env": "HEADER_SECRET", "set": True},
                                            "X-Team": {"literal": True}}
    assert not any(HEADER_SECRET in text or "literal-header-value" in text for text in site.seen)


async def test_keeping_a_header_the_file_does_not_have_is_refused_naming_it(site):
    before = site.path.read_bytes()
    status, data = await site.call("PATCH", "/admin/api/providers/vendor", {"headers": {"X-Nope": {"keep": True}}})
    assert (status, data["error"]["param"], data["error"]["code"]) == (400, "headers.X-Nope", "invalid_value")
    assert site.path.read_bytes() == before


@pytest.mark.parametrize(("headers", "param", "code"), [
    ({"bad name": "v"}, "headers", "invalid_name"),
    ({"X-Empty": ""}, "headers.X-Empty", "invalid_value"),
    ({"X-Number": 5}, "headers.X-Number", "invalid_value"),
    ({"X-Table": {"keep": False}}, "headers.X-Table", "invalid_value"),
    (["X-List"], "headers", "invalid_value"),
])
async def test_bad_headers_are_refused_naming_the_field_and_never_echoing_values(site, headers, param, code):
    before = site.path.read_bytes()
    status, data = await site.call("PATCH", "/admin/api/providers/vendor", {"headers": headers})
    assert (status, data["error"]["param"], data["error"]["code"]) == (400, param, code)
    assert site.path.read_bytes() == before


async def test_a_new_provider_has_no_header_to_keep_and_null_removes_them_all(site):
    status, data = await site.call("POST", "/admin/api/providers", {
        "id": "other", "type": "mock", "headers": {"X-Keep": {"keep": True}}})
    assert (status, data["error"]["param"]) == (400, "headers.X-Keep")
    status, data = await site.call("POST", "/admin/api/providers", {
        "id": "other", "type": "mock", "headers": {"X-Given": "value-1"}})
    assert status == 201, data
    status, data = await site.call("PATCH", "/admin/api/providers/vendor", {"headers": None})
    assert status == 200, data
    assert "headers" not in site.table()


async def test_a_put_keeps_a_header_too(site):
    status, data = await site.call("PUT", "/admin/api/providers/vendor", {
        "type": "openai", "base_url": site.upstream.url + "/v1", "first_byte_timeout": 7,
        "headers": {"X-Literal": {"keep": True}}})
    assert status == 200, data
    assert site.table() == {"type": "openai", "base_url": site.upstream.url + "/v1", "first_byte_timeout": 7,
                            "headers": {"X-Literal": "literal-header-value-98765"}}
