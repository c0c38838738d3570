"""The governance admin API through the real server, on a real SQLite store: teams and keys made
over HTTP serve (and are refused) on ``/v1/chat/completions`` and ``/v1/messages`` at once, usage
and the request log read back what was served, and a key's secret is shown exactly once.

The gateway runs on an injected wall clock (frozen, moved by hand) so expiry and budget periods
are exact; ``refresh_interval`` is long, so what a test sees right after a write was applied by
the write itself, not by the store poll.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from attrs import define

from sluicegate.errors import ConfigError
from sluicegate.gateway import GatewaySource
from sluicegate.server.runner import RunningServer
from sluicegate.testing.gateway import running_gateway
from sluicegate_governance.issued import digest, shown_prefix
from sluicegate_governance.model import Period
from sluicegate_governance.periods import period_bounds

ADMIN_TOKEN = "admin-token-for-governance-0123456789"
CLIENT_TOKEN = "config-client-token-0123456789"
ENV = {"ADMIN_TOKEN": ADMIN_TOKEN, "GATEWAY_TOKEN": CLIENT_TOKEN}
#: 0.001 per token, in and out: a budget of 0.2 is 200 tokens.
PRICE = 1000

CONFIG = """
[auth]
tokens = ["${{GATEWAY_TOKEN}}"]

[admin]
token = "${{ADMIN_TOKEN}}"

[providers.mock]
type = "mock"
models = ["echo-1", "other-1"]

[models.echo]
targets = ["mock/echo-1"]

[models.other]
targets = ["mock/other-1"]

[pricing.prices."mock/*"]
input = {price}
output = {price}

[store]
url = "sqlite+aiosqlite:///{path}"
refresh_interval = 3600
"""


class WallClock:
    """Frozen at the real time the test starts; ``advance`` moves it."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@define
class Answer:
    status: int
    data: Any
    text: str
    headers: Any


@define
class Gov:
    server: RunningServer
    http: aiohttp.ClientSession
    clock: WallClock
    seen: list[str]  # every response text, to search for secrets afterwards

    async def call(self, method: str, route: str, body: Any = None, *, token: str | None = ADMIN_TOKEN,
                   headers: dict[str, str] | None = None) -> Answer:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        async with self.http.request(method, self.server.base_url + route, json=body, headers=sent) as response:
            text = await response.text()
            data = await response.json(content_type=None) if "json" in response.content_type else None
            self.seen.append(text)
            return Answer(response.status, data, text, response.headers)

    async def chat(self, key: str, model: str = "echo", content: str = "hello there", **extra: Any) -> Answer:
        body = {"model": model, "messages": [{"role": "user", "content": content}], "max_tokens": 1, **extra}
        return await self.call("POST", "/v1/chat/completions", body, token=key)

    async def messages(self, key: str, model: str = "echo") -> Answer:
        body = {"model": model, "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]}
        return await self.call("POST", "/v1/messages", body, token=None,
                               headers={"x-api-key": key, "anthropic-version": "2023-06-01"})

    async def generate(self, key: str, model: str = "echo") -> Answer:
        """The Gemini entrance, with the key where the google-genai SDK sends it."""
        body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "generationConfig": {"maxOutputTokens": 1}}
        return await self.call("POST", f"/v1beta/models/{model}:generateContent", body, token=None,
                               headers={"x-goog-api-key": key})

    async def new_key(self, **fields: Any) -> dict[str, Any]:
        answer = await self.call("POST", "/admin/api/keys", {"name": "bot", **fields})
        assert answer.status == 201, answer.text
        return answer.data

    async def new_team(self, **fields: Any) -> dict[str, Any]:
        answer = await self.call("POST", "/admin/api/teams", {"name": "ops", **fields})
        assert answer.status == 201, answer.text
        return answer.data


def config(tmp_path: Path, **replace: str) -> str:
    text = CONFIG.format(price=PRICE, path=tmp_path / "store.db")
    for old, new in replace.items():
        text = text.replace(old, new)
    return text


