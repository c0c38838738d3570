"""Claude Code and Codex CLI (the real, pinned CLIs) on keys the gateway issued (governance):
each CLI sends its key the way it does by default (Claude Code ``x-api-key`` from
``ANTHROPIC_API_KEY``, Codex ``Authorization: Bearer``), its tool round trip is served and
recorded in the ledger against the key, and a key whose budget cannot cover the CLI's next call
stops the CLI at once with the gateway's reason, without a retry and without the vendor being
called; with ``[store] reserve_max_tokens`` Claude Code works on a budget smaller than what its
``max_tokens`` would reserve.

Keys are made as an operator makes them, through the admin API; what was recorded is read back
through it too.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from agent_clis import (
    CLAUDE_OFFLINE,
    CodexProvider,
    ProxyTrap,
    base_env,
    claude_argv,
    codex_argv,
    codex_env,
    run,
)
from agent_vendors import (
    FINAL_TEXT,
    MESSAGES,
    PROMPT,
    conversation,
    received,
    serve_anthropic,
    serve_chat,
    vendor_providers,
)

from sluicegate.features.token_usage import estimate_prompt_tokens

pytestmark = pytest.mark.usefixtures("pinned_clis")

ADMIN_TOKEN = "admin-token-governed-agents-0123456789"
VENDOR_KEY = "sk-vendor-governed-agents-0000"
CLAUDE_MODEL = "claude-opus-4-8"
CODEX_MODEL = "gpt-5.5"
CLI_TIMEOUT = 45
#: A refusal the gateway marks permanent must end the CLI well before its retries would have.
REFUSED_WITHIN = 20.0
#: Per million tokens, in and out: a round trip costs well under a cent.
PRICE = 1.0


def config(vendor_url: str, store: Path, *, price: float = PRICE, store_extra: str = "") -> str:
    return f"""
[admin]
token = "${{ADMIN_TOKEN}}"
{vendor_providers(vendor_url)}
[models."{CLAUDE_MODEL}"]
targets = ["anthropic/{CLAUDE_MODEL}"]

[models."{CODEX_MODEL}"]
targets = ["compat/gpt-4o-mini"]

[pricing.prices."anthropic/*"]
input = {price}
output = {price}

[pricing.prices."compat/*"]
input = {price}
output = {price}

[store]
url = "sqlite+aiosqlite:///{store}"
flush_interval = 0.1
{store_extra}

[retry]
attempts = 1
"""


async def governed_gateway(gateway, vendor_url: str, tmp_path: Path, **options: Any):
    return await gateway(config(vendor_url, tmp_path / "store.db", **options),
                         env={"VENDOR_KEY": VENDOR_KEY, "ADMIN_TOKEN": ADMIN_TOKEN})


async def admin(server, method: str, path: str, body: Any = None) -> Any:
    async with aiohttp.ClientSession() as http, http.request(
            method, server.base_url + path, json=body, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as answer:
        data = await answer.json()
        assert answer.status < 300, data
        return data


async def new_key(server, **fields: Any) -> dict[str, Any]:
    return await admin(server, "POST", "/admin/api/keys", {"name": "agent", **fields})


async def ledger(server, key_id: str, expected: int, within: float = 10.0) -> list[dict[str, Any]]:
    """The key's rows in the request log, once ``expected`` of them are written."""
    deadline = time.monotonic() + within
    while True:
        rows = (await admin(server, "GET", f"/admin/api/logs?key={key_id}&limit=100"))["data"]
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.1)


def claude_env_with_key(home: Path, trap: ProxyTrap, base_url: str, key: str, *, retries: bool) -> dict[str, str]:
    """Claude Code as a user with an API key runs it: ``ANTHROPIC_API_KEY`` (sent as
    ``x-api-key``). ``retries``: its own retry policy left at its default."""
    env = {**base_env(home, trap.url), **CLAUDE_OFFLINE, "ANTHROPIC_BASE_URL": base_url, "ANTHROPIC_API_KEY": key}
    if retries:
        del env["CLAUDE_CODE_MAX_RETRIES"]
    return env


# -- Claude Code --------------------------------------------------------------------------------


async def test_claude_code_on_an_issued_key_is_served_and_recorded(gateway, fake_upstream, trap, tmp_path, workdir):
    serve_anthropic(fake_upstream)
    server = await governed_gateway(gateway, fake_upstream.url, tmp_path)
    key = await new_key(server, budget={"amount": 5, "period": "month"}, models=["claude-*"])

    env = claude_env_with_key(tmp_path / "home", trap, server.base_url, key["key"], retries=False)
    done = await run(claude_argv(PROMPT, model=CLAUDE_MODEL), env=env, cwd=workdir, time_limit=CLI_TIMEOUT)

    result = json.loads(done.stdout or "{}")
    assert done.returncode == 0 and result.get("result") == FINAL_TEXT, done.describe()
    assert trap.escapes == []
    calls = [request for request in fake_upstream.requests if request.path == MESSAGES]
    assert len(conversation(fake_upstream, MESSAGES)) == 2, received(fake_upstream)
    for request in fake_upstream.requests:  # the vendor gets the gateway's key, never the client's
        assert request.headers.get("x-api-key") == VENDOR_KEY
        assert key["key"] not in json.dumps(request.headers) + request.body.decode(errors="replace")
    rows = await ledger(server, key["id"], len(calls))
    assert len(rows) == len(calls)
    assert {(row["status"], row["endpoint"], row["model"]) for row in rows} == {(200, "messages", CLAUDE_MODEL)}
    assert all(row["tokens_in"] > 0 and row["tokens_out"] > 0 and row["cost"] > 0 for row in rows), rows
    # The key asks about itself with the same credential: its spend is the ledger's.
    async with aiohttp.ClientSession() as http, http.get(server.base_url + "/v1/key/info",
                                                         headers={"x-api-key": key["key"]}) as answer:
        info = await answer.json()
    assert info["spend"]["spent"] == pytest.approx(sum(row["cost"] for row in rows))


