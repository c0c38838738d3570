"""The access log through the real server, with the official openai SDK as client and a fake vendor
behind: one line per request with its facts (and nothing secret), probes left out, text lines on
stderr, and reloads that neither lose nor repeat a line nor leak a file."""

from __future__ import annotations

import asyncio
import gc
import time
from pathlib import Path
from typing import Any

import aiohttp
import openai
import orjson
import pytest
from aiohttp import web
from fd_count import open_fds

from sluicegate.gateway import Gateway, GatewaySource
from sluicegate.server.runner import start_server
from sluicegate.testing.vendor import Usage
from sluicegate_openai.fake import OpenAIScript

TEAM_TOKEN = "client-token-access-log-team-a"
PLAIN_TOKEN = "client-token-access-log-plain"
UP_KEY = "sk-up-access-log-000000000"
CHAT = "/v1/chat/completions"
MSG = [{"role": "user", "content": "log me"}]
USAGE = Usage(prompt_tokens=1200, completion_tokens=345)
OPENAI = OpenAIScript()


def config(url: str, log: str) -> str:
    return f"""
[server]
watch_config = false
shutdown_grace = 0.3

[auth]
tokens = ["{PLAIN_TOKEN}"]

[auth.clients]
team-a = "{TEAM_TOKEN}"

[providers.up]
type = "openai"
base_url = "{url}/v1"
api_key = "{UP_KEY}"

[providers.backup]
type = "openai"
base_url = "{url}/backup/v1"
api_key = "{UP_KEY}"

[models.chat]
targets = ["up/gpt-4o-mini"]

[models.failover]
targets = ["up/gpt-4o-mini", "backup/gpt-4o"]

[retry]
attempts = 2
backoff_base = 0.001
backoff_max = 0.001

[pricing.prices."up/*"]
input = 0.15
output = 0.60

[access_log]
{log}
"""


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines() if path.exists() else []


async def read_lines(path: Path, count: int, within: float = 5.0) -> list[bytes]:
    """The log's lines once it has ``count`` (the writer thread writes a moment after the response)."""
    deadline = time.monotonic() + within
    while True:
        lines = lines_of(path)
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        await asyncio.sleep(0.01)


async def read_json(path: Path, count: int) -> list[dict[str, Any]]:
    lines = await read_lines(path, count)
    assert len(lines) == count, lines
    return [orjson.loads(line) for line in lines]


class Harness:
    def __init__(self, gateway, upstream, tmp_path: Path) -> None:
        self._gateway = gateway
        self.up = upstream
        self.path = tmp_path / "access.log"
        self.server = None
        self._clients: list[openai.AsyncOpenAI] = []

    async def start(self, log: str | None = None) -> Harness:
        table = log if log is not None else f'destination = "{self.path}"'
        self.server = await self._gateway(config(self.up.url, table))
        return self

    def openai(self, token: str = TEAM_TOKEN) -> openai.AsyncOpenAI:
        client = openai.AsyncOpenAI(base_url=self.server.base_url + "/v1", api_key=token, max_retries=0)
        self._clients.append(client)
        return client

    async def get(self, path: str) -> str:
        async with aiohttp.ClientSession() as http, http.get(
            self.server.base_url + path, headers={"Authorization": f"Bearer {TEAM_TOKEN}"}
        ) as response:
            await response.read()
            return response.headers["x-request-id"]

    async def aclose(self) -> None:
        for client in self._clients:
            await client.close()


@pytest.fixture
async def h(gateway, fake_upstream, tmp_path):
    harness = Harness(gateway, fake_upstream, tmp_path)
    yield harness
    await harness.aclose()


async def test_each_request_is_one_line_with_its_facts(h):
    h.up.on(CHAT, OPENAI.answer_text("hello", USAGE), OPENAI.answer_stream(["a", "b"], USAGE))
    await h.start()
    client = h.openai()
    ok = await client.chat.completions.with_raw_response.create(model="chat", messages=MSG)
    stream = await client.chat.completions.with_raw_response.create(model="chat", messages=MSG, stream=True)
    async for _ in stream.parse():
        pass
    with pytest.raises(openai.NotFoundError) as unknown:
        await h.openai(PLAIN_TOKEN).chat.completions.create(model="no-such-model", messages=MSG)
    with pytest.raises(openai.AuthenticationError) as refused:
        await h.openai("not-a-token").chat.completions.create(model="chat", messages=MSG)
    models = await h.get("/v1/models")

    first, second, third, fourth, fifth = await read_json(h.path, 5)
    assert first["request_id"] == ok.headers["x-request-id"]
    assert {k: first[k] for k in ("client", "method", "path", "route", "status", "model", "provider",
                                  "upstream_model", "stream", "attempts", "retries", "fallback", "cache",
                                  "error_code", "tokens_in", "tokens_out", "currency", "ttft_ms")} == {
        "client": "team-a", "method": "POST", "path": CHAT, "route": CHAT, "status": 200, "model": "chat",
        "provider": "up", "upstream_model": "gpt-4o-mini", "stream": False, "attempts": 1, "retries": 0,
        "fallback": False, "cache": None, "error_code": None, "tokens_in": 1200, "tokens_out": 345,
        "currency": "USD", "ttft_ms": None,
    }
    assert first["cost"] == pytest.approx((1200 * 0.15 + 345 * 0.60) / 1e6)
    assert first["latency_ms"] > 0
    assert first["time"].endswith("Z") and first["time"][:4].isdigit()

    assert second["request_id"] == stream.headers["x-request-id"]
    assert (second["stream"], second["status"], second["tokens_out"]) == (True, 200, 345)
    assert 0 < second["ttft_ms"] <= second["latency_ms"]

    assert third["request_id"] == unknown.value.response.headers["x-request-id"]
    assert (third["status"], third["error_code"], third["error_class"]) == (404, "model_not_found", "invalid_request")
    # An unknown model is named (cut if long), with the client who asked for it.
    assert (third["client"], third["model"]) == ("client-1", "no-such-model")
    assert (third["provider"], third["cost"], third["attempts"]) == (None, None, 0)

    assert fourth["request_id"] == refused.value.response.headers["x-request-id"]
    assert (fourth["status"], fourth["client"], fourth["error_code"]) == (401, None, "invalid_api_key")

    assert (fifth["request_id"], fifth["path"], fifth["route"]) == (models, "/v1/models", "/v1/models")
    raw = h.path.read_bytes()
    for secret in (TEAM_TOKEN, PLAIN_TOKEN, UP_KEY, "not-a-token"):
        assert secret.encode() not in raw


