"""Tracing through the real server: the official openai and anthropic SDKs as clients, a fake
OpenAI vendor behind (one target failing with 500, the next answering), spans caught in memory,
config reloads, and non-API routes."""

from __future__ import annotations

import asyncio

import aiohttp
import anthropic
import openai
import pytest
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from sluicegate.testing import openai_chat_completion, openai_chunks

TOKEN = "client-token-tracing-0001"
VENDOR_KEY = "sk-vendor-tracing-00000000"
TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT = "b7ad6b7169203331"
CHAT = "/v1/chat/completions"
FLAKY = "/flaky/v1/chat/completions"
MSG = [{"role": "user", "content": "a prompt that must never reach a span"}]


def config(url: str, tracing: str = "") -> str:
    return f"""
[server]
shutdown_grace = 0

[auth]
clients = {{ team-a = "{TOKEN}" }}

[providers.flaky]
type = "openai"
base_url = "{url}/flaky/v1"
api_key = "{VENDOR_KEY}"

[providers.steady]
type = "openai"
base_url = "{url}/v1"
api_key = "{VENDOR_KEY}"

[providers.mock]
type = "mock"

[models.chat]
targets = ["flaky/gpt-4o-mini", "steady/gpt-4o-mini"]

[retry]
attempts = 1

[tracing]
exporter = "none"
{tracing}
"""


class Catch(SpanProcessor):
    """The in-memory exporter behind a simple processor, plus whether the provider shut down."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self._inner = SimpleSpanProcessor(self.exporter)
        self.shut = False

    def on_end(self, span) -> None:
        self._inner.on_end(span)

    def shutdown(self) -> None:
        self.shut = True

    def spans(self):
        return self.exporter.get_finished_spans()


def catch(server) -> Catch:
    """Spans of the assembly serving now, straight from its tracing extension's provider."""
    processor = Catch()
    server.gateway.current.extensions["tracing"].provider.add_span_processor(processor)
    return processor


async def spans_of(processor: Catch, count: int):
    # Spans are made when the edge finishes the request, which may be a moment after the
    # client has its last byte.
    for _ in range(100):
        if len(processor.spans()) >= count:
            break
        await asyncio.sleep(0.01)
    spans = processor.spans()
    assert len(spans) == count, [s.name for s in spans]
    return spans


def split(spans):
    server = [s for s in spans if s.kind is SpanKind.SERVER]
    clients = sorted((s for s in spans if s.kind is SpanKind.CLIENT), key=lambda s: s.start_time)
    assert len(server) == 1
    return server[0], clients


def vendor_error(up) -> None:
    up.json(FLAKY, {"error": {"message": "boom", "type": "server_error", "code": None}}, status=500)


async def test_a_failover_is_a_request_span_with_two_attempts(gateway, fake_upstream):
    vendor_error(fake_upstream)
    fake_upstream.json(CHAT, openai_chat_completion("hello"))
    server = await gateway(config(fake_upstream.url))
    caught = catch(server)
    async with openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=TOKEN, max_retries=0,
                                  default_headers={"traceparent": f"00-{TRACE}-{PARENT}-01"}) as client:
        raw = await client.chat.completions.with_raw_response.create(model="chat", messages=MSG)
    assert raw.parse().choices[0].message.content == "hello"

    request, (failed, answered) = split(await spans_of(caught, 3))
    assert request.name == "chat chat"
    assert request.context.trace_id == int(TRACE, 16)
    assert request.parent.span_id == int(PARENT, 16)
    assert request.attributes["sluicegate.request_id"] == raw.headers["x-request-id"]
    assert request.attributes["gen_ai.request.model"] == "chat"
    assert request.attributes["gen_ai.response.model"] == "gpt-4o-mini"
    assert request.attributes["gen_ai.provider.name"] == "openai"
    assert request.attributes["sluicegate.provider"] == "steady"
    assert request.attributes["sluicegate.client"] == "team-a"
    assert (request.attributes["gen_ai.usage.input_tokens"], request.attributes["gen_ai.usage.output_tokens"]) == (5, 2)
    assert (request.attributes["sluicegate.attempts"], request.attributes["sluicegate.fallback"]) == (2, True)
    assert request.attributes["http.response.status_code"] == 200
    assert request.status.status_code is StatusCode.UNSET

    for child in (failed, answered):
        assert child.parent.span_id == request.context.span_id
        assert child.name == "chat gpt-4o-mini"
        assert child.attributes["server.address"] == "127.0.0.1"
        assert child.attributes["server.port"] == fake_upstream.port
    assert failed.attributes["sluicegate.provider"] == "flaky"
    assert failed.attributes["error.type"] == "overloaded"
    assert failed.attributes["http.response.status_code"] == 500
    assert failed.status.status_code is StatusCode.ERROR
    assert answered.attributes["sluicegate.provider"] == "steady"
    assert "error.type" not in answered.attributes
    assert request.start_time <= failed.start_time < failed.end_time <= answered.start_time
    assert answered.end_time <= request.end_time

    # Nothing the client or the vendor said, and no key, is in any span.
    text = repr([(s.name, dict(s.attributes), dict(s.resource.attributes)) for s in caught.spans()])
    for secret in (TOKEN, VENDOR_KEY, "must never reach", "hello"):
        assert secret not in text


