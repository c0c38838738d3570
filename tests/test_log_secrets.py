"""No secret reaches a log: a real ``sluicegate serve --log-level debug`` process with vendor
keys, client tokens, an admin token and a Redis password, driven through successes, streams,
errors that echo keys back, headers carrying them, refusals and fallbacks; then every byte it
wrote (stderr, stdout, the access log as JSON in a file and, after a SIGHUP reload, as text on
stderr) is searched for each secret, whole, in pieces, and base64- or URL-encoded. What clients
received is searched too."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import anthropic
import openai
import orjson
import pytest
from aiohttp import web

from sluicegate.testing import FakeUpstream, openai_chunks
from sluicegate.testing.vendor import Usage, write_sse
from sluicegate_anthropic.fake import AnthropicScript
from sluicegate_openai.fake import OpenAIScript

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="signals as on Linux")

# Each secret is distinctive along its whole length, so any 12 characters of it found in a log
# are a leak.
VENDOR_KEYS = {
    "up": "sk-proj-UPKEY-9f8e7d6c5b4a39281706aa",
    "bad": "sk-proj-BADKEY-0a1b2c3d4e5f60718293bb",
    "boom": "sk-proj-BOOMKEY-1b2c3d4e5f6071829304cc",
    "sterr": "sk-proj-STERRKEY-2c3d4e5f607182930415dd",
    "claude": "sk-ant-api03-CLAUDEKEY-3d4e5f60718293041526ee",
    "claudebad": "sk-ant-api03-CLAUDEBAD-4e5f6071829304152637ff",
}
PLAIN_TOKEN = "gw-plain-TOKEN-5d41402abc4b2a76b9719d91"
NAMED_TOKEN = "gw-named-TOKEN-7d793037a0760186574b0282"
WRONG_TOKEN = "gw-wrong-TOKEN-e4da3b7fbbce2345d7772b06"
REDIS_PASSWORD = "REDISPASS-c4ca4238a0b923820dcc509a"
ADMIN_TOKEN = "gw-admin-TOKEN-8f14e45fceea167a5a36dedd"
SECRETS = [*VENDOR_KEYS.values(), PLAIN_TOKEN, NAMED_TOKEN, WRONG_TOKEN, REDIS_PASSWORD, ADMIN_TOKEN]
WINDOW = 12

MSG = [{"role": "user", "content": "hello"}]
USAGE = Usage(prompt_tokens=20, completion_tokens=5)
OPENAI = OpenAIScript()
ANTHROPIC = AnthropicScript()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def config(port: int, url: str, redis_port: int, access_log: str) -> str:
    providers = "\n".join(
        f'[providers.{name}]\ntype = "{"anthropic" if name.startswith("claude") else "openai"}"\n'
        f'base_url = "{url}/{name}/v1"\napi_key = "${{KEY_{name.upper()}}}"\n'
        for name in VENDOR_KEYS
    )
    return f"""
[server]
host = "127.0.0.1"
port = {port}
watch_config = false
shutdown_grace = 2

[auth]
tokens = ["${{PLAIN_TOKEN}}"]

[auth.clients]
team-a = "{NAMED_TOKEN}"

{providers}

[models.chat]
targets = ["up/gpt-4o-mini"]

[models.bad]
targets = ["bad/gpt-4o-mini"]

[models.boom]
targets = ["boom/gpt-4o-mini"]

[models.failover]
targets = ["boom/gpt-4o", "up/gpt-4o-mini"]

[models.sterr]
targets = ["sterr/gpt-4o-mini"]

[models.claude]
targets = ["claude/claude-sonnet-4-5"]

[models.claudebad]
targets = ["claudebad/claude-sonnet-4-5"]

[retry]
attempts = 2
backoff_base = 0.01
backoff_max = 0.02

# Redis is down: both features fail open and say so in the log, password and all, unless masked.
[cache]
backend = "redis"
url = "redis://:${{REDIS_PASSWORD}}@127.0.0.1:{redis_port}/0"

[ratelimit]
backend = "redis"
url = "redis://default:{REDIS_PASSWORD}@127.0.0.1:{redis_port}/1"
requests_per_minute = 10000

[pricing.prices."up/*"]
input = 0.15
output = 0.60

[admin]
token = "${{ADMIN_TOKEN}}"

