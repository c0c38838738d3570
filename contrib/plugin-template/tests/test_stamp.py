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
