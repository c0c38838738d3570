"""``GET /v1/key/info`` through the real server: an issued key reads its own name, team, models,
limits, budget, spend and in-flight reservation this period; every other caller gets a clear
error in the OpenAI shape. Keys are put in a real SQLite store before the gateway starts."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from sluicegate.testing.gateway import running_gateway
from sluicegate_governance.issued import digest, new_secret, shown_prefix
from sluicegate_governance.model import Budget, Limits, Period, Team, VirtualKey
from sluicegate_governance.periods import period_bounds
from sluicegate_governance.sql.store import SqlStore

CLIENT_TOKEN = "config-client-token-0123456789"

CONFIG = """
[auth]
tokens = ["{client}"]

[providers.mock]
type = "mock"
models = ["echo-1"]

[providers.slow]
type = "mock"
latency = 1
models = ["echo-1"]

[models.echo]
targets = ["mock/echo-1"]

[pricing.prices."mock/*"]
input = 1000
output = 1000

[pricing.prices."slow/*"]
input = 1000
output = 1000

[store]
url = "sqlite+aiosqlite:///{path}"
"""


def iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


class Keys:
    """Secrets by name, for keys written to the store before the gateway starts."""

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}
        self.rows: list[VirtualKey] = []

    def add(self, name: str, **fields: Any) -> VirtualKey:
        secret = new_secret()
        self.secrets[name] = secret
        key = VirtualKey(id=f"key_{name}", name=name, digest=digest(secret), prefix=shown_prefix(secret), **fields)
        self.rows.append(key)
        return key


class Gate:
    """``services.sleep`` that waits until released: a request on the slow provider stays in
    flight exactly as long as the test wants."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        await self.opened.wait()


TEAM = Team(id="team_ops", name="ops", budget=Budget(amount=50.0, period=Period.MONTH), limits=Limits(rpm=600))


@pytest_asyncio.fixture
async def served(tmp_path):
    path = tmp_path / "store.db"
    keys = Keys()
    keys.add("bot", team_id=TEAM.id, models=("echo", "slow/*"), blocked_models=("echo-secret",),
             limits=Limits(rpm=60, tpm=10_000, concurrency=4), budget=Budget(amount=2.0, period=Period.DAY),
             expires_at=4102444800.0, metadata={"owner": "operator notes"})
    keys.add("solo", budget=Budget(amount=1.0, period=Period.TOTAL))
    keys.add("gone", enabled=False, revoked_at=1.0)
    keys.add("late", expires_at=1_000_000.0)
    store = SqlStore(f"sqlite+aiosqlite:///{path}")
    await store.open()
    await store.put_team(TEAM)
    for key in keys.rows:
        await store.put_key(key)
    await store.aclose()
    gate = Gate()
    async with running_gateway(CONFIG.format(client=CLIENT_TOKEN, path=path), services={"sleep": gate}) as server, \
            aiohttp.ClientSession() as http:
        try:
            yield server, http, keys, gate
        finally:
            gate.opened.set()


async def info(server, http, headers: dict[str, str]) -> tuple[int, dict[str, Any], str]:
    async with http.get(server.base_url + "/v1/key/info", headers=headers) as response:
        text = await response.text()
        return response.status, await response.json(content_type=None), text


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def test_a_key_reads_its_own_standing(served):
    server, http, keys, _ = served
    status, body, text = await info(server, http, bearer(keys.secrets["bot"]))
    assert status == 200, text
    assert (body["id"], body["name"], body["prefix"], body["status"]) == (
        "key_bot", "bot", shown_prefix(keys.secrets["bot"]), "active")
    assert body["models"] == ["echo", "slow/*"] and body["blocked_models"] == ["echo-secret"]
    assert body["limits"] == {"rpm": 60, "tpm": 10_000, "concurrency": 4}
    assert body["budget"] == {"amount": 2.0, "period": "day"}
    assert body["expires_at"] == "2100-01-01T00:00:00Z"
    start, end = period_bounds(Period.DAY, time.time())
    assert body["spend"] == {"spent": 0.0, "reserved": 0.0, "remaining": 2.0, "limit": 2.0,
                             "period_start": iso(start), "period_end": iso(end)}
    team = body["team"]
    assert (team["id"], team["name"], team["budget"]) == ("team_ops", "ops", {"amount": 50.0, "period": "month"})
    assert team["limits"]["rpm"] == 600 and team["spend"]["limit"] == 50.0
    # The operator's notes, the digest and the secret stay out.
    assert "metadata" not in body and "operator notes" not in text
    assert digest(keys.secrets["bot"]) not in text and keys.secrets["bot"] not in text

    # x-api-key (the anthropic SDK's header) works as the bearer does.
    assert (await info(server, http, {"x-api-key": keys.secrets["bot"]}))[1]["id"] == "key_bot"


