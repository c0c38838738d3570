"""``type = "azure"`` through the real gateway server, with the official openai SDK as the client
where one is: where each call goes in both API shapes (deployments, api-version), the api-key
header and what never reaches Azure, Azure's errors (the content filter, DeploymentNotFound,
retry-after-ms), and Azure's own fields and finish reasons passing through untouched."""

from __future__ import annotations

import aiohttp
import openai
import orjson
import pytest

from sluicegate.errors import UpstreamError
from sluicegate.testing.vendor import Usage, json_answer
from sluicegate_azure.fake import (
    API_VERSION,
    DEPLOYMENT_NOT_FOUND,
    NO_KEY,
    PROMPT_FILTER_RESULTS,
    VIOLENT,
    AzureScript,
    content_filter_body,
    rate_limited,
)

TOKEN = "client-token-azure-tests"
KEY = "azure-resource-key-5e4d3c2b1a"
MESSAGES = [{"role": "user", "content": "hi"}]
DEPLOYMENTS = {"gpt-4o": "gpt4o-prod", "text-embedding-3-small": "embed-prod"}
BACKUP = "/backup/v1/chat/completions"
MODES = [pytest.param(None, id="v1"), pytest.param(API_VERSION, id="classic")]


def config(url: str, api_version: str | None, extra: str = "", retry: int = 1) -> str:
    version = f'api_version = "{api_version}"' if api_version else ""
    return f"""
[auth]
tokens = ["{TOKEN}"]

[providers.az]
type = "azure"
base_url = "{url}/openai/v1"
api_key = "${{AZ_KEY}}"
{version}
deployments = {{ "gpt-4o" = "gpt4o-prod", "text-embedding-3-small" = "embed-prod" }}
{extra}

[providers.backup]
type = "openai"
base_url = "{url}/backup/v1"

[models.chat]
targets = ["az/gpt-4o", "backup/gpt-4o-mini"]

[retry]
attempts = {retry}
"""


@pytest.fixture
def start(gateway, fake_upstream):
    async def start(api_version: str | None, extra: str = "", retry: int = 1, **kwargs):
        return await gateway(config(fake_upstream.url, api_version, extra, retry), env={"AZ_KEY": KEY}, **kwargs)

    return start


def client(server) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=TOKEN, max_retries=0)


def script(api_version: str | None) -> AzureScript:
    return AzureScript(api_version=api_version, deployments=DEPLOYMENTS)


def only_call(upstream, path: str):
    (call,) = upstream.calls(path)
    return call


# -- where calls go, and what they carry ------------------------------------------------------


@pytest.mark.parametrize("api_version", MODES)
async def test_chat_goes_to_the_deployment_with_the_api_key_header_only(start, fake_upstream, api_version):
    azure = script(api_version)
    path = azure.path("chat/completions", "gpt-4o")
    fake_upstream.on(path, azure.answer_text("Hello.", Usage()))
    server = await start(api_version)
    answer = await client(server).chat.completions.create(
        model="chat", messages=MESSAGES,
        # A client's own Azure key, bearer and project headers are its business, not Azure's.
        extra_headers={"api-key": "client-own-azure-key", "OpenAI-Project": "proj_client", "x-request-id": "rq-1"},
    )
    assert answer.choices[0].message.content == "Hello."
    call = only_call(fake_upstream, path)
    headers = {name.lower(): value for name, value in call.headers.items()}
    assert headers["api-key"] == KEY
    assert "authorization" not in headers and "openai-project" not in headers
    assert "client-own-azure-key" not in " ".join(headers.values()) and TOKEN not in " ".join(headers.values())
    assert headers["x-request-id"] == "rq-1"
    assert call.json()["model"] == "gpt4o-prod"  # the deployment, in both shapes
    assert call.query == ({"api-version": API_VERSION} if api_version else {})


@pytest.mark.parametrize("api_version", MODES)
async def test_embeddings_and_completions_reach_their_deployments(start, fake_upstream, api_version):
    azure = script(api_version)
    embed_path = azure.path("embeddings", "text-embedding-3-small")
    completions_path = azure.path("completions", "gpt-35-turbo-instruct")
    fake_upstream.on(embed_path, azure.answer_embeddings([[0.1, 0.2], [0.3, 0.4]]))
    fake_upstream.on(completions_path, azure.answer_completion("Paris."))
    server = await start(api_version)
    sdk = client(server)
    embeddings = await sdk.embeddings.create(model="az/text-embedding-3-small", input=["a", "b"],
                                             encoding_format="float")
    assert [item.embedding for item in embeddings.data] == [[0.1, 0.2], [0.3, 0.4]]
    # A model the map does not name is its own deployment name.
    completion = await sdk.completions.create(model="az/gpt-35-turbo-instruct", prompt="Capital of France?")
    assert completion.choices[0].text == "Paris."
    assert only_call(fake_upstream, embed_path).json()["model"] == "embed-prod"
    assert only_call(fake_upstream, completions_path).json()["model"] == "gpt-35-turbo-instruct"
    if api_version:
        assert embed_path == "/openai/deployments/embed-prod/embeddings"
        assert only_call(fake_upstream, embed_path).query == {"api-version": API_VERSION}


