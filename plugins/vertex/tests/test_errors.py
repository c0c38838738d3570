"""Vertex's errors through the real gateway: each error of the fake Vertex (both families, both
of Vertex's error shapes), mid-stream errors and a failed token refresh, sent through both
entrances; the client's status and error type, and the class the gateway gave the attempt
(read back from ``/metrics``: ``sluicegate_upstream_attempts_total{outcome=<class>}``).

``EXPECTED`` is the error-class table of ``type = "vertex"``: one row per fake error case.
"""

from __future__ import annotations

import aiohttp
import anthropic
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sluicegate.errors import UpstreamError
from sluicegate.exchange import Endpoint, Target
from sluicegate.resilience.classify import ErrorClass
from sluicegate.secrets import Secret
from sluicegate.services import Services
from sluicegate.testing import make_ctx, make_request
from sluicegate.testing.vendor import ErrorCase
from sluicegate_vertex.fake import VertexClaudeScript, VertexGeminiScript
from sluicegate_vertex.fake_oauth import ServiceAccount
from sluicegate_vertex.options import VertexOptions
from sluicegate_vertex.provider import VertexProvider

E = ErrorClass
TOKEN = "client-token-vertex-errors"
SCRIPTS = {"gemini": VertexGeminiScript(), "claude": VertexClaudeScript()}
MODELS = {"gemini": "vertex/gemini-2.5-flash", "claude": "vertex/claude-sonnet-4-5@20250929"}

#: (family, fake error case) -> the class the gateway gives it.
EXPECTED = {
    ("gemini", "bad argument"): E.INVALID_REQUEST,
    ("gemini", "context"): E.CONTEXT_LENGTH,
    ("gemini", "bad token"): E.AUTHENTICATION,
    ("gemini", "no access"): E.PERMISSION,
    ("gemini", "billing disabled"): E.QUOTA,
    ("gemini", "no model"): E.NOT_FOUND,
    ("gemini", "quota"): E.RATE_LIMIT,
    ("gemini", "server error"): E.OVERLOADED,
    ("gemini", "unavailable"): E.OVERLOADED,
    ("gemini", "deadline"): E.TIMEOUT,
    ("claude", "bad request"): E.INVALID_REQUEST,
    ("claude", "context"): E.CONTEXT_LENGTH,
    ("claude", "bad token"): E.AUTHENTICATION,
    ("claude", "no access"): E.PERMISSION,
    ("claude", "no model"): E.NOT_FOUND,
    ("claude", "quota"): E.RATE_LIMIT,
    ("claude", "rate limited"): E.RATE_LIMIT,
    ("claude", "server error"): E.OVERLOADED,
    ("claude", "overloaded"): E.OVERLOADED,
}
# The Anthropic error type a /v1/messages client sees: its status's, or Claude's own type.
ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    503: "api_error",
    504: "timeout_error",
}
CLAUDE_OWN_TYPES = {("claude", "overloaded"): "overloaded_error"}


def config(url: str, credentials, family: str, extra: str = "") -> str:
    return f"""
[auth]
tokens = ["{TOKEN}"]

[providers.vertex]
type = "vertex"
base_url = "{url}/v1"
region = "us-east5"
project = "test-project"
credentials_file = "{credentials}"
timeout = 10
{extra}

[models.chat]
targets = ["{MODELS[family]}"]

[retry]
attempts = 1

[breaker]
enabled = false
"""


def openai_client(server) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=TOKEN, max_retries=0)


def anthropic_client(server) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=server.base_url, api_key=TOKEN, max_retries=0)


async def outcomes(server) -> dict[str, float]:
    async with aiohttp.ClientSession() as http, http.get(server.base_url + "/metrics") as response:
        text = await response.text()
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "sluicegate_upstream_attempts_total" and sample.labels.get("provider") == "vertex":
                found[sample.labels["outcome"]] = found.get(sample.labels["outcome"], 0) + sample.value
    return found


