"""A fake vendor that answers every well-formed call with success, in the real wire format.

OpenAI's chat, completions and embeddings and Anthropic's Messages API on one ``FakeUpstream``
(all under ``/v1``), each streaming when the request asks for it. Nothing is scripted per
test: tests that throw arbitrary bodies at the gateway (depth limits, fuzzing) only need an
upstream that never fails, so every failure they see is the gateway's. A request the vendor
could not read gets a 400 naming the problem, and the recorded request shows what was sent.
(``tests`` is on pytest's ``pythonpath``.)
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from sluicegate.testing import FakeUpstream, openai_chat_completion, openai_chunks

CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
EMBEDDINGS = "/v1/embeddings"
MESSAGES = "/v1/messages"
PATHS = (CHAT, COMPLETIONS, EMBEDDINGS, MESSAGES)
USAGE = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}


def serve(upstream: FakeUpstream) -> None:
    """Answer every path of the vendor APIs on ``upstream``."""
    upstream.on(CHAT, _chat)
    upstream.on(COMPLETIONS, _completions)
    upstream.on(EMBEDDINGS, _embeddings)
    upstream.on(MESSAGES, _messages)


async def _body(request: web.Request) -> tuple[dict[str, Any] | None, web.Response | None]:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        return None, _refuse(f"echo vendor: not JSON: {exc}")
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        return None, _refuse("echo vendor: not an object with a model string")
    return body, None


def _refuse(message: str) -> web.Response:
    error = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}
    return web.json_response(error, status=400)


def _streams(body: dict[str, Any]) -> bool:
    return body.get("stream") is True


async def _sse(request: web.Request, frames: list[bytes]) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    await response.write(b"".join(frames))
    await response.write_eof()
    return response


def _data(obj: Any) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def _wants_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


async def _chat(request: web.Request) -> web.StreamResponse:
    body, refused = await _body(request)
    if body is None:
        return refused
    if not _streams(body):
        return web.json_response(openai_chat_completion("ok", model=body["model"]))
    chunks = openai_chunks(["o", "k"], model=body["model"], usage=_wants_usage(body))
    return await _sse(request, [*map(_data, chunks), b"data: [DONE]\n\n"])


async def _completions(request: web.Request) -> web.StreamResponse:
    body, refused = await _body(request)
    if body is None:
        return refused
    base = {"id": "cmpl-echo", "object": "text_completion", "created": 1730000000, "model": body["model"]}
    if not _streams(body):
        choice = {"text": "ok", "index": 0, "logprobs": None, "finish_reason": "stop"}
        return web.json_response({**base, "choices": [choice], "usage": USAGE})
    frames = [_data({**base, "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": end}]})
              for text, end in (("o", None), ("k", "stop"))]
    if _wants_usage(body):
        frames.append(_data({**base, "choices": [], "usage": USAGE}))
    return await _sse(request, [*frames, b"data: [DONE]\n\n"])


async def _embeddings(request: web.Request) -> web.StreamResponse:
    body, refused = await _body(request)
    if body is None:
        return refused
    data = [{"object": "embedding", "index": 0, "embedding": [0.25, -0.5]}]
    return web.json_response({"object": "list", "data": data, "model": body["model"],
                              "usage": {"prompt_tokens": 1, "total_tokens": 1}})


def _event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


async def _messages(request: web.Request) -> web.StreamResponse:
    body, refused = await _body(request)
    if body is None:
        return refused
    usage = {"input_tokens": 5, "output_tokens": 2}
    message = {"id": "msg_echo", "type": "message", "role": "assistant", "model": body["model"],
               "stop_reason": "end_turn", "stop_sequence": None, "usage": usage}
    if not _streams(body):
        return web.json_response({**message, "content": [{"type": "text", "text": "ok"}]})
    return await _sse(request, [
        _event("message_start", {"type": "message_start",
                                 "message": {**message, "content": [], "stop_reason": None}}),
        _event("content_block_start", {"type": "content_block_start", "index": 0,
                                       "content_block": {"type": "text", "text": ""}}),
        _event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                       "delta": {"type": "text_delta", "text": "ok"}}),
        _event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _event("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn",
                                                                     "stop_sequence": None},
                                 "usage": {"output_tokens": 2}}),
        _event("message_stop", {"type": "message_stop"}),
    ])
