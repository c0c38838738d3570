"""Admin-token guessing through the real server: a few free mistakes, then 429 for a growing window.

The gateway runs on a test clock, so every window is exact; a second client address (127.0.0.2,
loopback too) shows that one address's guesses and sign-ins do not touch another's.
"""

from __future__ import annotations

import logging

import aiohttp
import pytest

from sluicegate.gateway import Gateway, GatewaySource
from sluicegate.server.runner import start_server
from sluicegate_admin.throttle import FIRST_WAIT, FREE_FAILURES, MAX_WAIT, GuessThrottle, client_key

ADMIN_TOKEN = "admin-token-throttle-0123456789abc"
CONFIG = """\
[admin]
token = "${ADMIN_TOKEN}"

[providers.mock]
type = "mock"
"""


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def gateway(tmp_path):
    path = tmp_path / "gateway.toml"
    path.write_text(CONFIG)
    clock = Clock()
    gateway = Gateway(GatewaySource(path=str(path), env={"ADMIN_TOKEN": ADMIN_TOKEN}))
    gateway.clock_overrides["clock"] = clock
    server = await start_server(gateway, "127.0.0.1", 0, shutdown_grace=0)
    try:
        yield server, clock
    finally:
        await server.stop()


async def call(server, token: str, source: str = "127.0.0.1") -> tuple[int, dict, dict]:
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with aiohttp.ClientSession(connector=connector) as http, http.get(
            server.base_url + "/admin/api/status", headers={"Authorization": f"Bearer {token}"}) as response:
        return response.status, await response.json(), dict(response.headers)


async def test_wrong_tokens_are_throttled_for_a_growing_window_and_the_right_one_works_after(gateway, caplog):
    server, clock = gateway
    for attempt in range(FREE_FAILURES):
        status, data, _ = await call(server, f"guess-{attempt}")
        assert (status, data["error"]["code"]) == (401, "invalid_admin_token")
    caplog.set_level(logging.WARNING, logger="sluicegate.admin")
    status, _, _ = await call(server, "guess-over")  # checked, wrong, and now the address waits
    assert status == 401
    assert "too many wrong admin tokens from 127.0.0.1" in caplog.text

    # While it waits even the right token is refused, unchecked: a guess cannot tell right from wrong.
    status, data, headers = await call(server, ADMIN_TOKEN)
    assert (status, data["error"]["code"], headers["Retry-After"]) == (429, "admin_token_throttled", "2")
    assert set(data["error"]) >= {"message", "type", "param", "code"}
    clock.now += FIRST_WAIT - 0.5
    assert (await call(server, "guess-early"))[2]["Retry-After"] == "1"

    # Each further wrong token doubles the wait.
    clock.now += 0.5
    assert (await call(server, "guess-again"))[0] == 401
    status, _, headers = await call(server, "guess-blocked")
    assert (status, headers["Retry-After"]) == (429, str(int(2 * FIRST_WAIT)))
    clock.now += 2 * FIRST_WAIT
    assert (await call(server, "guess-3"))[0] == 401
    assert (await call(server, "x"))[2]["Retry-After"] == str(int(4 * FIRST_WAIT))

    # After the window the right token works, and clears the count: mistakes are free again.
    clock.now += 4 * FIRST_WAIT
    assert (await call(server, ADMIN_TOKEN))[0] == 200
    for attempt in range(FREE_FAILURES):
        assert (await call(server, f"typo-{attempt}"))[0] == 401
    assert (await call(server, ADMIN_TOKEN))[0] == 200


async def test_one_address_waiting_does_not_shut_out_or_clear_another(gateway):
    server, clock = gateway
    for attempt in range(FREE_FAILURES + 1):
        await call(server, f"guess-{attempt}", source="127.0.0.2")
    assert (await call(server, ADMIN_TOKEN, source="127.0.0.2"))[0] == 429
    # Another address signs in meanwhile; the guesser still waits.
    assert (await call(server, ADMIN_TOKEN))[0] == 200
    assert (await call(server, ADMIN_TOKEN, source="127.0.0.2"))[0] == 429
    clock.now += FIRST_WAIT
    assert (await call(server, ADMIN_TOKEN, source="127.0.0.2"))[0] == 200


async def test_a_reload_does_not_give_a_guesser_fresh_attempts(gateway):
    server, _ = gateway
    for attempt in range(FREE_FAILURES + 1):
        await call(server, f"guess-{attempt}")
    assert await server.gateway.reload()
    assert (await call(server, ADMIN_TOKEN))[0] == 429


def test_the_wait_is_capped_and_the_table_of_addresses_is_bounded():
    clock = Clock()
    throttle = GuessThrottle(clock, max_addresses=3)
    waits = [throttle.failed("a") for _ in range(FREE_FAILURES + 20)]
    assert waits[:FREE_FAILURES] == [0.0] * FREE_FAILURES
    assert waits[FREE_FAILURES:FREE_FAILURES + 3] == [FIRST_WAIT, 2 * FIRST_WAIT, 4 * FIRST_WAIT]
    assert max(waits) == waits[-1] == MAX_WAIT

    for address in ["b", "c", "d", "e"]:
        throttle.failed(address)
    assert len(throttle) == 3  # the least recently failing ones were forgotten
    assert throttle.wait("a") == 0.0


def test_an_ipv6_client_is_throttled_per_64_network():
    assert client_key("2001:db8::1") == client_key("2001:db8::ffff:1") == "2001:db8::/64"
    assert client_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert client_key("192.0.2.7") == "192.0.2.7"