async def test_a_model_name_that_is_no_deployment_name_never_reaches_a_classic_path(start, fake_upstream):
    server = await start(API_VERSION)
    async with aiohttp.ClientSession() as http:
        response = await http.post(server.base_url + "/v1/chat/completions",
                                   headers={"Authorization": f"Bearer {TOKEN}"},
                                   json={"model": "az/../../admin", "messages": MESSAGES})
        body = await response.json()
    assert response.status == 400
    assert body["error"]["code"] == "invalid_deployment"
    assert "'../../admin' is not an Azure deployment name" in body["error"]["message"]
    assert fake_upstream.requests == []


async def test_azure_has_no_moderations(start, fake_upstream):
    server = await start(None)
    with pytest.raises(openai.BadRequestError) as caught:
        await client(server).moderations.create(model="az/omni-moderation-latest", input="x")
    assert caught.value.body["code"] == "unsupported_endpoint"
    assert fake_upstream.requests == []


@pytest.mark.parametrize("api_version", MODES)
async def test_the_health_check_lists_models_with_the_key(start, fake_upstream, api_version):
    azure = script(api_version)
    path = "/openai/v1/models" if api_version is None else "/openai/models"
    fake_upstream.on(path, azure.checked(json_answer({"object": "list", "data": []})))
    server = await start(api_version)
    provider = server.gateway.current.providers["az"]
    assert (provider.describe()["api_version"], provider.describe()["auth"]) == (api_version or "v1", "api_key")
    await provider.probe()
    call = only_call(fake_upstream, path)
    assert call.method == "GET"
    assert call.query == ({"api-version": API_VERSION} if api_version else {})
    assert call.headers["api-key"] == KEY
    fake_upstream.on(path, json_answer(NO_KEY, status=401))
    with pytest.raises(UpstreamError, match="Access denied"):
        await provider.probe()


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("api_version", MODES)
async def test_a_content_filter_refusal_is_a_400_that_no_fallback_routes_around(start, fake_upstream, api_version):
    azure = script(api_version)
    path = azure.path("chat/completions", "gpt-4o")
    fake_upstream.on(path, azure.answer_error(content_filter_body(), 400))
    fake_upstream.on(BACKUP, json_answer({"choices": []}))
    server = await start(api_version)
    with pytest.raises(openai.BadRequestError) as caught:
        await client(server).chat.completions.create(model="chat", messages=MESSAGES)
    error = caught.value
    assert error.status_code == 400
    assert error.body["code"] == "content_filter"
    assert error.body["type"] == "invalid_request_error"
    assert error.body["param"] == "prompt"
    assert error.body["message"].startswith(
        "provider 'az' returned HTTP 400: Azure OpenAI's content filter refused the request (hate (high)): "
        "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.")
    assert KEY not in error.response.text
    # A policy decision: sending the same prompt elsewhere, or again, would route around it.
    assert len(fake_upstream.calls(path)) == 1 and fake_upstream.calls(BACKUP) == []


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (404, DEPLOYMENT_NOT_FOUND, "not_found"),
        (401, NO_KEY, "authentication"),
    ],
)
async def test_a_missing_deployment_or_a_refused_key_falls_over(start, fake_upstream, status, body, kind):
    azure = script(None)
    path = azure.path("chat/completions")
    fake_upstream.on(path, azure.answer_error(body, status))
    fake_upstream.on(BACKUP, json_answer({"id": "x", "object": "chat.completion", "created": 1, "model": "m",
                                          "choices": [{"index": 0, "finish_reason": "stop",
                                                       "message": {"role": "assistant", "content": "backup"}}]}))
    server = await start(None)
    answer = await client(server).chat.completions.create(model="chat", messages=MESSAGES)
    assert answer.choices[0].message.content == "backup"
    assert len(fake_upstream.calls(path)) == 1  # no retry of the same deployment: it would fail the same way
    # Straight to Azure, the client sees Azure's status and a message that says what to fix.
    with pytest.raises(openai.APIStatusError) as caught:
        await client(server).chat.completions.create(model="az/gpt-4o", messages=MESSAGES)
    assert caught.value.status_code == status
    if kind == "not_found":
        assert caught.value.body["code"] == "DeploymentNotFound"
        assert "mapped to its deployment name in [providers.az] deployments" in caught.value.body["message"]
    else:
        assert caught.value.body["code"] == "invalid_api_key"


