"""``register_authenticators`` end to end: a header-based auth plugin beside the built-in ``[auth]``
tokens, through the real server. An authenticator returns an ``Identity``, ``None`` (not its kind
of credentials: the next one decides) or raises ``AuthenticationFailed``."""

from __future__ import annotations

import aiohttp
import orjson
import pytest
from attrs import Factory, define

import sluicegate
from sluicegate.contracts import Identity
from sluicegate.errors import AuthenticationFailed
from sluicegate.plugin_options import FeatureOptions
from sluicegate.secrets import Secret

MOCK = """
[providers.mock]
type = "mock"
[models.echo]
targets = ["mock/m"]
"""
TOKENS = '[auth]\ntokens = ["config-token-0001"]\n'
TEAMS = '[team_keys.keys]\nsearch = "team-key-search-01"\nads = "${ADS_KEY}"\n'
CHAT = {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}


@define(kw_only=True)
class TeamKeyOptions(FeatureOptions):
    """``[team_keys]``: team name -> its key, sent as ``x-team-key``."""

    keys: dict[str, Secret] = Factory(dict)


class TeamKeys:
    def __init__(self, options: TeamKeyOptions) -> None:
        self.by_key = {key.reveal(): Identity(tenant=f"team-{team}", client=team)
                       for team, key in options.keys.items() if key}
        self.calls = 0

    async def authenticate(self, headers):
        self.calls += 1
        key = headers.get("x-team-key")
        if key is None:
            return None  # not a team key: the next authenticator decides
        identity = self.by_key.get(key)
        if identity is None:
            raise AuthenticationFailed("Unknown team key.", code="invalid_team_key")
        return identity


class TeamKeyPlugin:
    def __init__(self) -> None:
        self.made: list[TeamKeys] = []

    @sluicegate.hookimpl
    def register_authenticators(self, register):
        # Before the built-in [auth] tokens (order 100).
        register("team_keys", self.make, options=TeamKeyOptions, order=50)

    def make(self, *, options: TeamKeyOptions, services) -> TeamKeys:
        self.made.append(TeamKeys(options))
        return self.made[-1]


class Records:
    """An extension keeping who each finished request came from."""

    def __init__(self) -> None:
        self.seen: list[tuple[str | None, str | None, int]] = []

    @sluicegate.hookimpl
    def register_extensions(self, register):
        register("records", lambda **_: self, always=True)

    def request_finished(self, record) -> None:
        self.seen.append((record.client, record.tenant, record.status))


async def post(server, headers: dict[str, str], path: str = "/v1/chat/completions"):
    async with aiohttp.ClientSession() as http, \
            http.post(server.base_url + path, data=orjson.dumps(CHAT), headers=headers) as resp:
        return resp.status, await resp.read()


@pytest.fixture
async def served(gateway):
    async def serve(text: str):
        plugin, records = TeamKeyPlugin(), Records()
        server = await gateway(text, env={"ADS_KEY": "team-key-ads-0002"},
                               extra_plugins=[("teams", plugin), ("records", records)])
        return server, plugin, records

    return serve


async def test_a_plugin_authenticator_and_the_config_tokens_form_one_chain(served):
    server, plugin, records = await served(MOCK + TOKENS + TEAMS)
    assert list(server.gateway.current.authenticators) == ["team_keys", "auth"]  # by order
    assert (await post(server, {"x-team-key": "team-key-search-01"}))[0] == 200
    assert (await post(server, {"x-team-key": "team-key-ads-0002"}))[0] == 200
    # No team key: the plugin says "not mine" and the config token decides.
    assert (await post(server, {"Authorization": "Bearer config-token-0001"}))[0] == 200
    assert records.seen == [("search", "team-search", 200), ("ads", "team-ads", 200),
                            ("client-1", server.gateway.current.authenticators["auth"]
                             .identities["config-token-0001"].tenant, 200)]
    assert plugin.made[-1].calls == 3  # composed once: the same object answered every request


async def test_an_authenticator_refusing_is_a_401_in_its_words_and_nothing_further_is_asked(served):
    server, _, records = await served(MOCK + TOKENS + TEAMS)
    status, raw = await post(server, {"x-team-key": "team-key-wrong-99",
                                      "Authorization": "Bearer config-token-0001"})
    error = orjson.loads(raw)["error"]
    assert (status, error["code"], error["message"]) == (401, "invalid_team_key", "Unknown team key.")
    assert b"team-key-wrong-99" not in raw
    assert records.seen == [(None, None, 401)]


async def test_when_every_authenticator_passes_the_client_is_refused(served):
    server, _, _ = await served(MOCK + TOKENS + TEAMS)
    status, raw = await post(server, {})
    assert (status, orjson.loads(raw)["error"]["code"]) == (401, "missing_api_key")
    status, raw = await post(server, {"Authorization": "Bearer unknown-token-0009"})
    assert (status, orjson.loads(raw)["error"]["code"]) == (401, "invalid_api_key")
    assert b"unknown-token-0009" not in raw
    # Every API route asks the same chain (the Anthropic entrance and the model list included).
    async with aiohttp.ClientSession() as http:
        async with http.get(server.base_url + "/v1/models") as resp:
            assert resp.status == 401
        async with http.get(server.base_url + "/v1/models", headers={"x-team-key": "team-key-ads-0002"}) as resp:
            assert resp.status == 200


async def test_the_plugin_alone_guards_the_gateway_and_its_table_turns_it_on(served):
    server, _, _ = await served(MOCK + TEAMS)
    assert not server.gateway.current.open_access
    assert list(server.gateway.current.authenticators) == ["team_keys"]  # no [auth] tokens: left out
    assert (await post(server, {}))[0] == 401
    assert (await post(server, {"x-team-key": "team-key-search-01"}))[0] == 200
    server, plugin, _ = await served(MOCK)
    assert server.gateway.current.open_access and plugin.made == []
    assert (await post(server, {"x-team-key": "anything"}))[0] == 200
