"""Google access tokens through the real gateway: a service account made at test time signs its
JWT with google-auth, the fake token endpoint verifies it and hands out short-lived tokens, and
the fake Vertex takes only tokens it handed out.

Proves: tokens are cached and refreshed shortly before expiry (on the gateway's injected wall
clock), concurrent calls share one refresh, the event loop keeps serving while the token
endpoint is slow, a slow or refusing token endpoint is a clear 503 with no secret in it, the
project comes from the credentials when unset, application default credentials are found, a
401 from Vertex drops the token, and a ready token (``api_key``) is sent as it is.
"""

from __future__ import annotations

import asyncio

import aiohttp
import openai
import pytest
from aiohttp import web

from sluicegate.config.loader import load_config_text
from sluicegate.errors import ConfigError
from sluicegate.services import Services
from sluicegate.testing.vendor import Responder, Usage
from sluicegate_vertex.fake import UNAUTHENTICATED, VertexGeminiScript, bearer, model_path
from sluicegate_vertex.fake_oauth import TOKEN_PATH, ServiceAccount, TokenEndpoint
from sluicegate_vertex.options import VertexOptions
from sluicegate_vertex.provider import VertexProvider

TOKEN = "client-token-vertex-auth"
GEMINI = VertexGeminiScript()
CALL = GEMINI.chat_path(False)
START = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def config(url: str, credentials: str | None, *, project: str | None = "test-project", extra: str = "") -> str:
    lines = [f'credentials_file = "{credentials}"' if credentials else "", f'project = "{project}"' if project else ""]
    return f"""
[auth]
tokens = ["{TOKEN}"]

[providers.vertex]
type = "vertex"
base_url = "{url}/v1"
region = "us-east5"
timeout = 10
{chr(10).join(lines)}
{extra}

[models.chat]
targets = ["vertex/gemini-2.5-flash"]

[retry]
attempts = 1

[breaker]
enabled = false
"""


def guarded(endpoint: TokenEndpoint, responder: Responder) -> Responder:
    """Vertex: only a token the token endpoint handed out is let in."""

    async def respond(request: web.Request) -> web.StreamResponse:
        if not endpoint.valid(request.headers.get("Authorization")):
            return await UNAUTHENTICATED(request)
        return await responder(request)

    return respond


def client(server) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=TOKEN, max_retries=0)


async def ask(server) -> str:
    async with client(server) as chat:
        answer = await chat.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
    return answer.choices[0].message.content


def tokens_sent(upstream, path: str = CALL) -> list[str | None]:
    return [bearer(call) for call in upstream.calls(path)]


@pytest.fixture
def vertex(fake_upstream, token_endpoint):
    fake_upstream.on(CALL, guarded(token_endpoint, GEMINI.answer_text("Hello.", Usage())))
    return fake_upstream


async def test_a_token_is_cached_and_refreshed_shortly_before_it_expires(gateway, vertex, token_endpoint,
                                                                         credentials_file):
    clock = Clock()
    server = await gateway(config(vertex.url, credentials_file), services={"wall_clock": clock})
    assert await ask(server) == "Hello."
    assert await ask(server) == "Hello."
    clock.now += 3200  # an hour's token, refreshed 300s (token_refresh_margin) before its end
    assert await ask(server) == "Hello."
    assert token_endpoint.requests == 1
    clock.now += 200
    assert await ask(server) == "Hello."
    assert token_endpoint.issued == ["ya29.fake-1", "ya29.fake-2"]
    assert tokens_sent(vertex) == ["ya29.fake-1"] * 3 + ["ya29.fake-2"]