@pytest_asyncio.fixture
async def gov(tmp_path):
    clock = WallClock()
    async with running_gateway(config(tmp_path), env=ENV, services={"wall_clock": clock}) as server, \
            aiohttp.ClientSession() as http:
        yield Gov(server, http, clock, [])


def assert_openai_error(answer: Answer, status: int, code: str) -> dict[str, Any]:
    assert answer.status == status, answer.text
    error = answer.data["error"]
    assert set(error) >= {"message", "type", "param", "code"}
    assert error["code"] == code, answer.text
    return error


async def wait_for(check, what: str, within: float = 10.0):
    """Poll ``check()`` (a coroutine function) until it returns something truthy."""
    deadline = time.monotonic() + within
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


# -- access ------------------------------------------------------------------------------------------


async def test_the_routes_need_the_admin_token_and_are_absent_without_admin(gov, tmp_path):
    missing = await gov.call("GET", "/admin/api/keys", token=None)
    assert_openai_error(missing, 401, "missing_admin_token")
    for route in ("/admin/api/keys", "/admin/api/teams", "/admin/api/usage", "/admin/api/logs"):
        wrong = await gov.call("GET", route, token=CLIENT_TOKEN)
        assert_openai_error(wrong, 401, "invalid_admin_token")
        assert CLIENT_TOKEN not in wrong.text
    assert_openai_error(await gov.call("PUT", "/admin/api/keys"), 405, "method_not_allowed")

    # Without [admin] the routes do not exist; with it but without [store] they say what is missing.
    no_admin = config(tmp_path).replace('[admin]\ntoken = "${ADMIN_TOKEN}"', "")
    no_store = config(tmp_path).split("[store]")[0]
    for text, status, code in ((no_admin, 404, "not_found"), (no_store, 404, "store_not_configured")):
        async with running_gateway(text, env=ENV) as server:
            async with gov.http.get(server.base_url + "/admin/api/keys",
                                    headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as response:
                body = await response.json()
                assert (response.status, body["error"]["code"]) == (status, code), body
                if code == "store_not_configured":
                    assert "[store]" in body["error"]["message"]


# -- teams and keys ----------------------------------------------------------------------------------


async def test_teams_are_created_listed_changed_and_deleted(gov):
    team = await gov.new_team(budget={"amount": 5, "period": "week"}, limits={"rpm": 10}, metadata={"cc": "42"})
    assert team["id"].startswith("team_") and team["name"] == "ops" and team["keys"] == 0
    assert team["budget"] == {"amount": 5.0, "period": "week"}
    assert team["limits"] == {"rpm": 10, "tpm": None, "concurrency": None}
    start, end = period_bounds(Period.WEEK, gov.clock())
    assert team["spend"]["spent"] == 0.0 and team["spend"]["remaining"] == 5.0
    assert team["spend"]["period_end"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end))

    duplicate = await gov.call("POST", "/admin/api/teams", {"name": "ops"})
    assert_openai_error(duplicate, 409, "conflict")
    assert "ops" in duplicate.data["error"]["message"]

    changed = await gov.call("PATCH", f"/admin/api/teams/{team['id']}", {"limits": {"tpm": 1000}, "budget": None})
    assert changed.status == 200, changed.text
    # A limit not named stays; a budget set to null is gone.
    assert changed.data["limits"] == {"rpm": 10, "tpm": 1000, "concurrency": None}
    assert changed.data["budget"] is None and changed.data["spend"] is None

    key = await gov.new_key(team_id=team["id"])
    listed = await gov.call("GET", "/admin/api/teams")
    assert [(t["id"], t["keys"]) for t in listed.data["data"]] == [(team["id"], 1)]

    refused = await gov.call("DELETE", f"/admin/api/teams/{team['id']}")
    assert_openai_error(refused, 409, "team_has_keys")
    assert (await gov.call("DELETE", f"/admin/api/keys/{key['id']}")).status == 200
    deleted = await gov.call("DELETE", f"/admin/api/teams/{team['id']}")
    assert deleted.data == {"id": team["id"], "object": "team", "deleted": True}
    assert_openai_error(await gov.call("GET", f"/admin/api/teams/{team['id']}"), 404, "team_not_found")
    assert_openai_error(await gov.call("DELETE", f"/admin/api/teams/{team['id']}"), 404, "team_not_found")


