"""A fake Anthropic for tests: the VendorScript the adapter contract plays against ``type = "anthropic"``."""

from __future__ import annotations

import json
from typing import Any

import orjson
from aiohttp import web

from sluicegate.testing.upstream import RecordedRequest
from sluicegate.testing.vendor import (
    ErrorCase,
    RequestSummary,
    Responder,
    ToolCall,
    Usage,
    VendorScript,
    json_answer,
    write_sse,
)

MESSAGE_ID = "msg_01XFDUDYJgAACzvnptvVoYEL"
REQUEST_ID = "req_011CSHoEeqs5C35K2UUqR7Fy"
# Anthropic's streaming responses carry these; the relay must not depend on them.
SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache",
               "request-id": REQUEST_ID}


def usage_of(usage: Usage) -> dict[str, Any]:
    """Anthropic counts cache reads and writes apart from ``input_tokens``; writes by lifetime in
    ``cache_creation`` (sent here only when there are some, as older answers had none)."""
    answer = {
        "input_tokens": usage.prompt_tokens - usage.cached_tokens - usage.cache_written,
        "cache_creation_input_tokens": usage.cache_written,
        "cache_read_input_tokens": usage.cached_tokens,
        "output_tokens": usage.completion_tokens,
        "service_tier": "standard",
    }
    if usage.cache_written:
        answer["cache_creation"] = {"ephemeral_5m_input_tokens": usage.cache_written - usage.cache_written_1h,
                                    "ephemeral_1h_input_tokens": usage.cache_written_1h}
    return answer


