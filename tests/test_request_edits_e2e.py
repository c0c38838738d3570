"""The request is one value: what a middleware changes is what every vendor receives.

A PII redactor registered through ``register_middlewares`` replaces card numbers in the messages
with ``req.replace(body=...)``. Through the real server, with the official openai SDK as the
client and fake vendors recording what they received: a pass-through provider (``type =
"openai"``, which sends the request's bytes) and a translated one (``type = "anthropic"``
behind ``/v1/chat/completions``) both receive the redacted text, streamed or not, also when
the request is otherwise sent as the client made it (its own model name, its own
``stream_options``), which is when a pass-through used to send the client's bytes. And a request
nobody changed reaches a pass-through vendor as the client's own bytes, spacing and key order
included: nothing re-encodes it.
"""

from __future__ import annotations

import re

import aiohttp
import openai
import pytest

import sluicegate
from sluicegate.testing import FakeUpstream, openai_chat_completion, openai_chunks

TOKEN = "client-token-request-edits-1"
CARD = "4111 1111 1111 1111"
SECRET_TEXT = f"my card is {CARD}, charge it"
REDACTED_TEXT = "my card is [card], charge it"
OAI = "/oai/v1/chat/completions"
CLAUDE = "/claude/v1/messages"

CONFIG = """
[auth]
tokens = ["{token}"]

[providers.oai]
type = "openai"
base_url = "{url}/oai/v1"
api_key = "sk-oai-request-edits-0000"
models = ["gpt-exact"]

[providers.claude]
type = "anthropic"
base_url = "{url}/claude"
api_key = "sk-ant-request-edits-000"

[models."gpt-*"]                 # forwards the client's own model name: nothing else to change
targets = ["oai/*"]

[models.translated]
targets = ["claude/claude-x"]
"""

_CARD_NUMBER = re.compile(r"\b(?:\d[ -]?){13,16}\b")


class Redactor:
    """A PII redactor plugin: card numbers in chat messages become ``[card]``."""

    def __init__(self) -> None:
        self.redacted = 0

    @sluicegate.hookimpl
    def register_middlewares(self, register):
        register("redact", self.factory, order=100, always=True)

    def factory(self, options, services):
        async def redact(ctx, req, call_next):
            messages = req.body.get("messages")
            if isinstance(messages, list):
                cleaned = [self._clean(message) for message in messages]
                if cleaned != messages:
                    self.redacted += 1
                    req = req.replace(body={**req.body, "messages": cleaned})
            return await call_next(ctx, req)

        return redact

    @staticmethod
    def _clean(message):
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, str):
            return message
        return {**message, "content": _CARD_NUMBER.sub("[card]", content)}


def anthropic_message(text: str) -> dict:
    return {"id": "msg_edits", "type": "message", "role": "assistant", "model": "claude-x",
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 5, "output_tokens": 2}}


def anthropic_events(text: str) -> list[tuple[str, dict]]:
    message = {**anthropic_message(""), "content": [], "stop_reason": None}
    return [
        ("message_start", {"type": "message_start", "message": message}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": text}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                           "usage": {"output_tokens": 2}}),
        ("message_stop", {"type": "message_stop"}),
    ]


@pytest.fixture
def redactor() -> Redactor:
    return Redactor()


@pytest.fixture
async def server(gateway, fake_upstream: FakeUpstream, redactor: Redactor):
    return await gateway(CONFIG.format(token=TOKEN, url=fake_upstream.url), extra_plugins=[("redact", redactor)])


@pytest.fixture
async def client(server):
    async with openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=TOKEN, max_retries=0) as sdk:
        yield sdk


def sent_text(request) -> str:
    """The last user text a vendor received, in either dialect."""
    content = request.json()["messages"][-1]["content"]
    return content if isinstance(content, str) else "".join(block["text"] for block in content)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_a_pass_through_vendor_receives_the_middlewares_edit(client, fake_upstream, redactor, stream):
    if stream:
        fake_upstream.sse(OAI, openai_chunks(["ok"]))
        # The client asks for the usage itself, so the gateway has nothing of its own to add.
        chunks = await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": SECRET_TEXT}], stream=True,
            stream_options={"include_usage": True})
        assert "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices]) == "ok"
    else:
        fake_upstream.json(OAI, openai_chat_completion("ok"))
        reply = await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": SECRET_TEXT}])
        assert reply.choices[0].message.content == "ok"
    [sent] = fake_upstream.calls(OAI)
    assert sent_text(sent) == REDACTED_TEXT
    assert CARD.encode() not in sent.body
    assert sent.json()["model"] == "gpt-4o" and redactor.redacted == 1


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_a_translated_vendor_receives_the_middlewares_edit(client, fake_upstream, redactor, stream):
    if stream:
        fake_upstream.sse(CLAUDE, anthropic_events("ok"), done=False)
        chunks = await client.chat.completions.create(
            model="translated", messages=[{"role": "user", "content": SECRET_TEXT}], stream=True)
        assert "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices]) == "ok"
    else:
        fake_upstream.json(CLAUDE, anthropic_message("ok"))
        reply = await client.chat.completions.create(
            model="translated", messages=[{"role": "user", "content": SECRET_TEXT}])
        assert reply.choices[0].message.content == "ok"
    [sent] = fake_upstream.calls(CLAUDE)
    assert sent_text(sent) == REDACTED_TEXT
    assert CARD.encode() not in sent.body
    assert sent.json()["model"] == "claude-x" and redactor.redacted == 1


async def test_an_unchanged_request_reaches_a_pass_through_vendor_as_the_clients_own_bytes(
    server, fake_upstream, redactor
):
    fake_upstream.json(OAI, openai_chat_completion("ok"))
    # Spacing, key order and escapes no encoder would reproduce; "gpt-exact" is the vendor's own name.
    raw = (b'{\n  "messages" : [ {"content": "caf\\u00e9, no card here", "role": "user"} ],\n'
           b'  "temperature": 0.50,\t"model": "gpt-exact"\n}')
    async with aiohttp.ClientSession() as session:
        async with session.post(server.base_url + "/v1/chat/completions", data=raw, headers={
            "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}) as response:
            assert response.status == 200, await response.text()
    [sent] = fake_upstream.calls(OAI)
    assert sent.body == raw
    assert redactor.redacted == 0
