"""A fast fake OpenAI upstream for benchmarks: POST /v1/chat/completions, nothing else.

Non-streaming: a fixed, realistic ``chat.completion`` whose ``model`` echoes the request's (so
a benchmark can check that the gateway rewrote the alias). Streaming: 20 ``chat.completion.chunk``
events, a usage chunk and ``[DONE]``, each written as its own HTTP chunk, without delays.

Runs on aiohttp's low-level server (no router, no middlewares, no access log) under uvloop so
it costs as little CPU as possible. Only ever binds 127.0.0.1.

    python contrib/bench/upstream.py --port 9001 [--api-key sk-bench-upstream]
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import orjson
from aiohttp import web

PATH = "/v1/chat/completions"
CREATED = 1732000000
FINGERPRINT = "fp_0ba0d124f1"
WORDS = (
    "Sure",
    "!",
    " Here",
    " is",
    " a",
    " short",
    " answer",
    ":",
    " the",
    " gateway",
    " forwards",
    " your",
    " request",
    " to",
    " the",
    " upstream",
    " and",
    " relays",
    " it",
    ".",
)


def completion_parts() -> tuple[bytes, bytes]:
    """The non-streaming answer split around the model value: prefix + json(model) + suffix."""
    answer = {
        "id": "chatcmpl-AbCdEfGhIjKlMnOpQrStUvWxYz012",
        "object": "chat.completion",
        "created": CREATED,
        "model": "@@MODEL@@",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "".join(WORDS) + " It adds authentication, routing, retries and"
                    " metrics on the way, and keeps every field it does not understand.",
                    "refusal": None,
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 42,
            "completion_tokens": 38,
            "total_tokens": 80,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "system_fingerprint": FINGERPRINT,
    }
    prefix, suffix = orjson.dumps(answer).split(b'"@@MODEL@@"')
    return prefix, suffix


def stream_events(model: str = "gpt-4o-mini-2024-07-18") -> list[bytes]:
    """The SSE frames of one streamed answer, [DONE] included."""
    base = {
        "id": "chatcmpl-AbCdEfGhIjKlMnOpQrStUvWxYz012",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        "system_fingerprint": FINGERPRINT,
    }

    def chunk(delta, finish=None, usage=None, choices=True):
        data = dict(base)
        data["choices"] = (
            [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}] if choices else []
        )
        if usage is not None or not choices:
            data["usage"] = usage
        return b"data: " + orjson.dumps(data) + b"\n\n"

    events = [chunk({"role": "assistant", "content": "", "refusal": None})]
    events += [chunk({"content": word}) for word in WORDS[:-1]]
    events.append(chunk({}, finish="stop"))
    events.append(
        chunk(None, usage={"prompt_tokens": 42, "completion_tokens": 19, "total_tokens": 61}, choices=False)
    )
    events.append(b"data: [DONE]\n\n")
    return events


def make_handler(api_key: str | None):
    prefix, suffix = completion_parts()
    events = stream_events()
    expected_auth = f"Bearer {api_key}" if api_key else None
    json_headers = {"Content-Type": "application/json", "openai-processing-ms": "1"}
    sse_headers = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
    unauthorized = orjson.dumps(
        {
            "error": {
                "message": "Incorrect API key provided.",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
        }
    )
    not_found = orjson.dumps(
        {"error": {"message": "Unknown route.", "type": "invalid_request_error", "param": None, "code": None}}
    )

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        if request.method != "POST" or request.path != PATH:
            return web.Response(status=404, body=not_found, headers=json_headers)
        if expected_auth is not None and request.headers.get("Authorization") != expected_auth:
            return web.Response(status=401, body=unauthorized, headers=json_headers)
        body = orjson.loads(await request.read())
        if not body.get("stream"):
            model = orjson.dumps(body.get("model", ""))
            return web.Response(body=prefix + model + suffix, headers=json_headers)
        response = web.StreamResponse(headers=sse_headers)
        await response.prepare(request)
        for event in events:
            await response.write(event)
        await response.write_eof()
        return response

    return handle


async def serve(port: int, api_key: str | None) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = web.Server(make_handler(api_key), access_log=None)
    listener = await loop.create_server(server, "127.0.0.1", port, backlog=1024)
    print(f"upstream listening on http://127.0.0.1:{port}", flush=True)
    try:
        await stop.wait()
    finally:
        listener.close()
        await server.shutdown(1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY'")
    args = parser.parse_args()
    run(serve(args.port, args.api_key))


def run(coro) -> None:
    """asyncio.run under uvloop when it is installed (as ``sluicegate serve`` does)."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


if __name__ == "__main__":
    main()