def cases() -> list:
    return [
        pytest.param(family, case, id=f"{family}:{case.name}")
        for family, script in SCRIPTS.items()
        for case in script.error_cases()
    ]


def test_every_fake_error_case_has_a_row():
    assert {(family, case.name) for family, script in SCRIPTS.items() for case in script.error_cases()} == set(EXPECTED)


@pytest.mark.parametrize(("family", "case"), cases())
async def test_each_error_class_through_both_entrances(gateway, fake_upstream, credentials_file, family,
                                                       case: ErrorCase):
    script = SCRIPTS[family]
    server = await gateway(config(fake_upstream.url, credentials_file, family))
    fake_upstream.on(script.chat_path(False), case.responder)
    expected = EXPECTED[(family, case.name)]
    with pytest.raises(openai.APIStatusError) as caught:
        async with openai_client(server) as chat:
            await chat.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == case.status
    if case.retry_after:
        assert caught.value.response.headers["retry-after"] == case.retry_after
    with pytest.raises(anthropic.APIStatusError) as caught_messages:
        async with anthropic_client(server) as claude:
            await claude.messages.create(model="chat", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert caught_messages.value.status_code == case.status
    assert caught_messages.value.body["error"]["type"] == (
        CLAUDE_OWN_TYPES.get((family, case.name)) or ANTHROPIC_TYPES[case.status])
    assert await outcomes(server) == {expected.value: 2}


@pytest.mark.parametrize(("family", "endpoint"), [("gemini", Endpoint.CHAT), ("claude", Endpoint.CHAT),
                                                ("claude", Endpoint.MESSAGES)])
async def test_an_error_mid_stream_is_classified(fake_upstream, family, endpoint):
    # Once a stream has begun the gateway reports its failure in-band (the request's record
    # says stream_error): the adapter's class is read on the error itself.
    script = SCRIPTS[family]
    fake_upstream.on(script.chat_path(True), script.answer_stream_error(["Partial "]))
    options = VertexOptions(type="vertex", base_url=fake_upstream.url, region="us-east5", project="test-project",
                            api_key=Secret("ya29.ready-token"))
    async with aiohttp.ClientSession() as http:
        provider = VertexProvider("vertex", options, Services(http=http, config=None, wall_clock=lambda: 0.0))
        model = MODELS[family].removeprefix("vertex/")
        body = {"model": model, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}], "stream": True}
        reply = await provider.send(make_ctx(), make_request(body, endpoint=endpoint), Target(provider, model, "v/m"))
        with pytest.raises(UpstreamError) as caught:
            async for _ in reply:
                pass
        await reply.aclose()
    # Gemini's INTERNAL and Claude's overloaded_error alike: the vendor failed, not the request.
    assert caught.value.error_class == E.OVERLOADED
    assert caught.value.retryable is True
    assert "mid-stream" in caught.value.message


async def test_a_failed_token_refresh_is_a_network_failure(gateway, fake_upstream, tmp_path):
    # No token endpoint at all: the credentials' token_uri answers 404.
    path = ServiceAccount().write(tmp_path / "sa.json", fake_upstream.url + "/no-token-here")
    server = await gateway(config(fake_upstream.url, path, "gemini"))
    with pytest.raises(openai.APIStatusError) as caught:
        async with openai_client(server) as chat:
            await chat.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 503
    assert caught.value.body["code"] == "google_token_unavailable"
    assert await outcomes(server) == {E.NETWORK.value: 1}


async def test_a_vendor_that_does_not_answer_in_time_is_a_timeout(gateway, fake_upstream, credentials_file):
    script = SCRIPTS["claude"]
    server = await gateway(config(fake_upstream.url, credentials_file, "claude").replace("timeout = 10",
                                                                                          "timeout = 0.3"))
    fake_upstream.json(script.chat_path(False), {"never": "seen"}, delay=3)
    with pytest.raises(anthropic.APIStatusError) as caught:
        async with anthropic_client(server) as claude:
            await claude.messages.create(model="chat", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 504
    assert await outcomes(server) == {E.TIMEOUT.value: 1}
