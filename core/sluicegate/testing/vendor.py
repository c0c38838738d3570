"""How a vendor speaks on the wire, for fake upstreams: the per-vendor half of the adapter contract.

A provider plugin subclasses ``VendorScript`` once (in its tests) to tell the contract in
``sluicegate.testing.contract`` how its vendor answers (text, streams, tool calls, errors) and
how to read the request the adapter sent. Responders are aiohttp handlers a ``FakeUpstream``
plays; they must produce the vendor's real wire format, byte for byte where it matters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
from aiohttp import web
from attrs import define, field

from sluicegate.testing.upstream import RecordedRequest

Responder = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def write_sse(
    request: web.Request,
    frames: Sequence[bytes],
    *,
    delay: float = 0,
    headers: dict[str, str] | None = None,
) -> web.StreamResponse:
    """Send pre-framed SSE bytes ``delay`` seconds apart, as a vendor streams them."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", **(headers or {})})
    await response.prepare(request)
    for index, frame in enumerate(frames):
        if delay and index:
            await asyncio.sleep(delay)
        await response.write(frame)
    await response.write_eof()
    return response


def json_answer(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Responder:
    """A responder answering with ``data`` as JSON."""
    body = data if isinstance(data, bytes) else orjson.dumps(data)

    async def respond(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, status=status, headers=headers, content_type="application/json")

    return respond


@define(frozen=True)
class Usage:
    """Token counts a scripted answer reports, in the vendor's own terms."""

    prompt_tokens: int = 11
    completion_tokens: int = 7
    cached_tokens: int = 0
    #: Prompt tokens written to the vendor's cache (of ``prompt_tokens``), and of those the ones
    #: written for an hour (Anthropic prices 5-minute and 1-hour writes apart).
    cache_written: int = 0
    cache_written_1h: int = 0


@define(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


@define(frozen=True)
class ErrorCase:
    """One vendor error and what an OpenAI client must see for it."""

    name: str
    responder: Responder
    status: int  # the HTTP status the client gets
    retry_after: str | None = None  # the Retry-After the client gets, when the vendor sent one
    message: str | None = None  # a fragment of the vendor's message the client's message keeps


@define
class RequestSummary:
    """The vendor request the adapter sent, read back into vendor-neutral terms.

    ``turns`` are (role, text) with role "user" or "assistant" and the turn's text parts joined
    with "\\n"; tool calls and results are listed separately, in order.
    """

    model: str
    stream: bool
    system: str | None
    turns: list[tuple[str, str]]
    tools: list[str] = field(factory=list)  # declared tool (function) names
    tool_calls: list[ToolCall] = field(factory=list)  # assistant tool calls in the history
    tool_results: list[tuple[str, str]] = field(factory=list)  # (tool call id, result text)
    max_tokens: int | None = None
    credential: str | None = None  # the vendor key the request carried
    images: list[str] = field(factory=list)  # image URLs (data: or http) in the user turns


class VendorScript:
    """Override every method; each returns a responder speaking the vendor's wire format."""

    #: The provider ``type`` under test.
    provider_type: str = ""
    #: The model name the provider is asked for (``<provider>/<upstream_model>``).
    upstream_model: str = "vendor-model-1"

    def base_url(self, upstream_url: str) -> str:
        """The ``base_url`` to configure for a fake upstream listening at ``upstream_url``."""
        raise NotImplementedError

    def chat_path(self, stream: bool, *, images: bool = False) -> str:
        """The path on the fake upstream the adapter calls for a chat completion; ``images`` when
        a message carries one (DashScope serves those on another endpoint)."""
        raise NotImplementedError

    def provider_options(self) -> str:
        """Extra TOML lines for the ``[providers.<id>]`` table (besides type, base_url, key)."""
        return ""

    def answer_text(self, text: str, usage: Usage) -> Responder:
        raise NotImplementedError

    def answer_stream(self, pieces: list[str], usage: Usage, *, delay: float = 0) -> Responder:
        """A streamed answer of ``pieces``, ``delay`` seconds apart, usage included."""
        raise NotImplementedError

    def answer_tool_call(self, call: ToolCall, usage: Usage, *, stream: bool) -> Responder:
        """An answer consisting of one tool call (finish reason: tool calls)."""
        raise NotImplementedError

    def answer_stream_error(self, pieces: list[str]) -> Responder:
        """A stream that sends ``pieces`` and then the vendor's in-band error."""
        raise NotImplementedError

    def error_cases(self) -> list[ErrorCase]:
        """The vendor's error responses (at least 400, 401, 429 with Retry-After, 5xx)."""
        raise NotImplementedError

    def summarize(self, request: RecordedRequest) -> RequestSummary:
        """Read the request the adapter sent."""
        raise NotImplementedError