@pytest.mark.parametrize(
    ("status", "headers", "wait"),
    [
        (429, {"retry-after-ms": "1500", "retry-after": "2"}, 1.5),
        (429, {"retry-after": "4"}, 4.0),
        (503, {"retry-after-ms": "250"}, 0.25),
    ],
)
async def test_the_gateway_waits_as_long_as_azure_asks(start, fake_upstream, status, headers, wait):
    azure = script(None)
    path = azure.path("chat/completions")
    unavailable = azure.answer_error({"error": {"code": "ServiceUnavailable", "message": "Try again later."}},
                                     503, headers)
    fake_upstream.on(path, azure.checked(rate_limited(headers)) if status == 429 else unavailable,
                     azure.answer_text("after the wait", Usage()))
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    server = await start(None, retry=2, services={"sleep": sleep})
    answer = await client(server).chat.completions.create(model="az/gpt-4o", messages=MESSAGES)
    assert answer.choices[0].message.content == "after the wait"
    assert slept == [wait]


async def test_the_client_is_told_the_wait_in_whole_seconds(start, fake_upstream):
    azure = script(None)
    fake_upstream.on(azure.path("chat/completions"), azure.checked(rate_limited({"retry-after-ms": "1200"})))
    server = await start(None)
    with pytest.raises(openai.RateLimitError) as caught:
        await client(server).chat.completions.create(model="az/gpt-4o", messages=MESSAGES)
    assert caught.value.response.headers["retry-after"] == "2"
    assert caught.value.body["code"] == "rate_limit_exceeded"


# -- Azure's own fields -----------------------------------------------------------------------


async def post_raw(server, body: dict) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as http, http.post(
        server.base_url + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as response:
        return response.status, await response.read()


def events(raw: bytes) -> list[dict | str]:
    found: list[dict | str] = []
    for block in raw.split(b"\n\n"):
        for line in block.splitlines():
            if line.startswith(b"data: "):
                data = line[len(b"data: "):]
                found.append(data.decode() if data == b"[DONE]" else orjson.loads(data))
    return found


@pytest.mark.parametrize("api_version", MODES)
async def test_a_filtered_stream_and_the_filter_verdicts_pass_through_untouched(start, fake_upstream, api_version):
    azure = script(api_version)
    path = azure.path("chat/completions", "gpt-4o")
    fake_upstream.on(path, azure.answer_filtered_stream(["The ", "fight "]))
    server = await start(api_version)
    status, raw = await post_raw(server, {"model": "az/gpt-4o", "messages": MESSAGES, "stream": True})
    assert status == 200
    got = events(raw)
    assert got[-1] == "[DONE]"
    assert got[0]["choices"] == [] and got[0]["prompt_filter_results"] == PROMPT_FILTER_RESULTS
    finish = [chunk for chunk in got[1:-1] if chunk["choices"][0]["finish_reason"]]
    assert len(finish) == 1
    assert finish[0]["choices"][0]["finish_reason"] == "content_filter"
    assert finish[0]["choices"][0]["content_filter_results"] == VIOLENT
    assert "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in got[1:-1]) == "The fight "

    # The SDK reads the same stream to the filter's finish.
    stream = await client(server).chat.completions.create(model="az/gpt-4o", messages=MESSAGES, stream=True)
    reasons = [choice.finish_reason async for chunk in stream for choice in chunk.choices if choice.finish_reason]
    assert reasons == ["content_filter"]


async def test_a_complete_answer_is_relayed_byte_for_byte(start, fake_upstream):
    azure = script(None)
    sent = azure._completion({"role": "assistant", "content": "Hi.", "refusal": None}, "stop", Usage())
    fake_upstream.on(azure.path("chat/completions"), azure.checked(json_answer(sent)))
    server = await start(None)
    status, raw = await post_raw(server, {"model": "az/gpt-4o", "messages": MESSAGES})
    assert status == 200
    assert raw == orjson.dumps(sent)
    assert orjson.loads(raw)["prompt_filter_results"] == PROMPT_FILTER_RESULTS


async def test_a_deployment_that_stalls_after_the_prompt_verdict_is_failed_over(start, fake_upstream):
    azure = script(None)
    verdict = {"choices": [], "created": 0, "id": "", "model": "", "object": "",
               "prompt_filter_results": PROMPT_FILTER_RESULTS}
    # The verdict comes at once, the rest only after the test ended.
    fake_upstream.on(azure.path("chat/completions"), azure.checked(fake_upstream.sse_responder(
        [verdict, azure._chunk({"role": "assistant", "content": ""}), azure._chunk({"content": "late"})], delay=30)))
    fake_upstream.on(BACKUP, fake_upstream.sse_responder(
        [{"id": "b", "object": "chat.completion.chunk", "created": 1, "model": "m",
          "choices": [{"index": 0, "delta": {"content": "from backup"}, "finish_reason": "stop"}]}]))
    server = await start(None, extra="first_byte_timeout = 0.3")
    stream = await client(server).chat.completions.create(model="chat", messages=MESSAGES, stream=True)
    text = "".join([choice.delta.content or "" async for chunk in stream for choice in chunk.choices])
    assert text == "from backup"
    assert len(fake_upstream.calls(BACKUP)) == 1