async def test_spend_and_reservations_show_as_requests_run_and_finish(served):
    server, http, keys, gate = served
    headers = bearer(keys.secrets["bot"])
    chat = {"model": "slow/echo-1", "messages": [{"role": "user", "content": "hello there"}], "max_tokens": 10}
    running = asyncio.create_task(http.post(server.base_url + "/v1/chat/completions", json=chat, headers=headers))

    async def standing(check) -> dict[str, Any]:
        deadline = time.monotonic() + 10
        while True:
            body = (await info(server, http, headers))[1]
            if check(body["spend"]):
                return body
            assert time.monotonic() < deadline, body
            await asyncio.sleep(0.02)

    held = await standing(lambda spend: spend["reserved"] > 0)
    spend = held["spend"]
    assert spend["spent"] == 0.0 and spend["remaining"] == pytest.approx(2.0 - spend["reserved"])
    assert held["team"]["spend"]["reserved"] == pytest.approx(spend["reserved"])  # both budgets hold it

    gate.opened.set()
    response = await running
    assert response.status == 200
    usage = (await response.json())["usage"]
    response.release()
    done = await standing(lambda spend: spend["reserved"] == 0 and spend["spent"] > 0)
    cost = (usage["prompt_tokens"] + usage["completion_tokens"]) * 1000 / 1e6
    assert done["spend"]["spent"] == pytest.approx(cost)
    assert done["spend"]["remaining"] == pytest.approx(2.0 - cost)
    assert done["team"]["spend"]["spent"] == pytest.approx(cost)


async def test_a_total_budget_has_no_period_and_no_team(served):
    server, http, keys, _ = served
    status, body, _ = await info(server, http, bearer(keys.secrets["solo"]))
    assert status == 200
    assert body["team"] is None and body["team_id"] is None and body["models"] == []
    assert body["budget"] == {"amount": 1.0, "period": "total"}
    assert body["spend"]["period_start"] is None and body["spend"]["period_end"] is None


async def test_only_issued_keys_have_info_and_refusals_are_the_usual_401s(served):
    server, http, keys, _ = served
    cases = [
        (bearer(CLIENT_TOKEN), 404, "key_info_unavailable"),
        ({}, 401, "missing_api_key"),
        (bearer("sk-sg-" + "x" * 43), 401, "invalid_api_key"),
        (bearer(keys.secrets["gone"]), 401, "revoked_api_key"),
        (bearer(keys.secrets["late"]), 401, "expired_api_key"),
    ]
    for headers, status, code in cases:
        got, body, text = await info(server, http, headers)
        assert (got, body["error"]["code"]) == (status, code), text
        assert set(body["error"]) >= {"message", "type", "param", "code"}
        for secret in keys.secrets.values():
            assert secret not in text
    _, body, _ = await info(server, http, bearer(CLIENT_TOKEN))
    assert "issued" in body["error"]["message"]
    _, body, _ = await info(server, http, bearer(keys.secrets["late"]))
    assert "expired" in body["error"]["message"] and "1970-01-12T13:46:40Z" in body["error"]["message"]


async def test_without_a_store_key_info_says_only_issued_keys_have_it():
    config = CONFIG.format(client=CLIENT_TOKEN, path="unused").split("[store]")[0]
    async with running_gateway(config) as server, aiohttp.ClientSession() as http:
        status, body, _ = await info(server, http, bearer(CLIENT_TOKEN))
        assert (status, body["error"]["code"]) == (404, "key_info_unavailable")
        # An sk-sg- key is then nobody's: the [auth] tokens do not know it.
        status, body, _ = await info(server, http, bearer("sk-sg-" + "y" * 43))
        assert (status, body["error"]["code"]) == (401, "invalid_api_key")