async def test_probes_are_left_out(h):
    await h.start()
    for path in ("/health", "/health/live", "/health/ready", "/metrics"):
        await h.get(path)
    last = await h.get("/v1/models")
    [line] = await read_json(h.path, 1)
    assert line["request_id"] == last


async def test_retries_and_fallback_are_counted(h):
    down = {"error": {"message": "down", "type": "server_error", "param": None, "code": None}}
    h.up.json(CHAT, down, status=500)
    h.up.on("/backup/v1/chat/completions", OPENAI.answer_text("from backup", USAGE))
    await h.start()
    reply = await h.openai().chat.completions.create(model="failover", messages=MSG)
    assert reply.choices[0].message.content == "from backup"
    [line] = await read_json(h.path, 1)
    assert (line["attempts"], line["retries"], line["fallback"]) == (3, 1, True)
    assert (line["status"], line["provider"], line["upstream_model"]) == (200, "backup", "gpt-4o")
    assert line["cost"] is None  # "backup" has no price


async def test_a_stream_that_breaks_is_logged_as_a_stream_error(h):
    h.up.on(CHAT, OPENAI.answer_stream_error(["half", " an answer"]))
    await h.start()
    stream = await h.openai().chat.completions.create(model="chat", messages=MSG, stream=True)
    with pytest.raises(openai.APIError):
        async for _ in stream:
            pass
    [line] = await read_json(h.path, 1)
    assert (line["status"], line["stream"], line["error_class"]) == (200, True, "stream_error")


async def test_text_lines_go_to_stderr(h, capfd):
    h.up.on(CHAT, OPENAI.answer_text("hello", USAGE))
    await h.start('format = "text"')
    raw = await h.openai().chat.completions.with_raw_response.create(model="chat", messages=MSG)
    request_id = raw.headers["x-request-id"]
    deadline = time.monotonic() + 5
    err = ""
    while request_id not in err and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
        err += capfd.readouterr().err
    [line] = [line for line in err.splitlines() if line.endswith(request_id)]
    assert " 200 POST /v1/chat/completions chat→up/gpt-4o-mini " in line
    assert " tokens=1200/345 cost=0.000387 USD attempts=1 client=team-a " in line


async def test_every_line_is_written_when_the_server_stops(fake_upstream, tmp_path):
    path = tmp_path / "access.log"
    gateway = Gateway(GatewaySource(text=config(fake_upstream.url, f'destination = "{path}"'), env={}))
    server = await start_server(gateway, "127.0.0.1", 0, shutdown_grace=0)
    async with aiohttp.ClientSession() as http:
        async def one() -> str:
            async with http.get(server.base_url + "/v1/models",
                                headers={"Authorization": f"Bearer {TEAM_TOKEN}"}) as response:
                return response.headers["x-request-id"]

        ids = await asyncio.gather(*(one() for _ in range(200)))
    await server.stop()
    assert open_fds(path) == 0
    logged = [orjson.loads(line)["request_id"] for line in path.read_bytes().splitlines()]
    assert sorted(logged) == sorted(ids)


# -- reloads ---------------------------------------------------------------------------------------------


class Reloading:
    """A gateway on a config file, reloaded as SIGHUP would (no file watch)."""

    def __init__(self, upstream, tmp_path: Path) -> None:
        self.up = upstream
        self.dir = tmp_path
        self.config = tmp_path / "gateway.toml"
        self.gateway: Gateway | None = None
        self.server = None

    def write(self, log: str) -> None:
        self.config.write_text(config(self.up.url, log))

    async def start(self, log: str) -> None:
        self.write(log)
        self.gateway = Gateway(GatewaySource(path=str(self.config), env={}))
        self.server = await start_server(self.gateway, "127.0.0.1", 0, shutdown_grace=0)

    async def chat(self, http: aiohttp.ClientSession) -> str:
        async with http.post(self.server.base_url + CHAT, data=orjson.dumps({"model": "chat", "messages": MSG}),
                             headers={"Authorization": f"Bearer {TEAM_TOKEN}"}) as response:
            assert response.status == 200, await response.read()
            return response.headers["x-request-id"]