async def test_a_short_lived_token_is_refreshed_at_half_its_life(gateway, fake_upstream, account, tmp_path):
    endpoint = TokenEndpoint(account, expires_in=60)
    fake_upstream.on(TOKEN_PATH, endpoint)
    fake_upstream.on(CALL, guarded(endpoint, GEMINI.answer_text("Hello.", Usage())))
    path = account.write(tmp_path / "sa.json", fake_upstream.url + TOKEN_PATH)
    clock = Clock()
    server = await gateway(config(fake_upstream.url, path), services={"wall_clock": clock})
    await ask(server)
    clock.now += 20
    await ask(server)
    clock.now += 20  # 40s into a 60s token: past half its life (the 300s margin would be all of it)
    await ask(server)
    assert tokens_sent(fake_upstream) == ["ya29.fake-1", "ya29.fake-1", "ya29.fake-2"]


async def test_concurrent_calls_share_one_refresh(gateway, vertex, token_endpoint, credentials_file):
    server = await gateway(config(vertex.url, credentials_file))
    token_endpoint.hold()
    calls = [asyncio.create_task(ask(server)) for _ in range(5)]
    await asyncio.wait_for(token_endpoint.arrived.wait(), 10)
    token_endpoint.release()
    assert await asyncio.gather(*calls) == ["Hello."] * 5
    assert token_endpoint.requests == 1
    assert tokens_sent(vertex) == ["ya29.fake-1"] * 5


async def test_the_event_loop_keeps_serving_while_the_token_endpoint_is_slow(gateway, vertex, token_endpoint,
                                                                              credentials_file):
    # The token endpoint runs on this very loop: a refresh made on the loop could never be
    # answered, so the call below would fail once its refresh timed out.
    server = await gateway(config(vertex.url, credentials_file, extra="token_timeout = 60"))
    token_endpoint.hold()
    call = asyncio.create_task(ask(server))
    await asyncio.wait_for(token_endpoint.arrived.wait(), 10)
    async with aiohttp.ClientSession() as session:
        async with session.get(server.base_url + "/health") as health:
            assert health.status == 200
    assert not call.done()
    assert vertex.calls(CALL) == []  # still waiting for its token
    token_endpoint.release()
    assert await asyncio.wait_for(call, 10) == "Hello."


async def test_a_token_endpoint_that_does_not_answer_in_time_is_a_503(gateway, vertex, token_endpoint,
                                                                      credentials_file):
    server = await gateway(config(vertex.url, credentials_file, extra="token_timeout = 0.5"))
    token_endpoint.hold()
    try:
        with pytest.raises(openai.APIStatusError) as caught:
            await ask(server)
    finally:
        token_endpoint.release()
    error = caught.value
    assert error.status_code == 503
    assert error.body["code"] == "google_token_unavailable"
    assert "could not get a Google access token" in error.message
    assert "did not answer within 0.5s" in error.message
    assert vertex.calls(CALL) == []
    # The next call gets a token, once the endpoint answers again.
    assert await ask(server) == "Hello."


async def test_refused_credentials_are_a_503_without_secrets(gateway, vertex, token_endpoint, tmp_path):
    # Signed with another key than the account's: the token endpoint checks the signature.
    impostor = ServiceAccount()
    path = impostor.write(tmp_path / "impostor.json", vertex.url + TOKEN_PATH)
    server = await gateway(config(vertex.url, path))
    with pytest.raises(openai.APIStatusError) as caught:
        await ask(server)
    error = caught.value
    assert error.status_code == 503
    assert "the Google token endpoint refused the credentials: invalid_grant: Invalid JWT Signature." in error.message
    text = error.response.text
    pem = impostor.private_pem()
    assert impostor.key_id not in text
    assert all(line not in text for line in pem.splitlines()[1:-1])
    assert token_endpoint.issued == [] and vertex.calls(CALL) == []