[access_log]
{access_log}
"""


# -- the vendor: answers carry the key back in headers; errors echo it in their messages ------------


def received_key(request: web.Request) -> str:
    return request.headers.get("x-api-key") or request.headers.get("Authorization", "").removeprefix("Bearer ")


def echo_headers(request: web.Request) -> dict[str, str]:
    key = received_key(request)
    return {"x-echo-key": key, "openai-organization": f"org-{key}", "set-cookie": f"session={key}; Path=/"}


def openai_error(status: int, words: str):
    async def respond(request: web.Request) -> web.Response:
        key = received_key(request)
        body = {"error": {"message": f"{words}: {key}", "type": "invalid_request_error", "param": None,
                          "code": "invalid_api_key" if status == 401 else None}}
        return web.json_response(body, status=status, headers=echo_headers(request))

    return respond


def anthropic_error(status: int):
    async def respond(request: web.Request) -> web.Response:
        key = received_key(request)
        body = {"type": "error", "error": {"type": "authentication_error", "message": f"invalid x-api-key {key}"}}
        return web.json_response(body, status=status, headers=echo_headers(request))

    return respond


def broken_stream():
    async def respond(request: web.Request) -> web.StreamResponse:
        key = received_key(request)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", **echo_headers(request)})
        await response.prepare(request)
        base = {"id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini"}
        for piece in ("half", " an answer"):
            chunk = {**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
        error = {"error": {"message": f"stream failed for key {key}", "type": "server_error", "param": None,
                           "code": None}}
        await response.write(b"data: " + orjson.dumps(error) + b"\n\n")
        await response.write_eof()
        return response

    return respond


def script(up: FakeUpstream) -> None:
    up.on("/up/v1/chat/completions", scripted_openai())
    up.on("/bad/v1/chat/completions", openai_error(401, "Incorrect API key provided"))
    up.on("/boom/v1/chat/completions", openai_error(500, "The server had an error serving key"))
    up.on("/sterr/v1/chat/completions", broken_stream())
    up.on("/claude/v1/messages", scripted_anthropic())
    up.on("/claudebad/v1/messages", anthropic_error(401))


def scripted_openai():
    async def respond(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if not body.get("stream"):
            response = await OPENAI.answer_text("hi", USAGE)(request)
            response.headers.update(echo_headers(request))
            return response
        usage = bool((body.get("stream_options") or {}).get("include_usage"))
        frames = [FakeUpstream.frame(chunk) for chunk in openai_chunks(["h", "i"], usage=usage)]
        return await write_sse(request, [*frames, b"data: [DONE]\n\n"], headers=echo_headers(request))

    return respond


def scripted_anthropic():
    async def respond(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if not body.get("stream"):
            response = await ANTHROPIC.answer_text("hi", USAGE)(request)
            response.headers.update(echo_headers(request))
            return response
        text = ({"type": "text", "text": ""}, [{"type": "text_delta", "text": piece} for piece in ("h", "i")])
        frames = ANTHROPIC.stream_frames([text], "end_turn", USAGE)
        return await write_sse(request, frames, headers={"Content-Type": "text/event-stream",
                                                          **echo_headers(request)})

    return respond


# -- the process -------------------------------------------------------------------------------------


class Serve:
    def __init__(self, tmp_path: Path, upstream: FakeUpstream) -> None:
        self.dir = tmp_path
        self.up = upstream
        self.port = free_port()
        self.redis_port = free_port()  # nothing listens there
        self.config = tmp_path / "gateway.toml"
        self.access = tmp_path / "access.jsonl"
        self.stdout = tmp_path / "stdout.log"
        self.stderr = tmp_path / "stderr.log"
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write(self, access_log: str) -> None:
        self.config.write_text(config(self.port, self.up.url, self.redis_port, access_log))

    async def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PLAIN_TOKEN": PLAIN_TOKEN,
               "REDIS_PASSWORD": REDIS_PASSWORD, "ADMIN_TOKEN": ADMIN_TOKEN,
               **{f"KEY_{name.upper()}": key for name, key in VENDOR_KEYS.items()}}
        with self.stdout.open("wb") as out, self.stderr.open("wb") as err:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "sluicegate.cli", "serve", "--config", str(self.config),
                "--log-level", "debug", stdout=out, stderr=err, env=env,
            )
        deadline = time.monotonic() + 20
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                assert self.proc.returncode is None, self.stderr.read_text()
                try:
                    async with http.get(self.base_url + "/health/live") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError("serve did not answer within 20 s")

    async def reload(self, access_log: str) -> None:
        before = self.stderr.read_bytes().count(b"config reloaded")
        self.write(access_log)
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while self.stderr.read_bytes().count(b"config reloaded") == before:
            assert time.monotonic() < deadline, "the reload did not happen"
            await asyncio.sleep(0.05)

    async def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.proc.wait(), 20)

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


class Driver:
    """Runs every kind of request and keeps each response's request id and every byte it saw."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.ids: list[str] = []
        self.seen = bytearray()

    def note(self, headers: Any, body: bytes | str = b"") -> None:
        self.ids.append(headers["x-request-id"])
        self.seen += "\n".join(f"{k}: {v}" for k, v in headers.items()).encode()
        self.seen += body if isinstance(body, bytes) else body.encode()

    def openai(self, token: str) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=self.base_url + "/v1", api_key=token, max_retries=0)

    async def chat(self, token: str, model: str, stream: bool = False) -> int:
        async with self.openai(token) as client:
            try:
                raw = await client.chat.completions.with_raw_response.create(model=model, messages=MSG, stream=stream)
            except openai.APIStatusError as exc:
                self.note(exc.response.headers, exc.response.content)
                return exc.status_code
            if not stream:
                self.note(raw.headers, raw.content)
                return raw.status_code
            text = ""
            try:
                async for chunk in raw.parse():
                    text += chunk.model_dump_json()
            except openai.APIError as exc:  # the in-band error that ends a broken stream
                self.note(raw.headers, text + str(exc))
                return -1
            self.note(raw.headers, text)
            return raw.status_code

    async def messages(self, token: str, model: str, stream: bool = False) -> int:
        async with anthropic.AsyncAnthropic(base_url=self.base_url, api_key=token, max_retries=0) as client:
            try:
                if stream:
                    async with client.messages.with_streaming_response.create(
                        model=model, max_tokens=20, messages=MSG, stream=True
                    ) as response:
                        self.note(response.headers, await response.read())
                        return response.status_code
                raw = await client.messages.with_raw_response.create(model=model, max_tokens=20, messages=MSG)
                self.note(raw.headers, await raw.read())
                return raw.status_code
            except anthropic.APIStatusError as exc:
                self.note(exc.response.headers, exc.response.content)
                return exc.status_code

    async def admin(self, path: str, token: str) -> int:
        async with aiohttp.ClientSession() as http, http.get(
            self.base_url + path, headers={"Authorization": f"Bearer {token}"}
        ) as response:
            self.note(response.headers, await response.read())
            return response.status

    async def raw(self, body: bytes, headers: dict[str, str]) -> int:
        async with aiohttp.ClientSession() as http, http.post(
            self.base_url + "/v1/chat/completions", data=body, headers=headers
        ) as response:
            self.note(response.headers, await response.read())
            return response.status

    async def everything(self) -> dict[str, int]:
        json_type = {"Content-Type": "application/json"}
        return {
            "chat": await self.chat(PLAIN_TOKEN, "chat"),
            "chat stream": await self.chat(NAMED_TOKEN, "chat", stream=True),
            "direct": await self.chat(NAMED_TOKEN, "up/gpt-4o-mini"),
            "claude": await self.chat(PLAIN_TOKEN, "claude"),
            "claude stream": await self.chat(PLAIN_TOKEN, "claude", stream=True),
            "messages": await self.messages(NAMED_TOKEN, "claude"),
            "messages stream": await self.messages(NAMED_TOKEN, "chat", stream=True),
            "vendor 401": await self.chat(PLAIN_TOKEN, "bad"),
            "vendor 500": await self.chat(PLAIN_TOKEN, "boom", stream=True),
            "anthropic 401": await self.chat(NAMED_TOKEN, "claudebad"),
            "anthropic 401 messages": await self.messages(NAMED_TOKEN, "claudebad"),
            "fallback": await self.chat(NAMED_TOKEN, "failover"),
            "stream error": await self.chat(PLAIN_TOKEN, "sterr", stream=True),
            "wrong token": await self.chat(WRONG_TOKEN, "chat"),
            "wrong token messages": await self.messages(WRONG_TOKEN, "chat"),
            "wrong scheme": await self.raw(orjson.dumps({"model": "chat", "messages": MSG}),
                                           {**json_type, "Authorization": f"Basic {WRONG_TOKEN}"}),
            "missing token": await self.raw(orjson.dumps({"model": "chat", "messages": MSG}), json_type),
            "malformed json": await self.raw(b'{"model": "chat", "messages": [',
                                             {**json_type, "Authorization": f"Bearer {PLAIN_TOKEN}"}),
            "unknown model": await self.chat(PLAIN_TOKEN, "no-such-model"),
            "admin config": await self.admin("/admin/api/config", ADMIN_TOKEN),
            "admin status": await self.admin("/admin/api/status", ADMIN_TOKEN),
            "admin wrong token": await self.admin("/admin/api/config", WRONG_TOKEN),
            "admin token as client": await self.chat(ADMIN_TOKEN, "chat"),
        }


