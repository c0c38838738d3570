"""Where the AWS credentials come from: the table, the environment, a shared-config profile, a
role assumed through (a fake) STS and refreshed on the injected clock; off the event loop, bounded;
and the config's own checks. No instance metadata service (conftest.py disables it)."""

from __future__ import annotations

import asyncio
import datetime
import threading

import openai
import pytest
from aiohttp import web
from botocore.credentials import Credentials

from sluicegate.config.loader import load_config_text
from sluicegate.errors import ConfigError
from sluicegate.testing.vendor import Usage
from sluicegate_bedrock.fake import ACCESS_KEY_ID, SECRET_ACCESS_KEY, BedrockScript, FakeCredentials
from sluicegate_bedrock.signing import CredentialSettings, CredentialSource, CredentialsUnavailable

SCRIPT = BedrockScript()


def config(url: str, keys: str = "") -> str:
    return f"""
[providers.aws]
type = "bedrock"
region = "us-east-1"
base_url = "{url}"
{keys}

[retry]
attempts = 1

[breaker]
enabled = false

[models.chat]
targets = ["aws/{SCRIPT.upstream_model}"]
"""


async def ask(server) -> str:
    client = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key="any", max_retries=0)
    answer = await client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
    return answer.choices[0].message.content


async def test_keys_from_the_environment(gateway, fake_upstream, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    fake_upstream.on(SCRIPT.chat_path(False), SCRIPT.answer_text("signed from env", Usage()))
    server = await gateway(config(fake_upstream.url))
    assert await ask(server) == "signed from env"


async def test_keys_of_a_shared_credentials_profile(gateway, fake_upstream, tmp_path, monkeypatch):
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[default]\naws_access_key_id = AKIAWRONGWRONGWRONG\naws_secret_access_key = wrong\n\n"
        f"[bedrock-dev]\naws_access_key_id = {ACCESS_KEY_ID}\naws_secret_access_key = {SECRET_ACCESS_KEY}\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    fake_upstream.on(SCRIPT.chat_path(False), SCRIPT.answer_text("signed from the profile", Usage()))
    server = await gateway(config(fake_upstream.url, 'profile = "bedrock-dev"'))
    assert await ask(server) == "signed from the profile"


async def test_no_credentials_anywhere_is_a_503_and_nothing_is_sent(gateway, fake_upstream):
    server = await gateway(config(fake_upstream.url))
    client = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key="any", max_retries=0)
    with pytest.raises(openai.APIStatusError) as refused:
        await client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
    assert refused.value.status_code == 503
    assert "no AWS credentials found" in refused.value.response.json()["error"]["message"]
    assert fake_upstream.requests == []


async def test_an_unset_secret_variable_leaves_the_provider_unconfigured(gateway, fake_upstream):
    keys = f'access_key_id = "{ACCESS_KEY_ID}"\nsecret_access_key = "${{AWS_SECRET_FOR_BEDROCK}}"'
    server = await gateway(config(fake_upstream.url, keys), env={})
    client = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key="any", max_retries=0)
    with pytest.raises(openai.APIStatusError) as refused:
        await client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
    assert refused.value.status_code == 503
    assert refused.value.response.json()["error"]["code"] == "provider_not_configured"
    assert "AWS_SECRET_FOR_BEDROCK is not set" in refused.value.response.json()["error"]["message"]


# -- a role through STS ---------------------------------------------------------------------------

ROLE = "arn:aws:iam::123456789012:role/bedrock-invoker"
ROLE_KEYS = FakeCredentials(
    access_key_id="ASIAJEXAMPLEXEG2JICEA",
    secret_access_key="9drTJvcXLB89EXAMPLELB8923FB892xMFI",
    session_token="AQoXdzELDDY//////////wEaoAK1wvxJY12r2IrDFT2IvAzTCn3zHoZ7YNtpiQLF0MqZye/qwjzP2iEXAMPLE",
)
T0 = datetime.datetime(2030, 1, 1, 12, 0, tzinfo=datetime.UTC)