def test_a_missing_credentials_file_is_a_config_problem(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config_text(config("http://127.0.0.1:9", str(tmp_path / "nowhere.json")), env={})
    assert [str(problem) for problem in caught.value.problems] == [
        f"providers.vertex.credentials_file: no such file: '{tmp_path / 'nowhere.json'}'"]


async def test_a_credentials_file_gone_after_start_is_a_clear_503(gateway, vertex, credentials_file):
    server = await gateway(config(vertex.url, credentials_file))
    credentials_file.unlink()
    with pytest.raises(openai.APIStatusError) as caught:
        await ask(server)
    assert caught.value.status_code == 503
    assert "no usable Google credentials" in caught.value.message
    assert "service-account.json was not found" in caught.value.message


def test_options_are_checked_with_every_problem_named():
    text = """
[providers.a]
type = "vertex"

[providers.b]
type = "vertex"
region = "us central1"
project = "has space"
publishers = { "my-model" = "meta" }

[providers.c]
type = "vertex"
region = "global"
api_key = "ya29.token"
"""
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, env={})
    problems = sorted(str(problem) for problem in caught.value.problems)
    assert problems == sorted([
        "providers.a.region: is required",
        "providers.b.region: must be a Google Cloud region such as us-central1, europe-west4 or global, "
        "got 'us central1'",
        "providers.b.project: must be a Google Cloud project id such as my-project-123, got 'has space'",
        "providers.b: publishers: 'my-model' must be one of anthropic, google, got 'meta'",
        "providers.c: api_key is a ready access token, which names no project: set project too",
    ])


async def test_the_project_comes_from_the_credentials_when_unset(gateway, fake_upstream, tmp_path):
    account = ServiceAccount(project="project-of-the-key")
    endpoint = TokenEndpoint(account)
    fake_upstream.on(TOKEN_PATH, endpoint)
    call = model_path("google", "gemini-2.5-flash", "generateContent", project="project-of-the-key")
    fake_upstream.on(call, guarded(endpoint, GEMINI.answer_text("Hello.", Usage())))
    path = account.write(tmp_path / "sa.json", fake_upstream.url + TOKEN_PATH)
    server = await gateway(config(fake_upstream.url, path, project=None))
    assert await ask(server) == "Hello."
    assert tokens_sent(fake_upstream, call) == ["ya29.fake-1"]


async def test_application_default_credentials(gateway, vertex, token_endpoint, credentials_file, monkeypatch):
    # google.auth.default finds the key through the variable; no metadata server is asked.
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(credentials_file))
    server = await gateway(config(vertex.url, None))
    assert await ask(server) == "Hello."
    assert tokens_sent(vertex) == ["ya29.fake-1"]


async def test_a_401_from_vertex_drops_the_token(gateway, fake_upstream, token_endpoint, credentials_file):
    fake_upstream.on(CALL, UNAUTHENTICATED, guarded(token_endpoint, GEMINI.answer_text("Hello.", Usage())))
    server = await gateway(config(fake_upstream.url, credentials_file))
    with pytest.raises(openai.AuthenticationError):
        await ask(server)
    assert await ask(server) == "Hello."
    assert tokens_sent(fake_upstream) == ["ya29.fake-1", "ya29.fake-2"]


async def test_a_ready_token_is_sent_as_it_is(gateway, fake_upstream, token_endpoint):
    fake_upstream.on(CALL, GEMINI.answer_text("Hello.", Usage()))
    server = await gateway(config(fake_upstream.url, None, extra='api_key = "ya29.ready-token"'))
    assert await ask(server) == "Hello."
    assert tokens_sent(fake_upstream) == ["ya29.ready-token"]
    assert token_endpoint.requests == 0


async def test_the_health_check_gets_a_token_and_describe_shows_no_secret(fake_upstream, token_endpoint,
                                                                          credentials_file):
    options = VertexOptions(type="vertex", region="global", project="test-project",
                            credentials_file=str(credentials_file), base_url=fake_upstream.url)
    provider = VertexProvider("vertex", options, Services(http=None, config=None, wall_clock=lambda: START))
    try:
        await provider.probe()
        assert token_endpoint.issued == ["ya29.fake-1"]
        assert provider.describe() == {"type": "vertex", "configured": True, "base_url": fake_upstream.url,
                                       "region": "global", "credentials": "credentials_file"}
    finally:
        await provider.aclose()
