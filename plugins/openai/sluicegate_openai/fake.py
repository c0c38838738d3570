"""A fake OpenAI vendor for tests: the VendorScript the adapter contract plays against ``type = "openai"``."""

from __future__ import annotations

import json

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

CREATED = 1730000000


def _usage(usage: Usage) -> dict:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
    }


def _frame(data: dict) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


class OpenAIScript(VendorScript):
    provider_type = "openai"
    upstream_model = "gpt-4o-mini"

    def base_url(self, upstream_url: str) -> str:
        return upstream_url + "/v1"

    def chat_path(self, stream: bool, *, images: bool = False) -> str:
        return "/v1/chat/completions"

    def _completion(self, message: dict, finish: str, usage: Usage) -> dict:
        return {
            "id": "chatcmpl-contract",
            "object": "chat.completion",
            "created": CREATED,
            "model": self.upstream_model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": _usage(usage),
            "system_fingerprint": "fp_contract",
        }

    def _chunk(self, delta: dict, finish: str | None = None) -> dict:
        return {
            "id": "chatcmpl-contract",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": self.upstream_model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    def _stream_frames(self, deltas: list[dict], finish: str, usage: Usage, body: dict) -> list[bytes]:
        frames = [_frame(self._chunk({"role": "assistant", "content": ""}))]
        frames += [_frame(self._chunk(delta)) for delta in deltas]
        frames.append(_frame(self._chunk({}, finish)))
        # OpenAI sends usage only when asked, in a last chunk with no choices.
        if (body.get("stream_options") or {}).get("include_usage"):
            frames.append(_frame({**self._chunk({}), "choices": [], "usage": _usage(usage)}))
        frames.append(b"data: [DONE]\n\n")
        return frames

    def answer_text(self, text: str, usage: Usage) -> Responder:
        return json_answer(self._completion({"role": "assistant", "content": text, "refusal": None}, "stop", usage))

    def answer_stream(self, pieces: list[str], usage: Usage, *, delay: float = 0) -> Responder:
        async def respond(request: web.Request) -> web.StreamResponse:
            body = await request.json()
            deltas = [{"content": piece} for piece in pieces]
            return await write_sse(request, self._stream_frames(deltas, "stop", usage, body), delay=delay)

        return respond

    def answer_tool_call(self, call: ToolCall, usage: Usage, *, stream: bool) -> Responder:
        arguments = json.dumps(call.arguments)
        if not stream:
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": arguments}}
                ],
                "refusal": None,
            }
            return json_answer(self._completion(message, "tool_calls", usage))

        async def respond(request: web.Request) -> web.StreamResponse:
            body = await request.json()
            half = len(arguments) // 2
            deltas = [
                {"tool_calls": [{"index": 0, "id": call.id, "type": "function",
                                 "function": {"name": call.name, "arguments": ""}}]},
                {"tool_calls": [{"index": 0, "function": {"arguments": arguments[:half]}}]},
                {"tool_calls": [{"index": 0, "function": {"arguments": arguments[half:]}}]},
            ]
            return await write_sse(request, self._stream_frames(deltas, "tool_calls", usage, body))

        return respond

    def answer_stream_error(self, pieces: list[str]) -> Responder:
        async def respond(request: web.Request) -> web.StreamResponse:
            frames = [_frame(self._chunk({"role": "assistant", "content": ""}))]
            frames += [_frame(self._chunk({"content": piece})) for piece in pieces]
            frames.append(_frame({"error": {"message": "The server had an error while processing your request.",
                                            "type": "server_error", "param": None, "code": None}}))
            return await write_sse(request, frames)

        return respond

    def answer_loose_error(
        self, message: str, kind: str = "server_error", code: str | None = None, *,
        stream: bool, pieces: tuple[str, ...] = (),
    ) -> Responder:
        """A 200 carrying an error the way some compatible servers write it: pretty-printed JSON,
        or (``stream``) the ``pieces`` then ``data: { "error": ... }`` with spaces and ``[DONE]``
        after it, as vLLM ends a failed stream. Neither starts with the compact ``{"error"``."""
        body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
        if not stream:
            return json_answer(json.dumps(body, indent=2).encode())

        async def respond(request: web.Request) -> web.StreamResponse:
            frames = [_frame(self._chunk({"role": "assistant", "content": ""}))] if pieces else []
            frames += [_frame(self._chunk({"content": piece})) for piece in pieces]
            frames.append(b"data: { " + json.dumps(body)[1:-1].encode() + b" }\n\n")
            frames.append(b"data: [DONE]\n\n")
            return await write_sse(request, frames)

        return respond

    def error_cases(self) -> list[ErrorCase]:
        def error(status: int, message: str, kind: str, code: str | None, headers: dict | None = None) -> Responder:
            body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
            return json_answer(body, status=status, headers=headers)

        return [
            ErrorCase("bad request", error(400, "Invalid value for 'temperature'.", "invalid_request_error",
                                           "invalid_value"), 400, message="Invalid value for 'temperature'"),
            ErrorCase("bad key", error(401, "Incorrect API key provided: sk-vendo***************cdef.",
                                       "invalid_request_error", "invalid_api_key"), 401),
            ErrorCase("no access", error(403, "You are not allowed to sample from this model",
                                         "invalid_request_error", None), 403),
            ErrorCase("no model", error(404, "The model `gpt-9` does not exist", "invalid_request_error",
                                        "model_not_found"), 404, message="does not exist"),
            ErrorCase("rate limited", error(429, "Rate limit reached for requests", "requests",
                                            "rate_limit_exceeded", {"retry-after": "7"}), 429, retry_after="7"),
            ErrorCase("quota", error(429, "You exceeded your current quota", "insufficient_quota",
                                     "insufficient_quota"), 429, message="exceeded your current quota"),
            ErrorCase("server error", error(500, "The server had an error", "server_error", None), 500),
            ErrorCase("overloaded", error(503, "The engine is currently overloaded", "server_error", None), 503),
        ]

    def summarize(self, request: RecordedRequest) -> RequestSummary:
        body = request.json()
        system: list[str] = []
        turns: list[tuple[str, str]] = []
        calls: list[ToolCall] = []
        results: list[tuple[str, str]] = []
        images: list[str] = []
        for message in body["messages"]:
            role, content = message["role"], message.get("content")
            if role in ("system", "developer"):
                system.append(_text(content))
            elif role == "tool":
                results.append((message["tool_call_id"], _text(content)))
            else:
                if isinstance(content, list):
                    images += [part["image_url"]["url"] for part in content if part.get("type") == "image_url"]
                text = _text(content)
                if text:
                    turns.append((role, text))
                for call in message.get("tool_calls") or ():
                    function = call["function"]
                    calls.append(ToolCall(call["id"], function["name"], json.loads(function["arguments"])))
        authorization = request.headers.get("Authorization", "")
        return RequestSummary(
            model=body["model"],
            stream=bool(body.get("stream")),
            system="\n".join(system) or None,
            turns=turns,
            tools=[tool["function"]["name"] for tool in body.get("tools") or ()],
            tool_calls=calls,
            tool_results=results,
            max_tokens=body.get("max_tokens", body.get("max_completion_tokens")),
            credential=authorization.removeprefix("Bearer ") or None,
            images=images,
        )


def _text(content) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "\n".join(part["text"] for part in content if part.get("type") == "text")
