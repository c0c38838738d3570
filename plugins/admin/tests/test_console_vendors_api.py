"""The "Add model" presets of the vendors with a provider type of their own (Gemini, Azure OpenAI,
AWS Bedrock, Vertex AI) through the real server, on a real gateway.toml: what the presets list,
the keys of their own (``options``) written into the new provider table, each new provider then
serving through the reloaded gateway against that vendor's fake (which checks the vendor's own
auth: the api-key header, a SigV4 signature, a Google OAuth token), and every refusal naming its
field.
"""

from __future__ import annotations

import contextlib
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from attrs import define
from served_gateway import serving

from sluicegate.gateway import Gateway
from sluicegate.server.runner import RunningServer
from sluicegate.testing import FakeUpstream
from sluicegate.testing.vendor import Usage
from sluicegate_azure.fake import AzureScript
from sluicegate_bedrock import fake as bedrock_fake
from sluicegate_gemini.fake import GeminiScript
from sluicegate_vertex import fake as vertex_fake
from sluicegate_vertex.fake_oauth import TOKEN_PATH, ServiceAccount, TokenEndpoint

ADMIN_TOKEN = "admin-token-for-vendor-tests-0123456789"
CLIENT_TOKEN = "client-token-for-vendor-tests-0123"
ENV = {"ADMIN_TOKEN": ADMIN_TOKEN, "GATEWAY_TOKEN": CLIENT_TOKEN}

CONFIG = '''\
# Vendor presets test config.
[auth]
tokens = ["${{GATEWAY_TOKEN}}"]

[admin]
token = "${{ADMIN_TOKEN}}"

[retry]
attempts = 1

[providers.mock]
type = "mock"

[models.echo]
targets = ["mock/echo-1"]
{extra}'''

BEDROCK_PROFILE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
# What the machine's own AWS setup could bring in; every test here runs without it.
AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_BEARER_TOKEN_BEDROCK", "AWS_ENDPOINT_URL",
)


@define
class Site:
    server: RunningServer
    path: Path
    http: aiohttp.ClientSession
    upstream: FakeUpstream
    seen: list[str]  # every response text, to search for secrets afterwards

    @property
    def gateway(self) -> Gateway:
        return self.server.gateway

    async def call(self, method: str, route: str, body: Any = None, *, token: str = ADMIN_TOKEN
                   ) -> tuple[int, Any]:
        kwargs = {"json": body} if body is not None else {}
        async with self.http.request(method, self.server.base_url + route,
                                     headers={"Authorization": f"Bearer {token}"}, **kwargs) as response:
            text = await response.text()
            self.seen.append(text)
            return response.status, await response.json(content_type=None)

    async def add(self, **body: Any) -> tuple[int, Any]:
        return await self.call("POST", "/admin/api/add-model", {k: v for k, v in body.items() if v is not None})

    async def chat(self, model: str) -> tuple[int, Any]:
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
        return await self.call("POST", "/v1/chat/completions", body, token=CLIENT_TOKEN)

    def written(self) -> dict[str, Any]:
        return tomllib.loads(self.path.read_text())


@contextlib.asynccontextmanager
async def site_on(tmp_path: Path, extra: str = "") -> AsyncIterator[Site]:
    async with FakeUpstream() as upstream, serving(tmp_path, CONFIG.format(extra=extra), ENV) as (server, path), \
            aiohttp.ClientSession() as http:
        yield Site(server, path, http, upstream, [])


@pytest.fixture(autouse=True)
def no_real_aws(monkeypatch, tmp_path):
    """No instance metadata service, no shared AWS files or variables of this machine."""
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))


@pytest_asyncio.fixture
async def site(tmp_path):
    async with site_on(tmp_path) as opened:
        yield opened


def vertex_body(**options: Any) -> dict[str, Any]:
    return {"preset": "vertex", "provider_id": "vertex", "model": "gemini-2.5-flash", "alias": "flash",
            "options": {"region": "us-east5", **options}}


# -- the presets --------------------------------------------------------------------------------------