def sts(calls: list[dict[str, str]], clock: list[float]):
    """STS's AssumeRole, as its query API answers: XML, credentials valid for one hour from now."""

    async def respond(request: web.Request) -> web.StreamResponse:
        form = dict(await request.post())
        calls.append({**form, "authorization": request.headers.get("Authorization", "")})
        expires = datetime.datetime.fromtimestamp(clock[0] + 3600, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = f"""<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <AssumedRoleUser>
      <AssumedRoleId>AROA3XFRBF535PLBIFPI4:{form.get("RoleSessionName")}</AssumedRoleId>
      <Arn>arn:aws:sts::123456789012:assumed-role/bedrock-invoker/{form.get("RoleSessionName")}</Arn>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>{ROLE_KEYS.access_key_id}</AccessKeyId>
      <SecretAccessKey>{ROLE_KEYS.secret_access_key}</SecretAccessKey>
      <SessionToken>{ROLE_KEYS.session_token}</SessionToken>
      <Expiration>{expires}</Expiration>
    </Credentials>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ResponseMetadata>
</AssumeRoleResponse>"""
        return web.Response(text=body, content_type="text/xml")

    return respond


async def test_a_role_is_assumed_with_the_table_keys_and_refreshed_before_it_expires(gateway, fake_upstream, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", fake_upstream.url + "/sts")
    clock = [T0.timestamp()]
    calls: list[dict[str, str]] = []
    fake_upstream.on("/sts", sts(calls, clock))
    script = BedrockScript(ROLE_KEYS)
    fake_upstream.on(script.chat_path(False), script.answer_text("as the role", Usage()))
    keys = (f'access_key_id = "{ACCESS_KEY_ID}"\nsecret_access_key = "{SECRET_ACCESS_KEY}"\n'
            f'role_arn = "{ROLE}"\nrole_session_name = "gateway-7"')
    server = await gateway(config(fake_upstream.url, keys), services={"wall_clock": lambda: clock[0]})

    assert await ask(server) == "as the role"
    assert len(calls) == 1
    assert (calls[0]["Action"], calls[0]["RoleArn"], calls[0]["RoleSessionName"]) == ("AssumeRole", ROLE, "gateway-7")
    # STS was asked with the table's keys.
    assert f"Credential={ACCESS_KEY_ID}/" in calls[0]["authorization"]

    clock[0] += 10 * 60  # 50 minutes left: still good
    assert await ask(server) == "as the role"
    assert len(calls) == 1

    clock[0] += 40 * 60  # 10 minutes left: refreshed before use
    assert await ask(server) == "as the role"
    assert len(calls) == 2


async def test_a_role_sts_refuses_is_a_503_naming_the_reason(gateway, fake_upstream, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", fake_upstream.url + "/sts")
    denied = b"""<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>AccessDenied</Code>
  <Message>User: arn:aws:iam::123456789012:user/gateway is not authorized to perform: sts:AssumeRole</Message></Error>
  <RequestId>4b0d4a1c-3ad2-4a46-a1de-a4b0a5ad2bd1</RequestId>
</ErrorResponse>"""

    async def refuse(request: web.Request) -> web.StreamResponse:
        return web.Response(body=denied, status=403, content_type="text/xml")

    fake_upstream.on("/sts", refuse)
    keys = f'access_key_id = "{ACCESS_KEY_ID}"\nsecret_access_key = "{SECRET_ACCESS_KEY}"\nrole_arn = "{ROLE}"'
    server = await gateway(config(fake_upstream.url, keys))
    client = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key="any", max_retries=0)
    with pytest.raises(openai.APIStatusError) as refused:
        await client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
    assert refused.value.status_code == 503
    message = refused.value.response.json()["error"]["message"]
    assert "AccessDenied" in message and "not authorized to perform: sts:AssumeRole" in message
    assert SECRET_ACCESS_KEY not in refused.value.response.text
    assert fake_upstream.calls(SCRIPT.chat_path(False)) == []


# -- off the event loop, bounded ----------------------------------------------------------------


class Recording(CredentialSource):
    def __init__(self, release: threading.Event | None = None, timeout: float = 5) -> None:
        super().__init__(CredentialSettings(region="us-east-1"), wall_clock=lambda: 0.0, timeout=timeout)
        self.threads: list[int] = []
        self.release = release

    def _resolve(self) -> Credentials:
        self.threads.append(threading.get_ident())
        if self.release is not None:
            self.release.wait(10)
        return Credentials("AKIA", "secret")


async def test_credentials_are_found_once_and_in_a_worker_thread():
    source = Recording()
    first, again = await asyncio.gather(source.current(), source.current())
    assert first.access_key == again.access_key == "AKIA"
    assert source.threads and source.threads[0] != threading.get_ident()
    assert len(source.threads) == 1


async def test_a_lookup_that_hangs_is_cut_off_at_the_timeout():
    release = threading.Event()
    source = Recording(release, timeout=0.05)
    try:
        with pytest.raises(TimeoutError):
            await source.current()
    finally:
        release.set()


async def test_a_missing_profile_is_reported_without_a_traceback():
    source = CredentialSource(CredentialSettings(region="us-east-1", profile="nope"), wall_clock=lambda: 0.0, timeout=5)
    with pytest.raises(CredentialsUnavailable, match="nope"):
        await source.current()


# -- the table's checks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        ('access_key_id = "AKIA"', "given together"),
        ('secret_access_key = "s"', "given together"),
        ('session_token = "t"', "session_token needs"),
        ('api_key = "k"\naccess_key_id = "AKIA"\nsecret_access_key = "s"', "not both"),
        ('api_key = "k"\nprofile = "dev"', "profile"),
        ('api_key = "k"\nrole_arn = "arn:aws:iam::1:role/r"', "cannot assume a role"),
        ('guardrail_identifier = "gr-1"', "guardrail_identifier and guardrail_version"),
        ('credentials_timeout = 0', "credentials_timeout"),
    ],
)
def test_credential_options_that_do_not_fit_together_are_config_errors(keys, problem):
    with pytest.raises(ConfigError, match=problem):
        load_config_text(config("http://127.0.0.1:1", keys), env={})


@pytest.mark.parametrize("region", ["us-east-1.evil.com", "US-EAST-1", "", "us_east_1"])
def test_the_region_must_be_a_region(region):
    text = config("http://127.0.0.1:1").replace('region = "us-east-1"', f'region = "{region}"')
    with pytest.raises(ConfigError, match="region"):
        load_config_text(text, env={})


def test_the_region_is_required():
    with pytest.raises(ConfigError, match="region: is required"):
        load_config_text(config("http://127.0.0.1:1").replace('region = "us-east-1"\n', ""), env={})
