"""``auth = "entra"``: a Microsoft Entra ID token reaches Azure as ``Authorization: Bearer`` (never
an ``api-key``), is cached, refreshed before it expires by one caller at a time within a bound,
and a credential that fails is a classified error, never a traceback or a secret.

azure-identity itself is driven against a fake Entra ID token endpoint (``FakeEntra``, HTTPS on
127.0.0.1: azure-identity takes only ``https://`` authorities; the credential trusts the fake's
certificate through azure-core's ``connection_verify``, the one thing the test subclass changes).
Refresh on expiry is shown with a ``ScriptedCredential`` (the same ``get_token`` protocol) on an
injected clock: azure-identity caches tokens by the real ``time.time()``, so it would answer a
refresh the gateway's clock asks for with the token it already has.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import openai
import pytest
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError
from azure.identity.aio import ClientSecretCredential, DefaultAzureCredential

from sluicegate import hookimpl
from sluicegate.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable
from sluicegate.resilience.classify import ErrorClass
from sluicegate.secrets import Secret
from sluicegate.services import Services
from sluicegate.testing.vendor import Usage, json_answer
from sluicegate_azure import AzureOptions, AzureProvider, identity
from sluicegate_azure.entra import EntraToken
from sluicegate_azure.fake import AzureScript
from sluicegate_azure.fake_entra import FakeEntra, ScriptedCredential
from sluicegate_azure.options import ENTRA_SCOPE

TOKEN = "client-token-entra-tests"
SECRET = "entra-app-secret-Qx7~9f8e7d6c5b"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
START = 1_800_000_000.0


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def entra_token(credential, clock, **kwargs) -> EntraToken:
    return EntraToken(credential, ENTRA_SCOPE, provider="az", timeout=kwargs.pop("timeout", 5.0), wall_clock=clock,
                      refusals=identity.REFUSALS, **kwargs)


# -- the token cache ----------------------------------------------------------------------------


async def test_a_token_is_fetched_once_and_kept_until_shortly_before_it_expires():
    clock = Clock()
    credential = ScriptedCredential(clock, lifetime=3600)
    token = entra_token(credential, clock)
    assert [await token.get(), await token.get()] == ["scripted-token-1", "scripted-token-1"]
    assert credential.scopes == [(ENTRA_SCOPE,)]
    clock.now = START + 3600 - 301  # still more than the five-minute margin left
    assert await token.get() == "scripted-token-1"
    clock.now = START + 3600 - 299
    assert await token.get() == "scripted-token-2"
    assert len(credential.scopes) == 2


async def test_a_short_lived_token_is_refreshed_halfway():
    clock = Clock()
    credential = ScriptedCredential(clock, lifetime=60)
    token = entra_token(credential, clock)
    assert await token.get() == "scripted-token-1"
    clock.now = START + 29
    assert await token.get() == "scripted-token-1"
    clock.now = START + 30
    assert await token.get() == "scripted-token-2"


async def test_callers_of_an_expired_token_wait_for_one_refresh():
    clock = Clock()
    gate = asyncio.Event()
    credential = ScriptedCredential(clock, gate=gate)
    token = entra_token(credential, clock)
    waiting = [asyncio.create_task(token.get()) for _ in range(5)]
    await asyncio.sleep(0)
    assert len(credential.scopes) == 1 and not any(task.done() for task in waiting)
    gate.set()
    assert await asyncio.gather(*waiting) == ["scripted-token-1"] * 5
    assert len(credential.scopes) == 1


async def test_while_a_token_is_refreshed_ahead_of_expiry_the_old_one_still_serves():
    clock = Clock()
    credential = ScriptedCredential(clock)
    token = entra_token(credential, clock)
    assert await token.get() == "scripted-token-1"
    credential.gate = asyncio.Event()
    clock.now = START + 3600 - 100  # due for refresh, still valid
    refreshing = asyncio.create_task(token.get())
    await asyncio.sleep(0)
    assert await token.get() == "scripted-token-1"  # not held up by the refresh under way
    credential.gate.set()
    assert await refreshing == "scripted-token-2"
    assert await token.get() == "scripted-token-2"


async def test_a_token_request_that_hangs_is_a_timeout():
    clock = Clock()
    token = entra_token(ScriptedCredential(clock, gate=asyncio.Event()), clock, timeout=0.05)
    with pytest.raises(UpstreamTimeout) as caught:
        await token.get()
    assert caught.value.error_class == ErrorClass.TIMEOUT and caught.value.retryable
    assert "could not get a Microsoft Entra ID token within 0.05s" in caught.value.message


async def test_a_refused_credential_is_an_authentication_error_without_the_secret():
    clock = Clock()
    refusal = ClientAuthenticationError(message=f"AADSTS7000215: Invalid client secret {SECRET}.\nTrace ID: x")
    token = entra_token(ScriptedCredential(clock, fail=refusal), clock, clean=lambda text: text.replace(SECRET, "***"))
    with pytest.raises(UpstreamError) as caught:
        await token.get()
    error = caught.value
    assert (error.status, error.code, error.error_class, error.retryable) == (
        401, "entra_token_refused", ErrorClass.AUTHENTICATION, False)
    assert error.message == ("provider 'az' could not get a Microsoft Entra ID token: "
                             "AADSTS7000215: Invalid client secret ***.")


async def test_an_unreachable_entra_id_is_a_network_error():
    clock = Clock()
    token = entra_token(ScriptedCredential(clock, fail=ServiceRequestError("Cannot connect to host")), clock)
    with pytest.raises(UpstreamUnavailable) as caught:
        await token.get()
    assert caught.value.error_class == ErrorClass.NETWORK and caught.value.retryable
    assert "ServiceRequestError: Cannot connect to host" in caught.value.message


async def test_a_failed_early_refresh_keeps_the_valid_token_until_it_expires(caplog):
    clock = Clock()
    credential = ScriptedCredential(clock)
    token = entra_token(credential, clock)
    assert await token.get() == "scripted-token-1"
    credential.fail = ServiceRequestError("Cannot connect to host")
    clock.now = START + 3600 - 100
    with caplog.at_level(logging.WARNING, logger="sluicegate"):
        assert await token.get() == "scripted-token-1"
    assert "using the current token until it expires" in caplog.text
    clock.now = START + 3600
    with pytest.raises(UpstreamUnavailable):
        await token.get()


async def test_closing_the_token_closes_its_credential():
    clock = Clock()
    credential = ScriptedCredential(clock)
    await entra_token(credential, clock).aclose()
    assert credential.closed


# -- the credentials azure-identity builds --------------------------------------------------------


async def test_a_client_secret_makes_a_service_principal_credential_else_the_default_chain():
    principal = identity.new_credential(AzureOptions(
        type="azure", base_url="https://r.openai.azure.com", auth="entra", tenant_id=TENANT, client_id="app",
        client_secret=Secret(SECRET)))
    default = identity.new_credential(AzureOptions(type="azure", base_url="https://r.openai.azure.com", auth="entra"))
    try:
        assert isinstance(principal, ClientSecretCredential)
        assert isinstance(default, DefaultAzureCredential)
    finally:
        await principal.close()
        await default.close()


# -- through the gateway ------------------------------------------------------------------------


def config(url: str, provider_type: str, entra: str, api_version: str | None = None) -> str:
    version = f'api_version = "{api_version}"' if api_version else ""
    return f"""