EXPECTED = {
    "chat": 200, "chat stream": 200, "direct": 200, "claude": 200, "claude stream": 200, "messages": 200,
    "messages stream": 200, "fallback": 200, "stream error": -1, "wrong token": 401,
    "wrong token messages": 401, "wrong scheme": 401, "missing token": 401, "malformed json": 400,
    "unknown model": 404, "admin config": 200, "admin status": 200, "admin wrong token": 401,
    "admin token as client": 401,
}


def encodings(secret: str) -> dict[str, bytes]:
    raw = secret.encode()
    return {
        "base64": base64.b64encode(raw),
        "base64 (urlsafe)": base64.urlsafe_b64encode(raw).rstrip(b"="),
        "base64 of 'Bearer …'": base64.b64encode(b"Bearer " + raw)[:-4],
        "url-encoded": quote(secret, safe="").encode(),
        "hex": raw.hex().encode(),
    }


def leaks(data: bytes) -> list[str]:
    found = []
    lowered = data.lower()
    for secret in SECRETS:
        pieces = {secret[i:i + WINDOW] for i in range(len(secret) - WINDOW + 1)}
        hits = sorted(piece for piece in pieces if piece.lower().encode() in lowered)
        if hits:
            found.append(f"{secret}: {hits[:3]}")
        for name, encoded in encodings(secret).items():
            if encoded in data:
                found.append(f"{secret} ({name})")
    return found