def frame(event: str, data: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def error_body(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": REQUEST_ID}


class AnthropicScript(VendorScript):
    provider_type = "anthropic"
    upstream_model = "claude-sonnet-4-5-20250929"

    def base_url(self, upstream_url: str) -> str:
        return upstream_url + "/v1"

    def chat_path(self, stream: bool, *, images: bool = False) -> str:
        return "/v1/messages"

    # -- answers ----------------------------------------------------------------------------

    def message(self, content: list[dict[str, Any]], stop_reason: str, usage: Usage) -> dict[str, Any]:
        return {
            "id": MESSAGE_ID,
            "type": "message",
            "role": "assistant",
            "model": self.upstream_model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": usage_of(usage),
        }

    def stream_frames(self, blocks: list[tuple[dict[str, Any], list[dict[str, Any]]]], stop_reason: str | None,
                      usage: Usage) -> list[bytes]:
        """The events of a streamed message: each block is (its start, its deltas); with no stop
        reason the stream stops after the blocks (for a caller to add its own ending)."""
        start_usage = {**usage_of(usage), "output_tokens": 1}
        frames = [frame("message_start", {"type": "message_start", "message": {
            **self.message([], stop_reason, usage), "stop_reason": None, "usage": start_usage}})]
        for index, (start, deltas) in enumerate(blocks):
            frames.append(frame("content_block_start", {"type": "content_block_start", "index": index,
                                                        "content_block": start}))
            if index == 0:
                frames.append(frame("ping", {"type": "ping"}))
            frames += [frame("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
                       for delta in deltas]
            if stop_reason is not None:
                frames.append(frame("content_block_stop", {"type": "content_block_stop", "index": index}))
        if stop_reason is not None:
            frames.append(frame("message_delta", {"type": "message_delta",
                                                  "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                                                  "usage": {"output_tokens": usage.completion_tokens}}))
            frames.append(frame("message_stop", {"type": "message_stop"}))
        return frames

    def answer_text(self, text: str, usage: Usage) -> Responder:
        return json_answer(self.message([{"type": "text", "text": text}], "end_turn", usage),
                           headers={"request-id": REQUEST_ID})

    def answer_stream(self, pieces: list[str], usage: Usage, *, delay: float = 0) -> Responder:
        text = ({"type": "text", "text": ""}, [{"type": "text_delta", "text": piece} for piece in pieces])
        frames = self.stream_frames([text], "end_turn", usage)

        async def respond(request: web.Request) -> web.StreamResponse:
            return await write_sse(request, frames, delay=delay, headers=SSE_HEADERS)

        return respond

    def answer_tool_call(self, call: ToolCall, usage: Usage, *, stream: bool) -> Responder:
        # Claude usually says a few words before it calls a tool: the call is content block 1.
        preface = "I'll look that up."
        if not stream:
            content = [{"type": "text", "text": preface},
                       {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}]
            return json_answer(self.message(content, "tool_use", usage), headers={"request-id": REQUEST_ID})
        arguments = orjson.dumps(call.arguments).decode()
        half = len(arguments) // 2
        blocks = [
            ({"type": "text", "text": ""}, [{"type": "text_delta", "text": preface}]),
            ({"type": "tool_use", "id": call.id, "name": call.name, "input": {}},
             [{"type": "input_json_delta", "partial_json": part} for part in ("", arguments[:half], arguments[half:])]),
        ]
        frames = self.stream_frames(blocks, "tool_use", usage)

        async def respond(request: web.Request) -> web.StreamResponse:
            return await write_sse(request, frames, headers=SSE_HEADERS)

        return respond

    def answer_stream_error(self, pieces: list[str]) -> Responder:
        text = ({"type": "text", "text": ""}, [{"type": "text_delta", "text": piece} for piece in pieces])
        frames = self.stream_frames([text], None, Usage())
        frames.append(frame("error", error_body("overloaded_error", "Overloaded")))

        async def respond(request: web.Request) -> web.StreamResponse:
            return await write_sse(request, frames, headers=SSE_HEADERS)

        return respond

    def answer_loose_error(self, kind: str, message: str, *, stream: bool, pieces: tuple[str, ...] = ()) -> Responder:
        """A 200 carrying an error as some Anthropic-compatible servers send it: the error object
        pretty-printed as the whole answer, or (``stream``) the ``pieces`` and then the error
        as ``data: { "type": "error", ... }`` with no ``event:`` line, the stream left unfinished."""
        body = error_body(kind, message)
        if not stream:
            return json_answer(orjson.dumps(body, option=orjson.OPT_INDENT_2), headers={"request-id": REQUEST_ID})
        text = ({"type": "text", "text": ""}, [{"type": "text_delta", "text": piece} for piece in pieces])
        frames = self.stream_frames([text], None, Usage()) if pieces else []
        frames.append(b"data: { " + json.dumps(body)[1:].encode() + b"\n\n")

        async def respond(request: web.Request) -> web.StreamResponse:
            return await write_sse(request, frames, headers=SSE_HEADERS)

        return respond

    # -- errors -----------------------------------------------------------------------------

    def error_cases(self) -> list[ErrorCase]:
        def error(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> Responder:
            return json_answer(error_body(kind, message), status=status,
                               headers={"request-id": REQUEST_ID, **(headers or {})})

        return [
            ErrorCase("bad request", error(400, "invalid_request_error", "max_tokens: Field required"), 400,
                      message="max_tokens: Field required"),
            ErrorCase("bad key", error(401, "authentication_error", "invalid x-api-key"), 401,
                      message="invalid x-api-key"),
            ErrorCase("no access", error(403, "permission_error",
                                         "Your API key does not have permission to use the specified resource."),
                      403, message="does not have permission"),
            ErrorCase("no model", error(404, "not_found_error", "model: claude-9"), 404, message="model: claude-9"),
            ErrorCase("too large", error(413, "request_too_large",
                                         "Request exceeds the maximum allowed number of bytes."), 413),
            ErrorCase("rate limited", error(429, "rate_limit_error",
                                            "Number of request tokens has exceeded your per-minute rate limit",
                                            {"retry-after": "7", "anthropic-ratelimit-requests-remaining": "0"}),
                      429, retry_after="7", message="per-minute rate limit"),
            ErrorCase("server error", error(500, "api_error", "Internal server error"), 500),
            ErrorCase("overloaded", error(529, "overloaded_error", "Overloaded"), 503, message="Overloaded"),
        ]

    # -- requests ---------------------------------------------------------------------------

    def summarize(self, request: RecordedRequest) -> RequestSummary:
        body = request.json()
        turns: list[tuple[str, str]] = []
        calls: list[ToolCall] = []
        results: list[tuple[str, str]] = []
        images: list[str] = []
        for message in body["messages"]:
            content = message["content"]
            blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
            texts = []
            for block in blocks:
                kind = block["type"]
                if kind == "text":
                    texts.append(block["text"])
                elif kind == "image":
                    source = block["source"]
                    if source["type"] == "url":
                        images.append(source["url"])
                    else:
                        images.append(f"data:{source['media_type']};base64,{source['data']}")
                elif kind == "tool_use":
                    calls.append(ToolCall(block["id"], block["name"], block["input"]))
                elif kind == "tool_result":
                    results.append((block["tool_use_id"], _text(block.get("content"))))
            if texts:
                turns.append((message["role"], "\n".join(texts)))
        headers = {name.lower(): value for name, value in request.headers.items()}
        return RequestSummary(
            model=body["model"],
            stream=body.get("stream") is True,
            system=_text(body.get("system")) or None,
            turns=turns,
            tools=[tool["name"] for tool in body.get("tools") or ()],
            tool_calls=calls,
            tool_results=results,
            max_tokens=body.get("max_tokens"),
            credential=headers.get("x-api-key"),
            images=images,
        )


def _text(content: Any) -> str:
    """A string, or the text of a list of blocks (system prompts and tool results take both)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "\n".join(block["text"] for block in content if block.get("type") == "text")