async def test_a_created_key_serves_at_once_and_its_secret_is_shown_once(gov, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    team = await gov.new_team()
    created = await gov.new_key(team_id=team["id"], models=["echo", "oth*"], expires_at="2099-01-01T00:00:00Z",
                                metadata={"owner": "ci"}, limits={"rpm": 100})
    secret = created["key"]
    assert secret.startswith("sk-sg-") and len(secret) == 49
    assert created["prefix"] == shown_prefix(secret) and created["status"] == "active"
    assert created["expires_at"] == "2099-01-01T00:00:00Z"
    assert created["models"] == ["echo", "oth*"] and created["team_id"] == team["id"]

    answer = await gov.chat(secret)
    assert answer.status == 200, answer.text  # no store poll needed: refresh_interval is an hour
    assert (await gov.chat(secret, model="other")).status == 200

    # Every later view shows the prefix only.
    shown = [await gov.call("GET", "/admin/api/keys"), await gov.call("GET", f"/admin/api/keys/{created['id']}"),
             await gov.call("GET", f"/admin/api/keys?team={team['id']}"),
             await gov.call("PATCH", f"/admin/api/keys/{created['id']}", {"name": "renamed"})]
    assert [len(a.data["data"]) if "data" in a.data else a.data["name"] for a in shown] == [1, "bot", 1, "renamed"]
    assert all(a.status == 200 for a in shown)
    assert shown[0].data["data"][0]["prefix"] == shown_prefix(secret)
    assert_openai_error(await gov.call("GET", "/admin/api/keys?team=team_nope"), 404, "team_not_found")

    await wait_for(lambda: _logged(gov, 2), "two ledger rows")
    await gov.call("GET", "/admin/api/usage?group_by=key")
    await gov.call("GET", "/v1/key/info", token=secret)
    # The secret appears in the one answer that made it and nowhere else: not in a listing, the
    # log, the usage, an error or a log line (DEBUG included); nor does its digest, except in
    # the database driver's own DEBUG lines, which print every statement's parameters.
    made = [text for text in gov.seen if secret in text]
    assert len(made) == 1 and '"key":"' + secret in made[0]
    ours = "\n".join(record.getMessage() for record in caplog.records if not record.name.startswith("aiosqlite"))
    printed = capsys.readouterr()
    for text in [*[t for t in gov.seen if t is not made[0]], ours, printed.out, printed.err]:
        assert secret not in text and secret[12:] not in text and digest(secret) not in text
    assert secret not in caplog.text and secret[12:] not in caplog.text


async def _logged(gov: Gov, count: int, query: str = "") -> list[dict[str, Any]] | None:
    answer = await gov.call("GET", "/admin/api/logs?limit=500" + query)
    rows = answer.data["data"]
    return rows if len(rows) >= count else None


async def test_bad_fields_are_refused_naming_the_field(gov):
    team = await gov.new_team()
    cases = [
        ({}, "name", "invalid_value"),
        ({"name": "  "}, "name", "invalid_value"),
        ({"name": "x", "budget": {"amount": -1}}, "budget.amount", "invalid_value"),
        ({"name": "x", "budget": {"amount": 1, "period": "year"}}, "budget.period", "invalid_value"),
        ({"name": "x", "limits": {"rpm": 0}}, "limits.rpm", "invalid_value"),
        ({"name": "x", "limits": {"rps": 1}}, "limits.rps", "unknown_field"),
        ({"name": "x", "expires_at": "next tuesday"}, "expires_at", "invalid_value"),
        ({"name": "x", "models": "gpt-4o"}, "models", "invalid_value"),
        ({"name": "x", "enabled": "yes"}, "enabled", "invalid_value"),
        ({"name": "x", "digest": "0" * 64}, "digest", "unknown_field"),
        ({"name": "x", "team_id": "team_nope"}, "team_id", "invalid_value"),
    ]
    for body, param, code in cases:
        answer = await gov.call("POST", "/admin/api/keys", body)
        error = assert_openai_error(answer, 400, code)
        assert error["param"] == param, (body, answer.text)
        assert param.split(".")[0] in error["message"]
    assert_openai_error(await gov.call("PATCH", f"/admin/api/teams/{team['id']}", {"budget": {}}), 400,
                        "invalid_value")
    assert_openai_error(await gov.call("POST", "/admin/api/teams", {"name": "x", "keys": 3}), 400, "unknown_field")
    not_json = await gov.http.post(gov.server.base_url + "/admin/api/keys", data=b"{nope",
                                   headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert not_json.status == 400 and (await not_json.json())["error"]["code"] == "invalid_json"
    # Nothing refused was stored.
    assert (await gov.call("GET", "/admin/api/keys")).data["data"] == []


async def test_expires_at_takes_unix_seconds_and_comes_back_as_iso(gov):
    key = await gov.new_key(expires_at=4102444800)
    assert key["expires_at"] == "2100-01-01T00:00:00Z"
    changed = await gov.call("PATCH", f"/admin/api/keys/{key['id']}", {"expires_at": None})
    assert changed.data["expires_at"] is None


# -- refusals ----------------------------------------------------------------------------------------


async def test_revoke_refuses_the_key_at_once_and_for_good(gov):
    key = await gov.new_key()
    assert (await gov.chat(key["key"])).status == 200
    revoked = await gov.call("POST", f"/admin/api/keys/{key['id']}/revoke")
    assert revoked.status == 200 and revoked.data["status"] == "revoked" and revoked.data["revoked_at"]
    refused = await gov.chat(key["key"])
    error = assert_openai_error(refused, 401, "revoked_api_key")
    assert "revoked" in error["message"] and key["key"] not in refused.text

    again = await gov.call("POST", f"/admin/api/keys/{key['id']}/revoke")
    assert again.data["revoked_at"] == revoked.data["revoked_at"]  # idempotent
    assert_openai_error(await gov.call("PATCH", f"/admin/api/keys/{key['id']}", {"enabled": True}), 409,
                        "key_revoked")
    assert_openai_error(await gov.call("POST", f"/admin/api/keys/{key['id']}/rotate"), 409, "key_revoked")
    assert (await gov.chat(key["key"])).status == 401

    # Disabling is not revoking: it can be undone.
    other = await gov.new_key(name="other")
    off = await gov.call("PATCH", f"/admin/api/keys/{other['id']}", {"enabled": False})
    assert off.data["status"] == "disabled"
    assert (await gov.chat(other["key"])).status == 401
    await gov.call("PATCH", f"/admin/api/keys/{other['id']}", {"enabled": True})
    assert (await gov.chat(other["key"])).status == 200


async def test_rotate_replaces_the_secret_and_keeps_the_key(gov):
    key = await gov.new_key(budget={"amount": 10, "period": "month"})
    rotated = await gov.call("POST", f"/admin/api/keys/{key['id']}/rotate")
    assert rotated.status == 200
    new = rotated.data["key"]
    assert new != key["key"] and rotated.data["id"] == key["id"] and rotated.data["prefix"] == shown_prefix(new)
    assert rotated.data["budget"] == key["budget"]
    old = await gov.chat(key["key"])
    assert_openai_error(old, 401, "invalid_api_key")
    assert key["key"] not in old.text
    assert (await gov.chat(new)).status == 200
    assert "key" not in (await gov.call("GET", f"/admin/api/keys/{key['id']}")).data


async def test_an_expired_key_is_refused_saying_so(gov):
    key = await gov.new_key(expires_at=gov.clock() + 60)
    assert (await gov.chat(key["key"])).status == 200
    gov.clock.advance(120)
    refused = await gov.chat(key["key"])
    error = assert_openai_error(refused, 401, "expired_api_key")
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(gov.clock() - 60))
    assert "expired" in error["message"] and when in error["message"]
    assert (await gov.call("GET", f"/admin/api/keys/{key['id']}")).data["status"] == "expired"


async def test_a_model_outside_the_allow_list_is_refused_in_each_apis_shape(gov):
    key = await gov.new_key(models=["echo"], blocked_models=["other"])
    assert (await gov.chat(key["key"])).status == 200
    refused = await gov.chat(key["key"], model="other")
    error = assert_openai_error(refused, 403, "model_not_allowed")
    assert "other" in error["message"] and error["type"] == "permission_error"
    assert refused.headers["x-should-retry"] == "false"

    assert (await gov.messages(key["key"])).status == 200
    anthropic = await gov.messages(key["key"], model="other")
    assert anthropic.status == 403 and anthropic.headers["x-should-retry"] == "false"
    assert anthropic.data["type"] == "error" and anthropic.data["error"]["type"] == "permission_error"
    assert "other" in anthropic.data["error"]["message"]

    assert (await gov.generate(key["key"])).status == 200
    google = await gov.generate(key["key"], model="other")
    assert google.status == 403 and google.headers["x-should-retry"] == "false"
    assert google.data["error"]["status"] == "PERMISSION_DENIED" and "other" in google.data["error"]["message"]


async def test_a_spent_budget_is_refused_until_it_renews(gov):
    key = await gov.new_key(budget={"amount": 0.2, "period": "day"})
    # 300 one-letter words: the estimate (about 4 bytes a token) admits it, the vendor's usage
    # (300 prompt tokens + 1) costs 0.301, past the budget.
    first = await gov.chat(key["key"], content="a " * 300)
    assert first.status == 200, first.text

    async def settled():
        info = await gov.call("GET", "/v1/key/info", token=key["key"])
        return info.data if info.data["spend"]["spent"] > 0 else None

    info = await wait_for(settled, "the first request's settlement")
    assert info["spend"]["spent"] == pytest.approx(0.301) and info["spend"]["reserved"] == 0
    _, end = period_bounds(Period.DAY, gov.clock())
    renews = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end))
    assert info["spend"]["period_end"] == renews

    refused = await gov.chat(key["key"])
    error = assert_openai_error(refused, 429, "budget_exceeded")
    assert refused.headers["x-should-retry"] == "false"
    assert renews in error["message"] and "budget" in error["message"]
    anthropic = await gov.messages(key["key"])
    assert anthropic.status == 429 and anthropic.headers["x-should-retry"] == "false"
    assert anthropic.data["type"] == "error" and renews in anthropic.data["error"]["message"]
    google = await gov.generate(key["key"])
    assert google.status == 429 and google.headers["x-should-retry"] == "false"
    assert google.data["error"]["status"] == "RESOURCE_EXHAUSTED" and renews in google.data["error"]["message"]

    # The admin view shows the same standing; the next day the budget renews.
    shown = (await gov.call("GET", f"/admin/api/keys/{key['id']}")).data
    assert shown["spend"]["spent"] == pytest.approx(0.301) and shown["spend"]["remaining"] == 0
    gov.clock.advance(end - gov.clock() + 1)
    assert (await gov.chat(key["key"])).status == 200


