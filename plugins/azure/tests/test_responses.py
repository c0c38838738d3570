"""``/v1/responses`` passes through to Azure's own Responses API (the ``responses`` option is on
for azure), driven by the official openai SDK's ``responses.create``, streamed and not, in both API
shapes: ``/openai/v1/responses``, or ``/openai/responses?api-version=`` with the deployment as the
model."""

from __future__ import annotations

import openai
import pytest

from sluicegate.exchange import Endpoint
from sluicegate.testing.vendor import Usage
from sluicegate_azure.fake import API_VERSION, AzureScript

TOKEN = "client-token-azure-responses"
KEY = "azure-resource-key-responses-77"
MODES = [pytest.param(None, id="v1"), pytest.param(API_VERSION, id="classic")]


def config(url: str, api_version: str | None, responses: str = "") -> str:
    version = f'api_version = "{api_version}"' if api_version else ""
    return f"""
[auth]
tokens = ["{TOKEN}"]

[providers.az]
type = "azure"
base_url = "{url}"
api_key = "{KEY}"
{version}
deployments = {{ "gpt-4.1" = "gpt41-prod" }}
{responses}

[models.agent]
targets = ["az/gpt-4.1"]
"""


def client(server) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=TOKEN, max_retries=0)


@pytest.mark.parametrize("api_version", MODES)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_responses_create_reaches_azures_responses_api(gateway, fake_upstream, api_version, stream):
    azure = AzureScript(api_version=api_version, deployments={"gpt-4.1": "gpt41-prod"})
    path = azure.path("responses")
    fake_upstream.on(path, azure.answer_responses("Bonjour tout le monde"))
    server = await gateway(config(fake_upstream.url, api_version))
    sdk = client(server)
    if stream:
        async with sdk.responses.stream(model="agent", input="Say hello in French",
                                        instructions="Be brief.") as events:
            deltas = [event.delta async for event in events if event.type == "response.output_text.delta"]
            response = await events.get_final_response()
        assert "".join(deltas) == "Bonjour tout le monde"
    else:
        response = await sdk.responses.create(model="agent", input="Say hello in French", instructions="Be brief.")
    assert response.output_text == "Bonjour tout le monde"
    assert response.status == "completed"
    (call,) = fake_upstream.calls(path)
    assert path == ("/openai/v1/responses" if api_version is None else "/openai/responses")
    assert call.query == ({"api-version": API_VERSION} if api_version else {})
    assert call.headers["api-key"] == KEY and "Authorization" not in call.headers
    assert call.json()["model"] == "gpt41-prod"  # the deployment
    summary = azure.summarize_responses(call)
    assert (summary.model, summary.credential, summary.stream) == ("gpt-4.1", KEY, stream)
    assert (summary.system, summary.turns) == ("Be brief.", [("user", "Say hello in French")])


async def test_responses_false_bridges_onto_chat(gateway, fake_upstream):
    azure = AzureScript(deployments={"gpt-4.1": "gpt41-prod"})
    fake_upstream.on(azure.chat_path(False), azure.answer_text("Bonjour", Usage(5, 1)))
    server = await gateway(config(fake_upstream.url, None, "responses = false"))
    assert Endpoint.RESPONSES not in server.gateway.current.providers["az"].endpoints
    response = await client(server).responses.create(model="agent", input="Say hello in French")
    assert response.output_text == "Bonjour"
    assert fake_upstream.calls(azure.path("responses")) == []
    (call,) = fake_upstream.calls(azure.chat_path(False))
    assert call.json()["model"] == "gpt41-prod"