def context(data: bytes, secret: str) -> str:
    at = data.lower().find(secret[:WINDOW].lower().encode())
    return data[max(0, at - 300):at + 100].decode(errors="replace") if at >= 0 else ""


async def test_no_secret_reaches_any_log(tmp_path):
    async with FakeUpstream() as up:
        script(up)
        serve = Serve(tmp_path, up)
        serve.write(f'destination = "{serve.access}"')
        try:
            await serve.start()
            first = Driver(serve.base_url)
            statuses = await first.everything()
            # The same requests with the access log in text on stderr, after a SIGHUP reload.
            await serve.reload('format = "text"')
            second = Driver(serve.base_url)
            again = await second.everything()
            assert await serve.stop() == 0
        finally:
            await serve.kill()

    assert {k: v for k, v in statuses.items() if k in EXPECTED} == EXPECTED, statuses
    assert all(status >= 400 for name, status in statuses.items() if name not in EXPECTED), statuses
    assert again == statuses

    # The vendor saw the keys (so they were there to leak) and the echoes were sent.
    sent = {request.headers.get("x-api-key") or request.headers.get("Authorization") for request in up.requests}
    assert f"Bearer {VENDOR_KEYS['bad']}" in sent and VENDOR_KEYS["claudebad"] in sent

    access = serve.access.read_bytes()
    stderr = serve.stderr.read_bytes()
    stdout = serve.stdout.read_bytes()
    # Not vacuous: the logs hold every request, with its id.
    lines = [orjson.loads(line) for line in access.splitlines()]
    assert [line["request_id"] for line in lines] == first.ids
    assert len(first.ids) == len(statuses)
    text_lines = [line for line in stderr.decode().splitlines() if line.endswith(tuple(second.ids))]
    assert len(text_lines) == len(second.ids)
    # Redis refused every connection: the warnings that name it were written.
    assert stderr.count(b"redis at 127.0.0.1:") >= 4
    assert b"listening on" in stdout

    for name, data in (("access log", access), ("stderr", stderr), ("stdout", stdout)):
        found = leaks(data)
        assert not found, f"{name} leaks {found}:\n" + context(data, found[0].split(":")[0].split(" (")[0])
    found = leaks(bytes(first.seen) + bytes(second.seen))
    assert not found, f"responses to clients leak {found}"