async def test_a_request_that_may_cost_more_than_is_left_says_so(gov):
    # Agents ask for tens of thousands of max_tokens: a reservation of that much can pass what is
    # left of a budget long before it is spent, and the refusal must say which it is.
    key = await gov.new_key(budget={"amount": 0.2, "period": "day"})
    refused = await gov.chat(key["key"], max_tokens=500)  # at least 0.5 reserved, of 0.2
    error = assert_openai_error(refused, 429, "budget_exceeded")
    assert refused.headers["x-should-retry"] == "false"
    message = error["message"]
    assert "may cost up to 0.5" in message and "more than the 0.2 left of this key's budget of 0.2" in message
    assert "(0 spent, 0 in flight)" in message and "max_tokens" in message and "renews at" in message
    assert "is spent" not in message
    # Nothing was reserved or spent by the refusal: a request that fits is served.
    assert (await gov.chat(key["key"], max_tokens=1)).status == 200


async def test_reserve_max_tokens_caps_what_a_request_reserves(tmp_path):
    # [store] reserve_max_tokens: an agent's max_tokens of thousands reserves at most the cap, so
    # a budget's last part serves it (and the vendor's real usage is what is spent).
    capped = config(tmp_path, **{"refresh_interval = 3600": "refresh_interval = 3600\nreserve_max_tokens = 50"})
    async with running_gateway(capped, env=ENV, services={"wall_clock": WallClock()}) as server, \
            aiohttp.ClientSession() as http:
        gov = Gov(server, http, WallClock(), [])
        key = await gov.new_key(budget={"amount": 0.2, "period": "day"})
        served = await gov.chat(key["key"], max_tokens=500)  # 0.5 of the 0.2 without the cap
        assert served.status == 200, served.text

        async def settled():
            info = await gov.call("GET", "/v1/key/info", token=key["key"])
            return info.data if info.data["spend"]["spent"] > 0 else None

        info = await wait_for(settled, "the request's settlement")
        usage = served.data["usage"]
        assert info["spend"]["spent"] == pytest.approx((usage["prompt_tokens"] + usage["completion_tokens"]) / 1000)
        assert info["spend"]["reserved"] == 0


