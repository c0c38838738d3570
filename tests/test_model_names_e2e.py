"""Model names as coding agents send them, through the real server: glob aliases and the default
route (``[models."*"]``), bounded metrics labels for them, and ``GET /v1/models`` in Anthropic's
shape for the anthropic SDK (it sends ``anthropic-version``) next to OpenAI's for the openai SDK.
"""

from __future__ import annotations

import aiohttp
import anthropic
import openai
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sluicegate.testing import openai_chat_completion

TOKEN = "client-token-model-names-1"
MSG = [{"role": "user", "content": "hi"}]
NATIVE = "/claude/v1/messages"
COMPAT = "/ds/v1/chat/completions"

CONFIG = """
[auth]
tokens = ["{token}"]

[providers.native]
type = "anthropic"
base_url = "{url}/claude"
api_key = "sk-ant-model-names-000000"

[providers.ds]
type = "openai"
base_url = "{url}/ds/v1"
api_key = "sk-ds-model-names-0000000"
models = ["deepseek-chat", "deepseek-reasoner"]

[models.fast]
targets = ["ds/deepseek-chat"]

[models."claude-*"]            # every Claude Code name, forwarded as it is
targets = ["native/*"]

[models."gpt-5*"]              # Codex: gpt-5.5, gpt-5-codex, gpt-5.1-codex
targets = ["ds/deepseek-reasoner"]

[models."*"]                   # the default route: any other name
targets = ["ds/deepseek-chat"]

[retry]
attempts = 1
"""

LISTED = ["fast", "ds/deepseek-chat", "ds/deepseek-reasoner"]


def anthropic_message(model: str) -> dict:
    return {
        "id": "msg_names", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": "hi from " + model}], "stop_reason": "end_turn",
        "stop_sequence": None, "usage": {"input_tokens": 3, "output_tokens": 2},
    }


@pytest.fixture
async def server(gateway, fake_upstream):
    return await gateway(CONFIG.format(token=TOKEN, url=fake_upstream.url))


@pytest.fixture
async def claude(server):
    async with anthropic.AsyncAnthropic(base_url=server.base_url, api_key=TOKEN, max_retries=0) as client:
        yield client


@pytest.fixture
async def oai(server):
    async with openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=TOKEN, max_retries=0) as client:
        yield client


async def metric_samples(server) -> list:
    async with aiohttp.ClientSession() as http, http.get(server.base_url + "/metrics") as response:
        text = await response.text()
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


@pytest.mark.parametrize("name", ["claude-opus-4-8", "claude-opus-5-5", "claude-sonnet-4-5-20250929",
                                  "claude-haiku-4-5"])
async def test_claude_code_names_reach_the_vendor_as_they_were_asked(claude, fake_upstream, name):
    fake_upstream.json(NATIVE, anthropic_message(name))
    message = await claude.messages.create(model=name, max_tokens=100, messages=MSG)
    assert message.content[0].text == "hi from " + name
    [sent] = fake_upstream.calls(NATIVE)
    assert sent.json()["model"] == name


@pytest.mark.parametrize("name, upstream", [
    ("gpt-5.5", "deepseek-reasoner"),  # Codex's names go to the "gpt-5*" route
    ("gpt-5.1-codex", "deepseek-reasoner"),
    ("o3-mini", "deepseek-chat"),  # anything else takes the default route
    ("nope/gpt-4o", "deepseek-chat"),  # not a configured provider: just a name
    ("ds/deepseek-reasoner", "deepseek-reasoner"),  # provider/model goes straight there
    ("fast", "deepseek-chat"),
])
async def test_other_names_take_their_glob_or_the_default_route(oai, fake_upstream, name, upstream):
    fake_upstream.json(COMPAT, openai_chat_completion("ok"))
    await oai.chat.completions.create(model=name, messages=MSG)
    [sent] = fake_upstream.calls(COMPAT)
    assert sent.json()["model"] == upstream