async def test_the_vendor_presets_name_their_types_and_fields(site):
    status, data = await site.call("GET", "/admin/api/presets")
    assert status == 200
    presets = {entry["id"]: entry for entry in data["data"]}
    assert presets["bedrock"] == {
        "id": "bedrock", "label": "AWS Bedrock", "type": "bedrock", "base_url": "", "base_url_optional": True,
        "base_url_hint": presets["bedrock"]["base_url_hint"],
        "models": [BEDROCK_PROFILE, "anthropic.claude-sonnet-4-5-20250929-v1:0", "amazon.nova-pro-v1:0"],
        "key_env": None, "key_optional": True, "available": True, "note": presets["bedrock"]["note"],
        "fields": [{"name": "region", "label": "Region", "required": True, "default": "us-east-1",
                    "hint": presets["bedrock"]["fields"][0]["hint"]}]}
    assert "default chain" in presets["bedrock"]["note"]
    assert "bedrock-runtime.REGION.amazonaws.com" in presets["bedrock"]["base_url_hint"]

    vertex = presets["vertex"]
    assert (vertex["type"], vertex["base_url"], vertex["base_url_optional"], vertex["key_env"],
            vertex["key_optional"]) == ("vertex", "", True, None, True)
    assert vertex["models"] == ["gemini-2.5-flash", "gemini-2.5-pro", "claude-sonnet-4-5@20250929"]
    assert [(f["name"], f["label"], f["required"], f["default"]) for f in vertex["fields"]] == [
        ("region", "Region", True, "us-east5"), ("project", "Project", False, ""),
        ("credentials_file", "Credentials file", False, "")]
    assert "application default credentials" in vertex["note"]
    assert all(field["hint"] for field in vertex["fields"])

    azure = presets["azure"]
    assert (azure["type"], azure["base_url"], azure["base_url_optional"], azure["key_env"], azure["available"]) == (
        "azure", "", False, "AZURE_OPENAI_API_KEY", True)
    assert "deployment names" in azure["note"]
    assert [(f["name"], f["required"]) for f in azure["fields"]] == [("api_version", False)]

    gemini, compat = presets["gemini"], presets["gemini-compat"]
    assert (gemini["type"], gemini["base_url"], gemini["key_env"], gemini["fields"]) == (
        "gemini", "https://generativelanguage.googleapis.com/v1beta", "GEMINI_API_KEY", [])
    assert (compat["label"], compat["type"], compat["base_url"]) == (
        "Gemini (OpenAI-compatible)", "openai", "https://generativelanguage.googleapis.com/v1beta/openai")


async def test_a_preset_whose_plugin_is_disabled_is_listed_but_refused(tmp_path):
    async with site_on(tmp_path, '\n[plugins]\ndisabled = ["bedrock"]\n') as site:
        status, data = await site.call("GET", "/admin/api/presets")
        bedrock = next(entry for entry in data["data"] if entry["id"] == "bedrock")
        assert (bedrock["available"], bedrock["note"]) == (
            False, "The provider type 'bedrock' is not installed (install its plugin, sluicegate-bedrock).")
        assert all(entry["available"] for entry in data["data"] if entry["id"] != "bedrock")
        before = site.path.read_bytes()
        status, data = await site.add(preset="bedrock", provider_id="aws", model=BEDROCK_PROFILE, alias="claude",
                                      options={"region": "us-east-1"})
        assert status == 400 and data["error"]["param"] == "preset"
        assert "not installed" in data["error"]["message"]
        assert site.path.read_bytes() == before


# -- added and served ------------------------------------------------------------------------------