def test_reserve_max_tokens_must_be_a_whole_number_of_tokens(tmp_path):
    bad = config(tmp_path, **{"refresh_interval = 3600": "refresh_interval = 3600\nreserve_max_tokens = 0"})
    with pytest.raises(ConfigError) as caught:
        GatewaySource(text=bad, env=ENV).load()
    assert "store.reserve_max_tokens" in str(caught.value), str(caught.value)


async def test_a_team_budget_binds_every_key_of_the_team(gov):
    team = await gov.new_team(budget={"amount": 0.2, "period": "month"})
    one = await gov.new_key(team_id=team["id"])
    two = await gov.new_key(name="two", team_id=team["id"])
    assert (await gov.chat(one["key"], content="a " * 300)).status == 200

    async def team_spent():
        listed = await gov.call("GET", f"/admin/api/teams/{team['id']}")
        return listed.data["spend"]["spent"] > 0

    await wait_for(team_spent, "the team's spend")
    refused = await gov.chat(two["key"])
    error = assert_openai_error(refused, 429, "budget_exceeded")
    assert "team" in error["message"]


# -- usage and the log -------------------------------------------------------------------------------


async def test_usage_and_logs_read_back_the_calls_with_pagination(gov):
    key = await gov.new_key()
    ids = []
    for model in ("echo", "echo", "other"):
        answer = await gov.chat(key["key"], model=model)
        assert answer.status == 200
        ids.append(answer.headers["x-request-id"])
    config_call = await gov.chat(CLIENT_TOKEN)  # an [auth] token: in the ledger, with no key
    assert config_call.status == 200

    rows = await wait_for(lambda: _logged(gov, 4), "four ledger rows")
    assert [row["request_id"] for row in rows[1:]] == ids[::-1]  # newest first
    mine = rows[1]
    assert (mine["key_id"], mine["model"], mine["provider"], mine["upstream_model"], mine["status"]) == (
        key["id"], "other", "mock", "other-1", 200)
    assert mine["endpoint"] == "chat/completions" and mine["tokens_in"] == 2 and mine["tokens_out"] == 1
    assert mine["cost"] == pytest.approx(0.003)
    assert rows[0]["key_id"] is None and rows[0]["request_id"] == config_call.headers["x-request-id"]

    first = await gov.call("GET", f"/admin/api/logs?key={key['id']}&limit=2")
    assert [row["request_id"] for row in first.data["data"]] == ids[:0:-1]
    assert first.data["next_cursor"]
    rest = await gov.call("GET", f"/admin/api/logs?key={key['id']}&limit=2&cursor={first.data['next_cursor']}")
    assert [row["request_id"] for row in rest.data["data"]] == ids[:1] and rest.data["next_cursor"] is None
    filtered = await gov.call("GET", "/admin/api/logs?model=other")
    assert [row["request_id"] for row in filtered.data["data"]] == ids[2:]

    by_model = await gov.call("GET", "/admin/api/usage?group_by=model&granularity=hour")
    assert by_model.status == 200, by_model.text
    assert {(p["group"], p["requests"]) for p in by_model.data["data"]} == {("echo", 3), ("other", 1)}
    assert by_model.data["total"]["requests"] == 4
    by_key = await gov.call("GET", f"/admin/api/usage?group_by=key&key={key['id']}")
    assert [(p["group"], p["requests"], p["tokens_in"]) for p in by_key.data["data"]] == [(key["id"], 3, 6)]
    assert by_key.data["total"]["cost"] == pytest.approx(0.009)
    # The window is widened to whole days.
    assert by_key.data["start"].endswith("T00:00:00Z") and by_key.data["end"].endswith("T00:00:00Z")
    later = await gov.call("GET", f"/admin/api/usage?start={int(gov.clock()) + 2 * 86400}"
                                  f"&end={int(gov.clock()) + 3 * 86400}")
    assert later.data["data"] == [] and later.data["total"]["requests"] == 0


