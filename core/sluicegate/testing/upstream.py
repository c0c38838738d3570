"""A fake vendor: a real aiohttp server on 127.0.0.1 that records requests and plays a script."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson
from aiohttp import web
from attrs import define, field

Responder = Callable[[web.Request], Awaitable[web.StreamResponse]]


@define
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    query: dict[str, str] = field(factory=dict)

    def json(self) -> Any:
        return orjson.loads(self.body)


class FakeUpstream:
    """Answers each path with a registered responder; records every request it receives.

    ``aborted`` counts streams whose client (the gateway) hung up mid-way, and
    ``abort_event`` is set when one does, so tests can wait for it.
    """

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.aborted = 0
        self.abort_event = asyncio.Event()
        self._routes: dict[str, list[Responder]] = {}
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def calls(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    # -- scripting -------------------------------------------------------------------------

    def on(self, path: str, *responders: Responder) -> None:
        """Answer ``path`` with these responders in turn; the last one repeats."""
        self._routes[path] = list(responders)

    def json(self, path: str, data: Any, status: int = 200, headers: dict[str, str] | None = None, delay: float = 0) -> None:
        self.on(path, self.json_responder(data, status, headers, delay))

    def sse(self, path: str, events: Iterable[Any], *, delay: float = 0, done: bool = True,
            headers: dict[str, str] | None = None) -> None:
        self.on(path, self.sse_responder(events, delay=delay, done=done, headers=headers))

    @staticmethod
    def json_responder(data: Any, status: int = 200, headers: dict[str, str] | None = None, delay: float = 0) -> Responder:
        body = data if isinstance(data, bytes) else orjson.dumps(data)

        async def respond(request: web.Request) -> web.StreamResponse:
            if delay:
                await asyncio.sleep(delay)
            return web.Response(body=body, status=status, headers=headers, content_type="application/json")

        return respond

    def sse_responder(self, events: Iterable[Any], *, delay: float = 0, done: bool = True,
                      headers: dict[str, str] | None = None, first_delay: float = 0) -> Responder:
        frames = [self.frame(event) for event in events]
        if done:
            frames.append(b"data: [DONE]\n\n")

        async def respond(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream", **(headers or {})})
            await response.prepare(request)
            try:
                if first_delay:
                    await asyncio.sleep(first_delay)
                for index, frame in enumerate(frames):
                    if delay and index:
                        await asyncio.sleep(delay)
                    await response.write(frame)
                await response.write_eof()
            except (asyncio.CancelledError, ConnectionResetError):
                self.aborted += 1
                self.abort_event.set()
                raise
            return response

        return respond

    @staticmethod
    def frame(event: Any) -> bytes:
        """bytes pass as they are (a whole SSE frame); anything else becomes ``data: <json>``."""
        if isinstance(event, bytes):
            return event
        if isinstance(event, tuple):  # (event name, data)
            name, data = event
            return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
        return b"data: " + orjson.dumps(event) + b"\n\n"

    # -- lifecycle -------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            RecordedRequest(request.method, request.path, dict(request.headers), body, dict(request.query))
        )
        responders = self._routes.get(request.path)
        if not responders:
            return web.json_response({"error": {"message": f"fake upstream: no route {request.path}"}}, status=404)
        responder = responders.pop(0) if len(responders) > 1 else responders[0]
        return await responder(request)

    async def start(self) -> FakeUpstream:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeUpstream:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def openai_chat_completion(content: str = "Hello!", model: str = "gpt-4o-mini", **extra: Any) -> dict[str, Any]:
    """A chat.completion body as OpenAI sends it."""
    return {
        "id": "chatcmpl-fake123",
        "object": "chat.completion",
        "created": 1730000000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
        "system_fingerprint": "fp_fake",
        **extra,
    }


def openai_chunks(pieces: Iterable[str], model: str = "gpt-4o-mini", usage: bool = False) -> list[dict[str, Any]]:
    """The chat.completion.chunk sequence OpenAI streams for ``pieces`` of text."""
    base = {"id": "chatcmpl-fake123", "object": "chat.completion.chunk", "created": 1730000000, "model": model}
    chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}]
    chunks += [
        {**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]} for piece in pieces
    ]
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if usage:
        chunks.append({**base, "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}})
    return chunks