async def test_claude_code_on_a_key_whose_budget_cannot_cover_a_call_stops_at_once(
        gateway, fake_upstream, trap, tmp_path, workdir):
    serve_anthropic(fake_upstream)
    server = await governed_gateway(gateway, fake_upstream.url, tmp_path)
    # Claude Code asks for tens of thousands of max_tokens: at 1 per million tokens that is a
    # few cents reserved, more than this budget.
    key = await new_key(server, budget={"amount": 0.001, "period": "day"})

    env = claude_env_with_key(tmp_path / "home", trap, server.base_url, key["key"], retries=True)
    started = time.monotonic()
    done = await run(claude_argv(PROMPT, model=CLAUDE_MODEL), env=env, cwd=workdir, time_limit=CLI_TIMEOUT)
    took = time.monotonic() - started

    assert done.returncode != 0 or json.loads(done.stdout or "{}").get("is_error") is True, done.describe()
    assert "max_tokens" in done.stdout + done.stderr and "budget" in done.stdout + done.stderr, done.describe()
    assert took < REFUSED_WITHIN, f"{took:.1f} s: the CLI retried a refusal marked permanent\n{done.describe()}"
    assert fake_upstream.requests == [], received(fake_upstream)
    rows = await ledger(server, key["id"], 1)
    assert [row["status"] for row in rows] == [429], rows  # one call: no retry
    assert trap.escapes == []


async def test_claude_code_on_a_small_budget_works_with_reserve_max_tokens(gateway, fake_upstream, trap, tmp_path,
                                                                         workdir):
    # Claude Code asks for 64,000 max_tokens a call: at 10 per million tokens that alone reserves
    # 0.64, more than this key's 0.5. [store] reserve_max_tokens counts at most 1,000 of them.
    serve_anthropic(fake_upstream)
    server = await governed_gateway(gateway, fake_upstream.url, tmp_path, price=10.0,
                                    store_extra="reserve_max_tokens = 1000")
    budget = 0.5
    key = await new_key(server, budget={"amount": budget, "period": "day"})

    env = claude_env_with_key(tmp_path / "home", trap, server.base_url, key["key"], retries=False)
    done = await run(claude_argv(PROMPT, model=CLAUDE_MODEL), env=env, cwd=workdir, time_limit=CLI_TIMEOUT)

    result = json.loads(done.stdout or "{}")
    assert done.returncode == 0 and result.get("result") == FINAL_TEXT, done.describe()
    first = fake_upstream.requests[0]
    uncapped = (estimate_prompt_tokens(first.body) + first.json()["max_tokens"]) * 10.0 / 1e6
    assert uncapped > budget  # without the cap the first call would have been refused
    calls = len([request for request in fake_upstream.requests if request.path == MESSAGES])
    rows = await ledger(server, key["id"], calls)
    assert [row["status"] for row in rows] == [200] * calls
    assert 0 < sum(row["cost"] for row in rows) < budget


# -- Codex CLI ----------------------------------------------------------------------------------


async def codex_with_key(server, trap: ProxyTrap, tmp_path: Path, workdir: Path, key: str, *, retries: bool = False):
    provider = CodexProvider(base_url=server.base_url + "/v1", model=CODEX_MODEL, retries=retries)
    env = codex_env(tmp_path / "home", trap.url, provider, token=key)
    return await run(codex_argv(PROMPT), env=env, cwd=workdir, time_limit=CLI_TIMEOUT)


async def test_codex_on_an_issued_key_is_served_and_recorded(gateway, fake_upstream, trap, tmp_path, workdir):
    serve_chat(fake_upstream)
    server = await governed_gateway(gateway, fake_upstream.url, tmp_path)
    key = await new_key(server, budget={"amount": 5, "period": "month"})

    done = await codex_with_key(server, trap, tmp_path, workdir, key["key"])

    assert done.returncode == 0 and done.stdout.strip() == FINAL_TEXT, done.describe()
    assert trap.escapes == []
    calls = len(fake_upstream.requests)
    assert calls >= 2, received(fake_upstream)
    rows = await ledger(server, key["id"], calls)
    assert len(rows) == calls
    assert {(row["status"], row["endpoint"], row["model"]) for row in rows} == {(200, "responses", CODEX_MODEL)}
    assert all(row["cost"] > 0 for row in rows), rows


async def test_codex_on_a_key_whose_budget_cannot_cover_a_call_stops_at_once(gateway, fake_upstream, trap,
                                                                             tmp_path, workdir):
    serve_chat(fake_upstream)
    server = await governed_gateway(gateway, fake_upstream.url, tmp_path)
    key = await new_key(server, budget={"amount": 0.000001, "period": "day"})

    started = time.monotonic()
    done = await codex_with_key(server, trap, tmp_path, workdir, key["key"], retries=True)
    took = time.monotonic() - started

    assert done.returncode != 0, done.describe()
    # The refusal's type is OpenAI's for a spent quota (insufficient_quota): Codex knows it, stops
    # without retrying, and says so in its own words (it does not print the error's message).
    assert "Quota exceeded" in done.stdout + done.stderr, done.describe()
    assert took < REFUSED_WITHIN, f"{took:.1f} s: the CLI retried a refusal marked permanent\n{done.describe()}"
    assert fake_upstream.requests == [], received(fake_upstream)
    assert [row["status"] for row in await ledger(server, key["id"], 1)] == [429]
    assert trap.escapes == []