async def test_usage_and_logs_refuse_bad_queries_naming_the_parameter(gov):
    cases = [
        ("/admin/api/usage?granularity=minute", "granularity"),
        ("/admin/api/usage?group_by=colour", "group_by"),
        ("/admin/api/usage?start=yesterday", "start"),
        ("/admin/api/usage?start=2025-02-01T00:00:00Z&end=2025-01-01T00:00:00Z", "start"),
        ("/admin/api/usage?granularity=hour&start=2025-01-01T00:00:00Z&end=2025-06-01T00:00:00Z", "end"),
        ("/admin/api/logs?limit=0", "limit"),
        ("/admin/api/logs?limit=lots", "limit"),
        ("/admin/api/logs?status=99", "status"),
        ("/admin/api/logs?cursor=not-a-cursor", "cursor"),
    ]
    for route, param in cases:
        answer = await gov.call("GET", route)
        assert answer.status == 400, (route, answer.text)
        assert answer.data["error"]["param"] == param, (route, answer.text)


async def test_an_unreachable_store_is_a_503_without_its_password(tmp_path, caplog):
    text = config(tmp_path).split("[store]")[0] + '[store]\nurl = "postgresql+asyncpg://sg:pw-s3cret@127.0.0.1:1/sg"\n'
    async with running_gateway(text, env=ENV) as server, aiohttp.ClientSession() as http:
        gov = Gov(server, http, WallClock(), [])
        for method, route, body in (("GET", "/admin/api/keys", None), ("POST", "/admin/api/teams", {"name": "x"}),
                                    ("GET", "/admin/api/logs", None), ("GET", "/admin/api/usage", None)):
            answer = await gov.call(method, route, body)
            error = assert_openai_error(answer, 503, "store_unavailable")
            assert "unreachable" in error["message"], answer.text
            assert "x-should-retry" not in answer.headers  # it may work in a moment
        # Requests with the config's own tokens are served meanwhile.
        assert (await gov.chat(CLIENT_TOKEN)).status == 200
    assert all("pw-s3cret" not in text for text in gov.seen) and "pw-s3cret" not in caplog.text