@pytest.fixture
async def r(fake_upstream, tmp_path):
    reloading = Reloading(fake_upstream, tmp_path)
    yield reloading
    if reloading.server is not None:
        await reloading.server.stop()


def ids_in(path: Path) -> list[str]:
    return [orjson.loads(line)["request_id"] for line in path.read_bytes().splitlines()] if path.exists() else []


async def test_a_reload_keeps_one_file_open_and_loses_or_repeats_no_line(r):
    r.up.on(CHAT, OPENAI.answer_text("hello", USAGE))
    # A relative destination: taken from the config file's directory.
    await r.start('destination = "logs.jsonl"')
    path = r.dir / "logs.jsonl"
    sent: list[str] = []
    async with aiohttp.ClientSession() as http:
        for round_ in range(3):
            # Requests run while the reload happens.
            batch = [asyncio.create_task(r.chat(http)) for _ in range(20)]
            assert await r.gateway.reload() is True
            # The old assembly (finishing its requests) and the new one share one open file.
            assert open_fds(path) == 1
            sent += await asyncio.gather(*batch)
            sent.append(await r.chat(http))
            await asyncio.sleep(0.4)  # the old assembly retires (shutdown_grace = 0.3)
            assert open_fds(path) == 1, round_
    await read_lines(path, len(sent))
    assert sorted(ids_in(path)) == sorted(sent)


async def test_a_reload_after_log_rotation_writes_to_the_new_file(r):
    r.up.on(CHAT, OPENAI.answer_text("hello", USAGE))
    await r.start('destination = "access.log"')
    path, rotated = r.dir / "access.log", r.dir / "access.log.1"
    async with aiohttp.ClientSession() as http:
        before = await r.chat(http)
        await read_lines(path, 1)
        path.rename(rotated)  # logrotate, then `kill -HUP`
        assert await r.gateway.reload() is True
        after = await r.chat(http)
        await read_lines(path, 1)
        await asyncio.sleep(0.4)
    assert ids_in(rotated) == [before]
    assert ids_in(path) == [after]
    assert open_fds(rotated) == 0 and open_fds(path) == 1


async def test_a_new_destination_takes_new_requests_and_the_old_file_gets_those_in_flight(r):
    held, release = asyncio.Event(), asyncio.Event()
    answer = OPENAI.answer_text("slow", USAGE)

    async def slow(request: web.Request) -> web.StreamResponse:
        held.set()
        await release.wait()
        return await answer(request)

    r.up.on(CHAT, slow, OPENAI.answer_text("fast", USAGE))
    await r.start('destination = "a.log"')
    old, new = r.dir / "a.log", r.dir / "b.log"
    async with aiohttp.ClientSession() as http:
        in_flight = asyncio.create_task(r.chat(http))
        await asyncio.wait_for(held.wait(), 5)
        r.write('destination = "b.log"\nformat = "text"')
        assert await r.gateway.reload() is True
        fresh = await r.chat(http)
        release.set()
        slow_id = await in_flight
        await read_lines(old, 1)
        await asyncio.sleep(0.5)
    assert ids_in(old) == [slow_id]
    assert new.read_text().splitlines()[0].endswith(" " + fresh)
    assert len(new.read_text().splitlines()) == 1
    assert open_fds(old) == 0 and open_fds(new) == 1


async def test_a_refused_reload_leaves_no_file_open(r):
    r.up.on(CHAT, OPENAI.answer_text("hello", USAGE))
    await r.start('destination = "a.log"')
    # The access log's factory opens c.log, then the config is refused (pricing names no provider).
    r.write('destination = "c.log"\n\n[pricing.prices."nobody/*"]\ninput = 1\noutput = 1\n')
    assert await r.gateway.reload() is False
    gc.collect()
    assert open_fds(r.dir / "c.log") == 0
    async with aiohttp.ClientSession() as http:
        served = await r.chat(http)
    await read_lines(r.dir / "a.log", 1)
    assert ids_in(r.dir / "a.log") == [served]


async def test_stopping_right_after_a_reload_writes_every_line_and_closes_the_file(r):
    r.up.on(CHAT, OPENAI.answer_text("hello", USAGE))
    await r.start('destination = "access.log"')
    path = r.dir / "access.log"
    async with aiohttp.ClientSession() as http:
        before = [await r.chat(http) for _ in range(5)]
        assert await r.gateway.reload() is True
        after = [await r.chat(http) for _ in range(5)]
    await r.server.stop()  # the old assembly is still in its grace period
    r.server = None
    gc.collect()  # the retiring assembly the gateway dropped gives its writer back
    assert sorted(ids_in(path)) == sorted(before + after)
    assert open_fds(path) == 0
