"""Issued keys beside ``[auth]`` tokens, through a real gateway on a real SQLite store and a fake
OpenAI vendor: both kinds serve and the ledger tells them apart; ``x-api-key`` works like
``Authorization: Bearer`` (the official anthropic and openai SDKs); made-up credentials are
refused with 401 in the shape of the API called and never reach the vendor; and a config reload
keeps issued keys serving with no 401 in between.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import anthropic
import openai
import orjson
import pytest
from aiohttp import web

from sluicegate.gateway import GatewaySource
from sluicegate.testing.upstream import openai_chat_completion
from sluicegate_governance.issued import digest, new_id, new_secret, shown_prefix
from sluicegate_governance.model import LedgerRow, VirtualKey

CLIENT_TOKEN = "config-client-token-coexist-0123456789"
CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"
UPSTREAM = "/v1/chat/completions"  # what the vendor is asked, whichever API the client called
PROMPT_TOKENS, COMPLETION_TOKENS = 3, 5

CONFIG = """
[server]
shutdown_grace = 0.3

[auth]
tokens = ["{client}"]

[providers.fake]
type = "openai"
base_url = "{upstream}/v1"
api_key = "sk-vendor-secret-coexist-0123456789"

[models."m"]
targets = ["fake/gpt"]

[store]
url = "{db}"
refresh_interval = 3600
"""


def _config(upstream, db: str) -> str:
    return CONFIG.format(client=CLIENT_TOKEN, upstream=upstream.url, db=db)


def _answer(delay: float = 0.0):
    usage = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
             "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS}

    async def respond(request: web.Request) -> web.StreamResponse:
        if delay:
            await asyncio.sleep(delay)
        return web.json_response(openai_chat_completion("ok", usage=usage))

    return respond


def _key(name: str) -> tuple[str, VirtualKey]:
    secret = new_secret()
    return secret, VirtualKey(id=new_id("key"), name=name, digest=digest(secret), prefix=shown_prefix(secret))


def _hub(server):
    return server.gateway.current.extensions["store"]


async def _served(gateway, fake_upstream, sqlite_url, name: str = "bot") -> tuple[Any, str, VirtualKey]:
    fake_upstream.on(UPSTREAM, _answer())
    server = await gateway(_config(fake_upstream, sqlite_url))
    secret, key = _key(name)
    await _hub(server).put_key(key)
    return server, secret, key


async def _post(http: aiohttp.ClientSession, server, path: str, headers: dict[str, str],
                model: str = "m") -> tuple[int, Any, str]:
    body: dict[str, Any] = {"model": model, "max_tokens": COMPLETION_TOKENS,
                            "messages": [{"role": "user", "content": "hi"}]}
    sent = dict(headers)
    if path == MESSAGES:
        sent["anthropic-version"] = "2023-06-01"
    async with http.post(server.base_url + path, json=body, headers=sent) as response:
        text = await response.text()
        return response.status, orjson.loads(text) if text else None, text


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _x_api_key(token: str) -> dict[str, str]:
    return {"x-api-key": token}


async def _ledger(hub, expected: int, within: float = 15.0) -> list[LedgerRow]:
    """Every ledger row, once ``expected`` were written (the writer flushes every second)."""
    deadline = time.monotonic() + within
    while True:
        rows: list[LedgerRow] = []
        cursor = None
        while True:
            page = await hub.store.logs(cursor=cursor, limit=500)
            rows.extend(page.rows)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.1)


# -- both kinds of client -----------------------------------------------------------------------------


async def test_a_config_token_and_an_issued_key_both_serve_and_the_ledger_tells_them_apart(
        gateway, fake_upstream, sqlite_url):
    server, secret, key = await _served(gateway, fake_upstream, sqlite_url)
    async with aiohttp.ClientSession() as http:
        config_call = await _post(http, server, CHAT, _bearer(CLIENT_TOKEN))
        key_call = await _post(http, server, CHAT, _bearer(secret))
    assert config_call[0] == 200, config_call[2]
    assert key_call[0] == 200, key_call[2]
    assert len(fake_upstream.calls(UPSTREAM)) == 2

    rows = await _ledger(_hub(server), 2)
    by_key = {row.key_id: row for row in rows}
    assert len(rows) == 2 and set(by_key) == {None, key.id}
    config_row, key_row = by_key[None], by_key[key.id]
    # An [auth] token is named by its position; it has no key and no team.
    assert (config_row.client, config_row.team_id, config_row.status) == ("client-1", None, 200)
    assert (config_row.tokens_in, config_row.tokens_out) == (PROMPT_TOKENS, COMPLETION_TOKENS)
    assert (key_row.client, key_row.status) == (key.name, 200)


async def test_x_api_key_works_like_a_bearer_token_on_both_apis(gateway, fake_upstream, sqlite_url):
    server, secret, key = await _served(gateway, fake_upstream, sqlite_url)
    # The anthropic SDK sends the key as x-api-key (as Claude Code does)...
    claude = anthropic.AsyncAnthropic(base_url=server.base_url, api_key=secret, max_retries=0)
    try:
        message = await claude.messages.create(model="m", max_tokens=COMPLETION_TOKENS,
                                               messages=[{"role": "user", "content": "hi"}])
    finally:
        await claude.close()
    assert message.type == "message" and message.content[0].text == "ok"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (PROMPT_TOKENS, COMPLETION_TOKENS)
    # ...the openai SDK as a bearer token.
    gpt = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=secret, max_retries=0)
    try:
        completion = await gpt.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    finally:
        await gpt.close()
    assert completion.choices[0].message.content == "ok"

    async with aiohttp.ClientSession() as http:
        crossed = [await _post(http, server, MESSAGES, _bearer(secret)),
                   await _post(http, server, CHAT, _x_api_key(secret)),
                   await _post(http, server, CHAT, _x_api_key(CLIENT_TOKEN)),
                   await _post(http, server, MESSAGES, _x_api_key(CLIENT_TOKEN))]
    assert [status for status, _, _ in crossed] == [200] * 4, [text for _, _, text in crossed]
    assert crossed[0][1]["type"] == "message" and crossed[1][1]["object"] == "chat.completion"

    rows = await _ledger(_hub(server), 6)
    assert sorted((row.endpoint, row.key_id or "") for row in rows) == sorted([
        ("messages", key.id), ("chat/completions", key.id), ("messages", key.id), ("chat/completions", key.id),
        ("chat/completions", ""), ("messages", "")])


# -- refusals -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("made_up", [new_secret(), "not-an-issued-key-0123456789"], ids=["sk-sg", "other"])
async def test_a_made_up_credential_is_refused_in_each_apis_shape_and_reaches_no_vendor(
        gateway, fake_upstream, sqlite_url, made_up):
    server, secret, _ = await _served(gateway, fake_upstream, sqlite_url)
    async with aiohttp.ClientSession() as http:
        answers = []
        for send in (_bearer, _x_api_key):
            chat = await _post(http, server, CHAT, send(made_up))
            messages = await _post(http, server, MESSAGES, send(made_up))
            answers += [chat, messages]

            status, body, text = chat
            assert status == 401, text
            error = body["error"]
            assert set(error) >= {"message", "type", "param", "code"}
            assert (error["type"], error["code"]) == ("authentication_error", "invalid_api_key")

            status, body, text = messages
            assert status == 401, text
            assert body["type"] == "error" and body["error"]["type"] == "authentication_error"
            assert body["error"]["message"]
        missing = await _post(http, server, CHAT, {})
    assert missing[0] == 401 and missing[1]["error"]["code"] == "missing_api_key"
    for _, _, text in answers:
        assert made_up not in text and made_up[6:] not in text  # never echoed, not even in part
    assert fake_upstream.requests == []  # nothing refused went upstream

    # The issued key still serves beside them.
    async with aiohttp.ClientSession() as http:
        assert (await _post(http, server, CHAT, _bearer(secret)))[0] == 200
    assert len(fake_upstream.requests) == 1


# -- reloads --------------------------------------------------------------------------------------------


async def test_issued_keys_serve_through_reloads_with_no_401(gateway, fake_upstream, sqlite_url):
    """Clients keep calling while the config is reloaded twice: every call is a 200 (the new
    assembly starts from the key index the old one knew, then checks the store), the new config
    serves the key, and the ledger loses no row of either assembly."""
    fake_upstream.on(UPSTREAM, _answer(delay=0.01))
    text = _config(fake_upstream, sqlite_url)
    server = await gateway(text)
    secret, key = _key("steady")
    await _hub(server).put_key(key)
    statuses: list[int] = []
    stop = asyncio.Event()

    async def client(http: aiohttp.ClientSession) -> None:
        while not stop.is_set():
            statuses.append((await _post(http, server, CHAT, _bearer(secret)))[0])

    async def served_at_least(count: int) -> None:
        deadline = time.monotonic() + 20
        while len(statuses) < count:
            assert time.monotonic() < deadline, f"only {len(statuses)} calls served"
            await asyncio.sleep(0.01)

    async with aiohttp.ClientSession() as http:
        clients = [asyncio.create_task(client(http)) for _ in range(4)]
        try:
            await served_at_least(8)
            for round_ in range(2):
                old = _hub(server)
                # An edit: one more alias, only in the new config.
                edited = text + f'\n[models."m{round_}"]\ntargets = ["fake/gpt"]\n'
                server.gateway.source = GatewaySource(text=edited, env={})
                assert await server.gateway.reload() is True
                assert _hub(server) is not old  # a new assembly, with its own store extension
                await served_at_least(len(statuses) + 8)  # served by the new assembly
        finally:
            stop.set()
            await asyncio.gather(*clients)
        assert (await _post(http, server, CHAT, _bearer(secret), model="m1"))[0] == 200
    assert statuses and set(statuses) == {200}, statuses

    served = len(statuses) + 1
    rows = await _ledger(_hub(server), served)
    assert len(rows) == served and {row.key_id for row in rows} == {key.id}