async def test_a_bedrock_model_is_written_and_signed_with_the_default_chain(site, monkeypatch):
    # The default chain finds the keys in the environment, as it would on a developer's machine.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", bedrock_fake.ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", bedrock_fake.SECRET_ACCESS_KEY)
    script = bedrock_fake.BedrockScript(bedrock_fake.FakeCredentials(), model=BEDROCK_PROFILE)
    path = script.chat_path(False)
    site.upstream.on(path, script.answer_text("from bedrock", Usage()))

    status, data = await site.add(preset="bedrock", provider_id="bedrock", model=BEDROCK_PROFILE, alias="claude",
                                  base_url=site.upstream.url, options={"region": " us-east-1 "})
    assert status == 201, data
    assert (data["created_provider"], data["reload"]["ok"]) == (True, True)
    written = site.written()
    # No key line: the provider signs with what the default chain finds.
    assert written["providers"]["bedrock"] == {"type": "bedrock", "base_url": site.upstream.url,
                                               "region": "us-east-1"}
    assert written["models"]["claude"] == {"targets": [f"bedrock/{BEDROCK_PROFILE}"]}

    status, answer = await site.chat("claude")
    assert status == 200, answer
    assert answer["choices"][0]["message"]["content"] == "from bedrock"
    [sent] = site.upstream.calls(path)
    # The fake checked the SigV4 signature against the secret key; the scope names the region.
    assert sent.headers["Authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={bedrock_fake.ACCESS_KEY_ID}/")
    assert "/us-east-1/bedrock/aws4_request" in sent.headers["Authorization"]
    assert all(bedrock_fake.SECRET_ACCESS_KEY not in text for text in site.seen)


async def test_a_bedrock_model_without_a_base_url_gets_none_written(site):
    status, data = await site.add(preset="bedrock", provider_id="aws", model=BEDROCK_PROFILE, alias="claude",
                                  options={"region": "eu-central-1"})
    assert status == 201, data
    assert site.written()["providers"]["aws"] == {"type": "bedrock", "region": "eu-central-1"}
    status, config = await site.call("GET", "/admin/api/config")
    entry = next(p for p in config["providers"] if p["id"] == "aws")
    assert (entry["type"], entry["base_url"], entry["key"], entry["options"]) == (
        "bedrock", None, None, {"region": "eu-central-1"})
    assert entry["serving"] is True


async def test_a_vertex_model_is_written_and_served_with_its_service_account(site, tmp_path):
    account = ServiceAccount()
    tokens = TokenEndpoint(account)
    site.upstream.on(TOKEN_PATH, tokens)
    key_file = account.write(tmp_path / "service-account.json", site.upstream.url + TOKEN_PATH)
    script = vertex_fake.VertexGeminiScript()
    path = script.chat_path(False)
    site.upstream.on(path, script.answer_text("from vertex", Usage()))

    body = vertex_body(project=vertex_fake.PROJECT, credentials_file=str(key_file))
    status, data = await site.add(**body, base_url=site.upstream.url + "/v1")
    assert status == 201, data
    assert data["reload"]["ok"] is True
    assert site.written()["providers"]["vertex"] == {
        "type": "vertex", "base_url": site.upstream.url + "/v1", "region": "us-east5",
        "project": vertex_fake.PROJECT, "credentials_file": str(key_file)}

    status, answer = await site.chat("flash")
    assert status == 200, answer
    assert answer["choices"][0]["message"]["content"] == "from vertex"
    [sent] = site.upstream.calls(path)
    # A token the fake endpoint handed out for a JWT signed with the file's key.
    assert tokens.issued and tokens.valid(sent.headers.get("Authorization"))
    assert all(account.private_pem().splitlines()[1] not in text for text in site.seen)


async def test_an_azure_model_keeps_its_api_version_and_key(site):
    script = AzureScript(api_version="2024-10-21")
    path = script.chat_path(False)
    site.upstream.on(path, script.answer_text("from azure", Usage()))
    status, data = await site.add(preset="azure", provider_id="azure", model="gpt-4o-mini", alias="mini",
                                  base_url=site.upstream.url, api_key="azure-resource-key-0123456789",
                                  options={"api_version": "2024-10-21"})
    assert status == 201, data
    assert site.written()["providers"]["azure"] == {
        "type": "azure", "base_url": site.upstream.url, "api_version": "2024-10-21",
        "api_key": "azure-resource-key-0123456789"}
    status, answer = await site.chat("mini")
    assert status == 200, answer
    [sent] = site.upstream.calls(path)
    assert (sent.headers["api-key"], sent.query["api-version"]) == ("azure-resource-key-0123456789", "2024-10-21")
    assert all("azure-resource-key" not in text for text in site.seen)


