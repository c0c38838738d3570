"""Per-target rows through the real server: what clients type cannot grow /health, the admin page or memory.

Configured targets (alias targets, listed models) keep a row and a breaker of their own; any
other model a client names is summed into its provider's "provider/*" row, and the breakers of
such models are capped, least recently used first, without ever forgetting a configured one.
"""

from __future__ import annotations

import aiohttp
import pytest

from sluicegate.gateway import Gateway, GatewaySource
from sluicegate.server.runner import start_server

ADMIN_TOKEN = "admin-token-rows-0123456789abcdef"
CONFIG = """\
[admin]
token = "${ADMIN_TOKEN}"

[retry]
attempts = 1

[breaker]
failure_threshold = 1
cooldown = 60

[providers.mock]
type = "mock"
models = ["echo-1"]

[providers.down]
type = "mock"
models = ["listed"]
fail_rate = 1.0
fail_status = 500

[models.echo]
targets = ["mock/echo-1"]
"""


@pytest.fixture
async def server(tmp_path):
    path = tmp_path / "gateway.toml"
    path.write_text(CONFIG)
    gateway = Gateway(GatewaySource(path=str(path), env={"ADMIN_TOKEN": ADMIN_TOKEN}))
    server = await start_server(gateway, "127.0.0.1", 0, shutdown_grace=0)
    async with aiohttp.ClientSession() as http:
        try:
            yield server, http
        finally:
            await server.stop()


async def chat(server, http, model: str) -> int:
    async with http.post(server.base_url + "/v1/chat/completions",
                         json={"model": model, "messages": [{"role": "user", "content": "hi"}]}) as response:
        await response.read()
        return response.status


async def get(server, http, path: str) -> dict:
    async with http.get(server.base_url + path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as response:
        assert response.status == 200
        return await response.json()


async def test_thirty_invented_models_make_one_row_per_provider(server):
    server, http = server
    assert await chat(server, http, "echo") == 200
    assert await chat(server, http, "down/listed") == 500
    for index in range(30):
        assert await chat(server, http, f"mock/invented-{index}") == 200
        assert await chat(server, http, f"down/invented-{index}") == 500

    health = await get(server, http, "/health")
    targets = health["targets"]
    assert sorted(targets) == ["down/*", "down/listed", "mock/*", "mock/echo-1"]
    assert (targets["mock/*"]["models"], targets["mock/*"]["calls_1m"], targets["mock/*"]["breaker"]) == (30, 30, "closed")
    invented = targets["down/*"]
    assert (invented["models"], invented["open_targets"], invented["breaker"]) == (30, 30, "open")
    assert (invented["calls_1m"], invented["errors_1m"]) == (30, 30)
    assert targets["down/listed"]["breaker"] == "open"
    # The provider's summary still counts every open target, the invented ones included.
    assert health["providers"]["down"]["open_targets"] == 31
    assert health["providers"]["mock"]["calls_1m"] == 31

    config = await get(server, http, "/admin/api/config")
    rows = {entry["id"]: entry["targets"] for entry in config["providers"]}
    assert rows == {"mock": {"mock/echo-1": "closed", "mock/*": "closed"},
                    "down": {"down/listed": "open", "down/*": "open"}}


async def test_breakers_of_invented_models_are_capped_and_configured_ones_kept(server):
    server, http = server
    board = server.gateway.current.breakers
    board.max_entries = 8
    assert await chat(server, http, "down/listed") == 500  # configured: opens and must stay open
    for index in range(30):
        assert await chat(server, http, f"down/invented-{index}") == 500  # each opens its own breaker
    assert len(board) == 8
    assert board.snapshot()["down/listed"]["state"] == "open"
    # The most recent invented model still has its own open breaker: the call is not even tried.
    assert await chat(server, http, "down/invented-29") == 503
    assert board.snapshot()["down/invented-29"]["state"] == "open"
