"""sluicegate provider ``type = "openai"``: OpenAI and every OpenAI-compatible API.

Same dialect in and out, so requests pass through: the body is re-encoded only when the model
name changes, responses and stream events are relayed as the vendor sent them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
from attrs import define, field
from multidict import CIMultiDict

from sluicegate import hookimpl
from sluicegate.config.checks import http_url
from sluicegate.errors import UpstreamError, UpstreamUnavailable
from sluicegate.exchange import OPENAI_ENDPOINTS, Reply, SSEEvent, StreamReply
from sluicegate.provider import ProviderOptions
from sluicegate.upstream import HttpProvider, error_message_from_body, forwardable_headers


@define(kw_only=True)
class OpenAIOptions(ProviderOptions):
    base_url: str | None = field(default="https://api.openai.com/v1", validator=http_url)
    organization: str | None = None
    project: str | None = None


class OpenAIProvider(HttpProvider):
    endpoints = OPENAI_ENDPOINTS
    # Local servers (vLLM, Ollama) take no key; a key given as an unset ${VAR} still counts as
    # unconfigured.
    requires_key = False

    def __init__(self, name, options: OpenAIOptions, services) -> None:
        super().__init__(name, options, services)
        self._urls = {endpoint: f"{self.base_url}/{endpoint.value}" for endpoint in OPENAI_ENDPOINTS}
        self._fixed_headers = self.base_headers()
        self._fixed_headers["Content-Type"] = "application/json"

    def auth_headers(self) -> dict[str, str]:
        headers = {}
        if self.options.api_key:
            headers["Authorization"] = f"Bearer {self.options.api_key.reveal()}"
        if self.options.organization:
            headers["OpenAI-Organization"] = self.options.organization
        if self.options.project:
            headers["OpenAI-Project"] = self.options.project
        return headers

    async def send(self, ctx, req, target):
        body = req.body
        payload = req.raw if body["model"] == target.model else orjson.dumps({**body, "model": target.model})
        headers = CIMultiDict(forwardable_headers(ctx.client_headers))
        headers.update(self._fixed_headers)
        headers["X-Request-Id"] = ctx.request_id
        response = await self.post(self._urls[req.endpoint], payload, headers, req.stream)
        if not req.stream:
            try:
                data = await self.read(response)
            finally:
                response.release()
            return Reply(data)
        if not response.content_type.startswith("text/event-stream"):
            # Some compatible servers ignore "stream": relay their one answer as one event.
            try:
                data = await self.read(response)
            finally:
                response.release()
            return StreamReply(_single(data))
        return self.stream_reply(self._relay(response), response)

    async def _relay(self, response) -> AsyncIterator[SSEEvent]:
        done = False
        async for event in self.events(response):
            data = event.data
            if data.startswith(b'{"error"'):
                raise self._stream_error(data)
            if data == b"[DONE]":
                done = True
            yield event
        if not done:
            raise UpstreamUnavailable(
                f"provider {self.name!r} ended the stream without [DONE]",
                provider=self.name,
                retryable=True,
            )

    def _stream_error(self, data: bytes) -> UpstreamError:
        message, code, kind = error_message_from_body(data)
        return UpstreamError(
            f"provider {self.name!r} reported an error mid-stream: {self.clean(message)}",
            provider=self.name,
            code=code or "upstream_stream_error",
            type=kind or "upstream_error",
        )


async def _single(data: bytes) -> AsyncIterator[SSEEvent]:
    try:
        answer = orjson.loads(data)
    except orjson.JSONDecodeError:
        answer = None
    if isinstance(answer, dict) and answer.get("object") == "chat.completion":
        answer["object"] = "chat.completion.chunk"
        for choice in answer.get("choices") or ():
            if isinstance(choice, dict):
                choice["delta"] = choice.pop("message", {})
        data = orjson.dumps(answer)
    yield SSEEvent(data)
    yield SSEEvent(b"[DONE]")


@hookimpl
def register_providers(register):
    register("openai", OpenAIProvider, options=OpenAIOptions)