async def test_a_glob_alias_labels_metrics_with_its_pattern_not_the_clients_names(server, claude, fake_upstream):
    names = ["claude-opus-4-8", "claude-made-up-1", "claude-made-up-2"]
    for name in names:
        fake_upstream.json(NATIVE, anthropic_message(name))
        await claude.messages.create(model=name, max_tokens=10, messages=MSG)
    samples = await metric_samples(server)
    requests = [s for s in samples if s.name == "sluicegate_requests_total" and s.labels.get("route") == "/v1/messages"]
    assert [(s.labels["model"], s.labels["provider"], s.value) for s in requests] == [("claude-*", "native", 3.0)]
    attempts = [s for s in samples if s.name == "sluicegate_upstream_attempts_total"]
    assert {s.labels["target"] for s in attempts} == {"native/*"}
    assert not any(name in value for s in samples for value in s.labels.values() for name in names)


# -- GET /v1/models ------------------------------------------------------------------------------


async def test_the_anthropic_sdk_lists_and_retrieves_models_in_its_own_shape(claude):
    page = await claude.models.list()
    assert [model.id for model in page.data] == LISTED
    assert (page.has_more, page.first_id, page.last_id) == (False, "fast", "ds/deepseek-reasoner")
    first = page.data[0]
    assert (first.type, first.display_name, first.lifecycle) == ("model", "fast", "active")
    assert first.created_at.year == 1970
    # Paged one at a time, as the SDK follows last_id.
    assert [model.id async for model in await claude.models.list(limit=1)] == LISTED
    # A name the gateway routes through a glob is a model too.
    model = await claude.models.retrieve("claude-opus-4-8")
    assert (model.id, model.type) == ("claude-opus-4-8", "model")


async def test_without_a_default_route_an_unknown_model_is_an_anthropic_404(gateway):
    server = await gateway(f'[auth]\ntokens = ["{TOKEN}"]\n[providers.m]\ntype = "mock"\n'
                           '[models."claude-*"]\ntargets = ["m/*"]\n')
    async with anthropic.AsyncAnthropic(base_url=server.base_url, api_key=TOKEN, max_retries=2) as client:
        assert (await client.models.retrieve("claude-opus-4-8")).id == "claude-opus-4-8"
        with pytest.raises(anthropic.NotFoundError) as caught:
            await client.models.retrieve("gpt-5.5")
    assert caught.value.body["type"] == "error"
    assert caught.value.body["error"]["type"] == "not_found_error"
    assert "gpt-5.5" in caught.value.body["error"]["message"]
    assert caught.value.response.headers["x-should-retry"] == "false"


async def test_the_anthropic_shape_pages_both_ways_and_refuses_a_bad_limit(server):
    headers = {"x-api-key": TOKEN, "anthropic-version": "2023-06-01"}
    async with aiohttp.ClientSession() as http:
        async def get(query: str) -> tuple[int, dict]:
            async with http.get(server.base_url + "/v1/models" + query, headers=headers) as response:
                return response.status, orjson.loads(await response.read())

        assert await get("?limit=2") == (200, {
            "data": [_entry("fast"), _entry("ds/deepseek-chat")],
            "has_more": True, "first_id": "fast", "last_id": "ds/deepseek-chat",
        })
        status, page = await get("?before_id=ds/deepseek-reasoner&limit=1")
        assert (status, [m["id"] for m in page["data"]], page["has_more"]) == (200, ["ds/deepseek-chat"], True)
        status, page = await get("?after_id=ds/deepseek-reasoner")
        assert (status, page) == (200, {"data": [], "has_more": False, "first_id": None, "last_id": None})
        for query in ("?limit=0", "?limit=1001", "?limit=x", "?after_id=unknown"):
            status, body = await get(query)
            assert status == 400, query
            assert (body["type"], body["error"]["type"]) == ("error", "invalid_request_error")


def _entry(model_id: str) -> dict:
    return {"type": "model", "id": model_id, "display_name": model_id, "created_at": "1970-01-01T00:00:00Z",
            "lifecycle": "active"}


async def test_the_openai_sdk_still_gets_openais_shape(oai):
    page = await oai.models.list()
    assert [(m.id, m.object, m.owned_by) for m in page.data] == [
        ("fast", "model", "sluicegate"), ("ds/deepseek-chat", "model", "ds"), ("ds/deepseek-reasoner", "model", "ds"),
    ]
    model = await oai.models.retrieve("claude-opus-4-8")
    assert (model.id, model.owned_by) == ("claude-opus-4-8", "native")
