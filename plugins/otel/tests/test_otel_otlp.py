"""The ``otlp`` exporter end to end: spans reach a fake OTLP/HTTP collector in protobuf with the
configured auth header, flushed when the gateway closes; a collector that is down costs requests
nothing and its failures log no secret. Needs the ``otlp`` extra (requirements-dev installs it)."""

from __future__ import annotations

import gzip
import logging
import socket

import openai
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from sluicegate.testing import openai_chat_completion, running_gateway

TOKEN = "client-token-otlp-000001"
COLLECTOR_TOKEN = "collector-secret-token-42"
CHAT = "/v1/chat/completions"
MSG = [{"role": "user", "content": "hi"}]


class Collector:
    """A fake OTLP/HTTP collector: keeps each export's headers and decoded request."""

    def __init__(self) -> None:
        self.exports: list[tuple[dict[str, str], ExportTraceServiceRequest]] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> Collector:
        app = web.Application()
        app.router.add_post("/v1/traces", self._receive)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc) -> None:
        await self._runner.cleanup()

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.exports.append((dict(request.headers), ExportTraceServiceRequest.FromString(body)))
        return web.Response(body=ExportTraceServiceResponse().SerializeToString(),
                            content_type="application/x-protobuf")

    def spans(self):
        return [
            (span, resource_spans.resource)
            for _, export in self.exports
            for resource_spans in export.resource_spans
            for scope in resource_spans.scope_spans
            for span in scope.spans
        ]


def config(upstream: str, endpoint: str) -> str:
    return f"""
[auth]
tokens = ["{TOKEN}"]

[providers.steady]
type = "openai"
base_url = "{upstream}/v1"
api_key = "sk-otlp-vendor-000000000"
models = ["gpt-4o-mini"]

[tracing]
endpoint = "{endpoint}"
headers = {{ authorization = "Bearer ${{COLLECTOR_TOKEN}}" }}
service_name = "edge-gateway"
timeout = 1
"""


def attributes(key_values) -> dict:
    return {kv.key: kv.value.WhichOneof("value") and getattr(kv.value, kv.value.WhichOneof("value"))
            for kv in key_values}


async def test_spans_reach_the_collector_with_its_auth_header(fake_upstream, caplog):
    fake_upstream.json(CHAT, openai_chat_completion("hello"))
    async with Collector() as collector:
        text = config(fake_upstream.url, collector.url + "/v1/traces")
        async with running_gateway(text, env={"COLLECTOR_TOKEN": COLLECTOR_TOKEN}) as server:
            async with openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=TOKEN, max_retries=0) as client:
                await client.chat.completions.create(model="steady/gpt-4o-mini", messages=MSG)
        # Closing the gateway flushed the batch queue: no wait for the export schedule.
        assert collector.exports
        headers, _ = collector.exports[0]
        assert headers["Authorization"] == f"Bearer {COLLECTOR_TOKEN}"
        assert headers["Content-Type"] == "application/x-protobuf"
        found = collector.spans()
        assert sorted(span.name for span, _ in found) == ["chat gpt-4o-mini", "chat steady/gpt-4o-mini"]
        request = next(span for span, _ in found if span.name == "chat steady/gpt-4o-mini")
        attempt = next(span for span, _ in found if span.name == "chat gpt-4o-mini")
        assert attempt.parent_span_id == request.span_id
        assert attempt.trace_id == request.trace_id
        assert attributes(request.attributes)["gen_ai.usage.input_tokens"] == 5
        resource = attributes(found[0][1].attributes)
        assert resource["service.name"] == "edge-gateway"
    assert COLLECTOR_TOKEN not in caplog.text


async def test_a_collector_that_is_down_costs_requests_nothing(fake_upstream, caplog):
    caplog.set_level(logging.DEBUG)
    fake_upstream.json(CHAT, openai_chat_completion("hello"))
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/v1/traces"
    async with running_gateway(config(fake_upstream.url, dead), env={"COLLECTOR_TOKEN": COLLECTOR_TOKEN}) as server:
        async with openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=TOKEN, max_retries=0) as client:
            for _ in range(3):
                answer = await client.chat.completions.create(model="steady/gpt-4o-mini", messages=MSG)
                assert answer.choices[0].message.content == "hello"
    # The failed export was tried (and logged) at close, with no secret in the log.
    assert "export" in caplog.text.lower()
    assert COLLECTOR_TOKEN not in caplog.text
