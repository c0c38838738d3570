"""The example plugin through a real gateway, registered in-process as pip would via entry points."""

import aiohttp

import sluicegate_stamp

CONFIG = """
[providers.mock]
type = "mock"

[stamp]
header = "x-served-by"
value = "eu-1"
blocked_models = ["mock/forbidden"]
"""


async def test_stamp_adds_header_and_blocks_models(gateway):
    server = await gateway(CONFIG, extra_plugins=[("stamp", sluicegate_stamp)])
    async with aiohttp.ClientSession() as http:
        body = {"model": "mock/ok", "messages": [{"role": "user", "content": "hi"}]}
        async with http.post(server.base_url + "/v1/chat/completions", json=body) as response:
            assert response.status == 200
            assert response.headers["x-served-by"] == "eu-1"
        body["model"] = "mock/forbidden"
        async with http.post(server.base_url + "/v1/chat/completions", json=body) as response:
            assert response.status == 400
            assert (await response.json())["error"]["code"] == "model_blocked"


async def test_stamp_is_off_without_its_table(gateway):
    server = await gateway(CONFIG.split("[stamp]")[0], extra_plugins=[("stamp", sluicegate_stamp)])
    async with aiohttp.ClientSession() as http:
        body = {"model": "mock/forbidden", "messages": [{"role": "user", "content": "hi"}]}
        async with http.post(server.base_url + "/v1/chat/completions", json=body) as response:
            assert response.status == 200
            assert "x-served-by" not in response.headers


SLOW_CONFIG = """
[providers.fast]
type = "mock"

[providers.slow]
type = "mock"
latency = 0.06

[slowest]
keep = 2
threshold_ms = 30
"""


async def test_slowest_keeps_the_slowest_requests_over_the_threshold(gateway):
    server = await gateway(SLOW_CONFIG, extra_plugins=[("stamp", sluicegate_stamp)])
    async with aiohttp.ClientSession() as http:
        for model in ("fast/a", "slow/b", "slow/c", "slow/d", "fast/e"):
            body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
            async with http.post(server.base_url + "/v1/chat/completions", json=body) as response:
                assert response.status == 200
        async with http.get(server.base_url + "/slowest") as response:
            entries = (await response.json())["data"]
    # Only the slow provider's requests passed the threshold, and only two are kept, slowest first.
    assert len(entries) == 2
    assert all(entry["provider"] == "slow" and entry["latency_ms"] >= 30 for entry in entries)
    assert entries[0]["latency_ms"] >= entries[1]["latency_ms"]


async def test_slowest_route_is_a_404_without_its_table(gateway):
    server = await gateway(CONFIG, extra_plugins=[("stamp", sluicegate_stamp)])
    async with aiohttp.ClientSession() as http, http.get(server.base_url + "/slowest") as response:
        assert response.status == 404
        assert "slowest" in (await response.json())["error"]["message"]