[auth]
tokens = ["{TOKEN}"]

[providers.az]
type = "{provider_type}"
base_url = "{url}/openai"
auth = "entra"
{entra}
{version}
deployments = {{ "gpt-4o" = "gpt4o-prod" }}

[retry]
attempts = 1
"""


def plugin(provider: type[AzureProvider], name: str):
    class Plugin:
        @hookimpl
        def register_providers(self, register):
            register(name, provider, options=AzureOptions)

    return Plugin()


def client(server) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=TOKEN, max_retries=0)


@pytest.mark.parametrize("api_version", [None, "2024-10-21"], ids=["v1", "classic"])
async def test_azure_identity_gets_the_token_that_reaches_azure_as_a_bearer(gateway, fake_upstream, tmp_path,
                                                                            api_version):
    azure = AzureScript(api_version=api_version, deployments={"gpt-4o": "gpt4o-prod"}, auth="entra")
    path = azure.path("chat/completions", "gpt-4o")
    fake_upstream.on(path, azure.answer_text("Hello.", Usage()))
    async with FakeEntra(tmp_path) as entra:

        class TrustingTheFake(AzureProvider):
            def new_credential(self):
                return identity.new_credential(self.options, connection_verify=str(entra.ca_file))

        server = await gateway(
            config(fake_upstream.url, "azure_tls", f'tenant_id = "{TENANT}"\nclient_id = "app-0001"\n'
                   f'client_secret = "${{AZ_SECRET}}"\nauthority_host = "{entra.authority}"', api_version),
            env={"AZ_SECRET": SECRET}, extra_plugins=[("azure_tls", plugin(TrustingTheFake, "azure_tls"))])
        sdk = client(server)
        for _ in range(2):
            answer = await sdk.chat.completions.create(
                model="az/gpt-4o", messages=[{"role": "user", "content": "hi"}],
                extra_headers={"api-key": "client-own-azure-key"})
            assert answer.choices[0].message.content == "Hello."
        calls = fake_upstream.calls(path)
        assert [azure.credential(call) for call in calls] == ["entra-token-1", "entra-token-1"]
        for call in calls:
            headers = {name.lower() for name in call.headers}
            assert "api-key" not in headers
            assert TOKEN not in " ".join(call.headers.values())
        # One token request, as Entra ID's client-credentials grant expects it.
        (request,) = entra.requests
        assert request.path == f"/{TENANT}/oauth2/v2.0/token"
        assert request.form["grant_type"] == "client_credentials"
        assert (request.form["client_id"], request.form["client_secret"]) == ("app-0001", SECRET)
        assert request.form["scope"] == ENTRA_SCOPE


async def test_a_secret_entra_refuses_is_a_401_that_never_reaches_azure(gateway, fake_upstream, tmp_path):
    azure = AzureScript(deployments={"gpt-4o": "gpt4o-prod"}, auth="entra")
    path = azure.path("chat/completions")
    fake_upstream.on(path, azure.answer_text("Hello.", Usage()))
    async with FakeEntra(tmp_path) as entra:
        entra.refuse = True

        class TrustingTheFake(AzureProvider):
            def new_credential(self):
                return identity.new_credential(self.options, connection_verify=str(entra.ca_file))

        server = await gateway(
            config(fake_upstream.url, "azure_tls", f'tenant_id = "{TENANT}"\nclient_id = "app-0001"\n'
                   f'client_secret = "{SECRET}"\nauthority_host = "{entra.authority}"'),
            extra_plugins=[("azure_tls", plugin(TrustingTheFake, "azure_tls"))])
        with pytest.raises(openai.AuthenticationError) as caught:
            await client(server).chat.completions.create(model="az/gpt-4o", messages=[{"role": "user", "content": "x"}])
    error = caught.value
    assert error.body["code"] == "entra_token_refused"
    assert error.body["message"].startswith(
        "provider 'az' could not get a Microsoft Entra ID token: ")
    assert "AADSTS7000215" in error.body["message"]
    assert SECRET not in error.response.text
    assert fake_upstream.calls(path) == []


async def test_an_expired_token_is_refreshed_and_the_new_one_reaches_azure(gateway, fake_upstream):
    clock = Clock()
    credentials: list[ScriptedCredential] = []

    class Scripted(AzureProvider):
        def new_credential(self):
            credentials.append(ScriptedCredential(clock, lifetime=3600))
            return credentials[-1]

    azure = AzureScript(deployments={"gpt-4o": "gpt4o-prod"}, auth="entra")
    path = azure.path("chat/completions")
    fake_upstream.on(path, azure.answer_text("Hello.", Usage()))
    fake_upstream.on("/openai/v1/models", azure.checked(json_answer({"object": "list", "data": []})))
    server = await gateway(config(fake_upstream.url, "azure_scripted", ""),
                           extra_plugins=[("azure_scripted", plugin(Scripted, "azure_scripted"))],
                           services={"wall_clock": clock})
    sdk = client(server)

    async def ask() -> None:
        await sdk.chat.completions.create(model="az/gpt-4o", messages=[{"role": "user", "content": "hi"}])

    await ask()
    await ask()
    clock.now = START + 3600 + 1  # expired
    await ask()
    assert [azure.credential(call) for call in fake_upstream.calls(path)] == [
        "scripted-token-1", "scripted-token-1", "scripted-token-2"]
    (credential,) = credentials
    assert credential.scopes == [(ENTRA_SCOPE,), (ENTRA_SCOPE,)]
    # The health check authenticates the same way.
    await server.gateway.current.providers["az"].probe()
    (probe,) = fake_upstream.calls("/openai/v1/models")
    assert azure.credential(probe) == "scripted-token-2"
    assert "api-key" not in {name.lower() for name in probe.headers}


async def test_the_credential_is_closed_with_the_provider():
    clock = Clock()
    made: list[ScriptedCredential] = []

    class Scripted(AzureProvider):
        def new_credential(self):
            made.append(ScriptedCredential(clock))
            return made[-1]

    async with aiohttp.ClientSession() as http:
        provider = Scripted("az", AzureOptions(type="azure", base_url="https://r.openai.azure.com", auth="entra"),
                            Services(http=http, config=None))
        assert provider.auth_headers() == {}  # nothing cached yet, and never an api-key
        await provider.aclose()
    assert made[0].closed
