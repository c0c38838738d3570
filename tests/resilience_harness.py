"""The harness the resilience end-to-end tests share: providers a and b (OpenAI-compatible), c
(Anthropic) and dead (a closed port) on one fake upstream, a gateway on an injected sleep, RNG
and clock, and SDK clients. (``tests`` is on pytest's ``pythonpath``.)

The resilience tests (``test_resilience_*.py``, one module per concern) drive the official SDKs
through the real server to fake vendors that fail in every way a vendor can. Every test checks
what the client saw *and* how many calls each fake vendor received. Waits are never slept: the
gateway's ``sleep`` is a recorder and its RNG is seeded, so each backoff wait is compared exactly
with ``sluicegate.resilience.retry.backoff`` on an identically seeded RNG. Real timeouts (0.2-0.5 s)
are used only where a real timeout is the point.
"""

from __future__ import annotations

import random
import socket
from typing import Any

import aiohttp
import anthropic
import openai
import orjson
import pytest

from sluicegate.config.resilience import RetryConfig
from sluicegate.resilience.retry import backoff
from sluicegate.testing import FakeUpstream, openai_chat_completion

TOKEN = "client-token-resilience"
SEED = 1234
MSG = [{"role": "user", "content": "hi"}]
# One path per fake vendor on the one FakeUpstream, so calls are countable per provider.
A = "/a/v1/chat/completions"
B = "/b/v1/chat/completions"
C = "/c/v1/messages"
# Generous budget: these tests are about retries, not about the budget that limits them.
RETRY = {"attempts": 3, "backoff_base": 0.5, "backoff_max": 8.0, "budget_min_per_second": 100.0}
ONE_TRY = {**RETRY, "attempts": 1}
CHAT = '[models.chat]\ntargets = ["a/m1", "b/m2"]\n'

def table(name: str, values: dict[str, Any]) -> str:
    lines = [f"[{name}]"]
    for key, value in values.items():
        lines.append(f"{key} = {orjson.dumps(value).decode()}")
    return "\n".join(lines) + "\n"


def closed_port() -> int:
    """A local port nothing listens on: connecting to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def config(url: str, *, retry: dict[str, Any] | None = None, models: str = CHAT, extra: str = "",
           a: str = "", b: str = "", c: str = "") -> str:
    """Providers a and b (OpenAI-compatible) and c (Anthropic) on one fake upstream, plus
    ``dead`` at a closed port; ``a``/``b``/``c`` add lines to their provider tables."""
    return f"""
[auth]
tokens = ["{TOKEN}"]

[providers.a]
type = "openai"
base_url = "{url}/a/v1"
api_key = "sk-a-000000000000"
{a}

[providers.b]
type = "openai"
base_url = "{url}/b/v1"
api_key = "sk-b-000000000000"
{b}

[providers.c]
type = "anthropic"
base_url = "{url}/c/v1"
api_key = "sk-ant-c-00000000000"
{c}

[providers.dead]
type = "openai"
base_url = "http://127.0.0.1:{closed_port()}/v1"
api_key = "sk-dead-0000000000"
connect_timeout = 0.5

{models}
{table("retry", RETRY if retry is None else retry)}
{extra}
"""


def backoffs(retry: dict[str, Any], *numbers: int, seed: int = SEED) -> list[float]:
    """The waits the gateway draws for retries ``numbers`` (0 = a target's first retry), in
    order, from an RNG seeded as the gateway's."""
    cfg = RetryConfig(**retry)
    rng = random.Random(seed)
    return [backoff(cfg, n, rng) for n in numbers]


def ok(text: str, **kwargs: Any):
    return FakeUpstream.json_responder(openai_chat_completion(text), **kwargs)


def oai_error(status: int, message: str, kind: str | None, code: str | None, headers: dict | None = None,
              delay: float = 0):
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return FakeUpstream.json_responder(body, status, headers, delay)


def server_error(status: int = 500, headers: dict | None = None):
    return oai_error(status, "The server had an error while processing your request.", "server_error", None,
                     headers)


def anthropic_error(status: int, kind: str, message: str, headers: dict | None = None):
    body = {"type": "error", "error": {"type": kind, "message": message},
            "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}
    return FakeUpstream.json_responder(body, status, {"request-id": "req_011CSHoEeqs5C35K2UUqR7Fy",
                                                      **(headers or {})})


def rate_limited(headers: dict[str, str]):
    return oai_error(429, "Rate limit reached for requests", "requests", "rate_limit_exceeded", headers)


# Answers and config several resilience modules use.
BAD_REQUEST = oai_error(400, "Invalid value for 'temperature'.", "invalid_request_error", "invalid_value")
TOO_LONG = oai_error(400, "This model's maximum context length is 8192 tokens. However, your messages "
                     "resulted in 9000 tokens.", "invalid_request_error", "context_length_exceeded")
DEGRADE = '[degrade]\nmessage = "Our assistant is resting. Please try again in a minute."\n'
DEGRADED = "Our assistant is resting. Please try again in a minute."


class Harness:
    """A gateway on injected sleep/RNG (and optionally clock), the fake vendors and an SDK client."""

    def __init__(self, gateway, upstream: FakeUpstream) -> None:
        self._gateway = gateway
        self.up = upstream
        self.waits: list[float] = []
        self.server = None
        self.client: openai.AsyncOpenAI | None = None
        self._clients: list[Any] = []

    async def start(self, text: str, *, clock=None, wall_clock=None, seed: int = SEED,
                    extra_plugins: tuple[tuple[str, Any], ...] = ()) -> Harness:
        async def sleep(seconds: float) -> None:
            self.waits.append(seconds)

        services: dict[str, Any] = {"sleep": sleep, "rng": random.Random(seed)}
        if clock is not None:
            services["clock"] = clock
        if wall_clock is not None:
            services["wall_clock"] = wall_clock
        self.server = await self._gateway(text, services=services, extra_plugins=extra_plugins)
        self.client = openai.AsyncOpenAI(base_url=self.server.base_url + "/v1", api_key=TOKEN, max_retries=0)
        self._clients.append(self.client)
        return self

    def claude(self) -> anthropic.AsyncAnthropic:
        client = anthropic.AsyncAnthropic(base_url=self.server.base_url, api_key=TOKEN, max_retries=0)
        self._clients.append(client)
        return client

    def calls(self, path: str) -> int:
        return len(self.up.calls(path))

    def models(self, path: str) -> list[str]:
        return [r.json()["model"] for r in self.up.calls(path)]

    async def stream_text(self, model: str = "chat") -> str:
        result = await self.client.chat.completions.create(model=model, messages=MSG, stream=True)
        return "".join([c.choices[0].delta.content or "" async for c in result if c.choices])

    async def chat(self, model: str = "chat") -> str:
        reply = await self.client.chat.completions.create(model=model, messages=MSG)
        return reply.choices[0].message.content

    async def post(self, body: dict[str, Any], path: str = "/v1/chat/completions"):
        """Raw: (status, headers, body bytes)."""
        async with aiohttp.ClientSession() as http, http.post(
            self.server.base_url + path, data=orjson.dumps(body),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        ) as response:
            return response.status, response.headers, await response.read()

    async def health(self) -> dict[str, Any]:
        async with aiohttp.ClientSession() as http, http.get(self.server.base_url + "/health") as response:
            return await response.json()

    async def aclose(self) -> None:
        for client in self._clients:
            await client.close()


@pytest.fixture
async def h(gateway, fake_upstream):
    harness = Harness(gateway, fake_upstream)
    yield harness
    await harness.aclose()


def body(model: str = "chat", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": MSG, **extra}
