"""``[auth.clients]``: named client tokens authenticate like ``[auth] tokens`` and give logs a name."""

from __future__ import annotations

import openai
import pytest

CONFIG = """
[auth]
tokens = ["unnamed-token-0001"]
[auth.clients]
team-search = "${SEARCH_TOKEN}"
team-ads = "ads-token-000002"
[providers.mock]
type = "mock"
[models.echo]
targets = ["mock/m"]
"""


async def test_named_tokens_authenticate_and_unset_ones_do_not(gateway):
    server = await gateway(CONFIG, env={"SEARCH_TOKEN": "search-token-0003"})
    for token in ("unnamed-token-0001", "ads-token-000002", "search-token-0003"):
        client = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=token, max_retries=0)
        answer = await client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}])
        assert answer.choices[0].message.content == "hi"
    client = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key="team-ads", max_retries=0)
    with pytest.raises(openai.AuthenticationError):  # a name is not a token
        await client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}])
    identities = server.gateway.current.authenticators["auth"].identities
    assert sorted(identity.client for identity in identities.values()) == ["client-1", "team-ads", "team-search"]
    # Each token is its own tenant (cache and limits keep clients apart).
    assert len({identity.tenant for identity in identities.values()}) == 3


async def test_an_unset_named_token_is_skipped_and_others_still_guard(gateway):
    server = await gateway(CONFIG, env={})
    assert not server.gateway.current.open_access
    identities = server.gateway.current.authenticators["auth"].identities
    assert sorted(identity.client for identity in identities.values()) == ["client-1", "team-ads"]