async def test_a_gemini_model_uses_the_native_type_and_its_key_header(site):
    script = GeminiScript()
    path = script.chat_path(False)
    site.upstream.on(path, script.answer_text("from gemini", Usage()))
    status, data = await site.add(preset="gemini", provider_id="gemini", model="gemini-2.5-flash", alias="flash",
                                  base_url=script.base_url(site.upstream.url), api_key="gemini-key-0123456789")
    assert status == 201, data
    assert site.written()["providers"]["gemini"]["type"] == "gemini"
    status, answer = await site.chat("flash")
    assert status == 200, answer
    [sent] = site.upstream.calls(path)
    assert sent.headers["x-goog-api-key"] == "gemini-key-0123456789"
    assert "authorization" not in {name.lower() for name in sent.headers}


# -- refusals ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        # A preset that declares no field takes no option.
        ({"preset": "openai", "provider_id": "openai", "model": "gpt-4o", "api_key_env": "OPENAI_API_KEY",
          "options": {"region": "us-east-1"}}, "unknown_field", "options.region"),
        (vertex_body(profile="default"), "unknown_field", "options.profile"),
        ({**vertex_body(), "options": ["us-east5"]}, "invalid_value", "options"),
        ({**vertex_body(), "options": {}}, "invalid_value", "options.region"),
        ({**vertex_body(), "options": {"region": "  "}}, "invalid_value", "options.region"),
        (vertex_body(region="US East 5"), "invalid_value", "options.region"),
        (vertex_body(region="a" * 33), "invalid_value", "options.region"),
        (vertex_body(region=5), "invalid_value", "options.region"),
        (vertex_body(project="My_Project"), "invalid_value", "options.project"),
        (vertex_body(project="p-1"), "invalid_value", "options.project"),  # under 6 characters
        (vertex_body(project="ends-with-dash-"), "invalid_value", "options.project"),
        (vertex_body(credentials_file="keys/sa.json"), "invalid_value", "options.credentials_file"),
        (vertex_body(credentials_file="/keys/${HOME}.json"), "invalid_value", "options.credentials_file"),
        (vertex_body(credentials_file="/keys/a\nb.json"), "invalid_value", "options.credentials_file"),
        ({"preset": "azure", "provider_id": "azure", "model": "gpt-4o", "api_key_env": "AZURE_OPENAI_API_KEY",
          "base_url": "https://res.openai.azure.com", "options": {"api_version": "latest"}},
         "invalid_value", "options.api_version"),
        # Azure has no URL of its own: the resource endpoint is required.
        ({"preset": "azure", "provider_id": "azure", "model": "gpt-4o", "api_key_env": "AZURE_OPENAI_API_KEY"},
         "invalid_value", "base_url"),
        ({"preset": "bedrock", "provider_id": "aws", "model": BEDROCK_PROFILE, "alias": "claude"},
         "invalid_value", "options.region"),
    ],
)
async def test_option_refusals_name_the_field(site, body, code, param):
    before = site.path.read_bytes()
    status, data = await site.add(**body)
    assert status == 400, data
    assert (data["error"]["code"], data["error"]["param"]) == (code, param), data
    assert "Traceback" not in data["error"]["message"]
    assert site.path.read_bytes() == before


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        # Shaped like a region, but not one AWS has: the bedrock type's own check says so.
        ({"preset": "bedrock", "provider_id": "aws", "model": BEDROCK_PROFILE, "alias": "claude",
          "options": {"region": "moon-base"}}, "options.region", "must be an AWS region"),
        (vertex_body(credentials_file="/nonexistent/service-account.json"), "options.credentials_file",
         "no such file"),
    ],
)
async def test_the_types_own_check_judges_the_options(site, body, param, words):
    before = site.path.read_bytes()
    status, data = await site.add(**body)
    assert status == 400, data
    assert (data["error"]["code"], data["error"]["param"]) == ("config_invalid", param), data
    [problem] = data["problems"]
    assert problem["path"] == f"providers.{body['provider_id']}.{param.removeprefix('options.')}"
    assert words in problem["message"]
    assert site.path.read_bytes() == before
    assert (await site.chat("echo"))[0] == 200  # the config that was serving still serves