async def test_a_failed_request_is_an_error_span(gateway, fake_upstream):
    vendor_error(fake_upstream)
    fake_upstream.json(CHAT, {"error": {"message": "down", "type": "server_error", "code": None}}, status=503)
    server = await gateway(config(fake_upstream.url))
    caught = catch(server)
    async with openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=TOKEN, max_retries=0) as client:
        with pytest.raises(openai.APIStatusError) as raised:
            await client.chat.completions.create(model="chat", messages=MSG)
    request, clients = split(await spans_of(caught, 3))
    assert request.attributes["http.response.status_code"] == raised.value.status_code >= 500
    assert request.status.status_code is StatusCode.ERROR
    assert request.attributes["error.type"]
    assert request.parent is None  # no traceparent: a trace of its own
    assert [c.status.status_code for c in clients] == [StatusCode.ERROR, StatusCode.ERROR]


async def test_a_stream_is_traced_to_its_last_chunk(gateway, fake_upstream):
    fake_upstream.sse(CHAT, openai_chunks(["Hel", "lo"], usage=True))
    server = await gateway(config(fake_upstream.url))
    caught = catch(server)
    async with openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=TOKEN, max_retries=0) as client:
        stream = await client.chat.completions.create(model="steady/gpt-4o-mini", messages=MSG, stream=True)
        text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])
    assert text == "Hello"
    request, (attempt,) = split(await spans_of(caught, 2))
    assert request.name == "chat steady/gpt-4o-mini"
    assert request.attributes["sluicegate.stream"] is True
    assert 0 < request.attributes["sluicegate.ttft"] <= (request.end_time - request.start_time) / 1e9
    assert attempt.end_time == request.end_time
    assert attempt.attributes["gen_ai.usage.output_tokens"] == request.attributes["gen_ai.usage.output_tokens"]


async def test_the_messages_api_is_a_chat_span(gateway, fake_upstream):
    server = await gateway(config(fake_upstream.url))
    caught = catch(server)
    async with anthropic.AsyncAnthropic(base_url=server.base_url, api_key=TOKEN, max_retries=0) as client:
        await client.messages.create(model="mock/echo", max_tokens=20, messages=MSG)
    request, (attempt,) = split(await spans_of(caught, 2))
    assert request.name == "chat mock/*"  # a model no config names: bounded in the span name
    assert request.attributes["gen_ai.request.model"] == "mock/echo"
    assert request.attributes["http.route"] == "/v1/messages"
    assert attempt.attributes["gen_ai.provider.name"] == "mock"
    assert "server.address" not in attempt.attributes  # the mock has no URL


async def test_embeddings_and_completions_name_their_operation(gateway, fake_upstream):
    server = await gateway(config(fake_upstream.url))
    caught = catch(server)
    async with openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=TOKEN, max_retries=0) as client:
        await client.embeddings.create(model="mock/e", input="x")
        await client.completions.create(model="mock/c", prompt="x")
    spans = [s for s in await spans_of(caught, 4) if s.kind is SpanKind.SERVER]
    assert sorted(s.attributes["gen_ai.operation.name"] for s in spans) == ["embeddings", "text_completion"]


async def test_non_api_routes_are_not_traced_unless_asked(gateway, fake_upstream):
    server = await gateway(config(fake_upstream.url))
    caught = catch(server)
    async with aiohttp.ClientSession() as http:
        async with http.get(server.base_url + "/health") as response:
            assert response.status == 200
        async with http.get(server.base_url + "/nowhere") as response:
            assert response.status == 404
    await asyncio.sleep(0.05)
    assert caught.spans() == ()

    other = await gateway(config(fake_upstream.url, "all_routes = true"))
    caught = catch(other)
    async with aiohttp.ClientSession() as http, http.get(other.base_url + "/health") as response:
        assert response.status == 200
    (span,) = await spans_of(caught, 1)
    assert span.name == "GET /health"


async def test_a_reload_keeps_the_provider_unless_tracing_changes(gateway, fake_upstream):
    fake_upstream.json(CHAT, openai_chat_completion("hi"))
    server = await gateway(config(fake_upstream.url))
    first = server.gateway.current.extensions["tracing"]
    caught = catch(server)

    assert await server.gateway.reload() is True  # same text: same provider, same queue
    second = server.gateway.current.extensions["tracing"]
    assert second is not first
    assert second.provider is first.provider

    server.gateway.source.text = config(fake_upstream.url, "sample_ratio = 0.5")
    assert await server.gateway.reload() is True
    third = server.gateway.current.extensions["tracing"]
    assert third.provider is not first.provider
    for _ in range(100):  # the old assemblies retire after shutdown_grace (0 here)
        if caught.shut:
            break
        await asyncio.sleep(0.01)
    assert caught.shut  # flushed and shut down once no assembly used it

    new = catch(server)
    async with openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=TOKEN, max_retries=0,
                                  default_headers={"traceparent": f"00-{TRACE}-{PARENT}-01"}) as client:
        await client.chat.completions.create(model="steady/gpt-4o-mini", messages=MSG)
    await spans_of(new, 2)

    server.gateway.source.text = config(fake_upstream.url, "enabled = false")
    assert await server.gateway.reload() is True
    assert "tracing" not in server.gateway.current.extensions
    for _ in range(100):
        if new.shut:
            break
        await asyncio.sleep(0.01)
    assert new.shut
