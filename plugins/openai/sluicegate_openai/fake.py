"""A fake OpenAI vendor for tests: the VendorScript the adapter contract plays against ``type = "openai"``,
and OpenAI's own Responses API (``/v1/responses``, stream and not) for the native pass-through."""

from __future__ import annotations

import itertools
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


def _named(data: dict) -> bytes:
    """A Responses stream event as OpenAI writes it: named after its type."""
    return b"event: " + data["type"].encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


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


# --- the Responses API, as OpenAI serves it ------------------------------------------------


class ResponsesScript:
    """OpenAI's ``/v1/responses``: each answer a fresh ``resp_…`` id; streamed (``stream: true``
    in the request) as OpenAI's named events with ``sequence_number`` from 0, or one object."""

    path = "/v1/responses"
    upstream_model = "gpt-4.1-mini"

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):032x}"

    def response(self, request: dict[str, Any], output: list[dict[str, Any]], usage: Usage,
                 status: str = "completed", response_id: str | None = None) -> dict[str, Any]:
        return {
            "id": response_id or self._id("resp"),
            "object": "response",
            "created_at": CREATED,
            "status": status,
            "background": False,
            "error": None,
            "incomplete_details": None,
            "instructions": request.get("instructions"),
            "max_output_tokens": request.get("max_output_tokens"),
            "max_tool_calls": None,
            "model": request.get("model", self.upstream_model),
            "output": output,
            "parallel_tool_calls": True,
            "previous_response_id": request.get("previous_response_id"),
            "reasoning": {"effort": None, "summary": None},
            "service_tier": "default",
            "store": request.get("store", True),
            "temperature": 1.0,
            "text": {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": request.get("tool_choice", "auto"),
            "tools": request.get("tools", []),
            "top_logprobs": 0,
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": None if status == "in_progress" else {
                "input_tokens": usage.prompt_tokens,
                "input_tokens_details": {"cached_tokens": usage.cached_tokens},
                "output_tokens": usage.completion_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": usage.prompt_tokens + usage.completion_tokens,
            },
            "user": None,
            "metadata": request.get("metadata") or {},
        }

    def answer(self, text: str | None = None, calls: tuple[ToolCall, ...] = (), usage: Usage = Usage()) -> Responder:
        """A message saying ``text`` (streamed word by word) and/or ``calls`` to function tools."""

        async def respond(request: web.Request) -> web.StreamResponse:
            body = await request.json()
            items = self.output_items(text, calls)
            if not body.get("stream"):
                return web.json_response(self.response(body, [item for item, _ in items], usage))
            return await write_sse(request, self.stream_frames(body, items, usage))

        return respond

    def answer_stream_error(self, text: str) -> Responder:
        """A stream that starts ``text`` and then fails as OpenAI reports it: an ``error`` event."""

        async def respond(request: web.Request) -> web.StreamResponse:
            body = await request.json()
            frames = self.stream_frames(body, self.output_items(text, ()), Usage())[:5]
            frames.append(_named({"type": "error", "sequence_number": 5, "error": {
                "type": "server_error", "code": "server_error", "message": "The model had an error.",
                "param": None}}))
            return await write_sse(request, frames)

        return respond

    def summarize(self, request: RecordedRequest) -> RequestSummary:
        """The Responses request read back: message items as turns, calls and their outputs."""
        body = request.json()
        items = body.get("input")
        if isinstance(items, str):
            items = [{"role": "user", "content": items}]
        system = [body["instructions"]] if body.get("instructions") else []
        turns: list[tuple[str, str]] = []
        calls: list[ToolCall] = []
        results: list[tuple[str, str]] = []
        for item in items or ():
            kind = item.get("type", "message")
            if kind == "function_call":
                calls.append(ToolCall(item["call_id"], item["name"], json.loads(item["arguments"])))
            elif kind == "function_call_output":
                results.append((item["call_id"], item["output"]))
            elif kind == "message":
                content = item["content"]
                text = content if isinstance(content, str) else "\n".join(part["text"] for part in content)
                if item["role"] in ("system", "developer"):
                    system.append(text)
                else:
                    turns.append((item["role"], text))
        return RequestSummary(
            model=body["model"],
            stream=bool(body.get("stream")),
            system="\n".join(system) or None,
            turns=turns,
            tools=[tool["name"] for tool in body.get("tools") or () if tool.get("type") == "function"],
            tool_calls=calls,
            tool_results=results,
            max_tokens=body.get("max_output_tokens"),
            credential=request.headers.get("Authorization", "").removeprefix("Bearer ") or None,
        )

    def output_items(self, text: str | None, calls: tuple[ToolCall, ...]) -> list[tuple[dict[str, Any], list[str]]]:
        """(the finished item, the pieces it is streamed in) for each output item."""
        items = []
        if text is not None:
            item = {"id": self._id("msg"), "type": "message", "status": "completed", "role": "assistant",
                    "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]}
            items.append((item, [word + " " for word in text.split(" ")[:-1]] + [text.split(" ")[-1]]))
        for call in calls:
            arguments = json.dumps(call.arguments)
            item = {"id": self._id("fc"), "type": "function_call", "status": "completed",
                    "arguments": arguments, "call_id": call.id, "name": call.name}
            half = len(arguments) // 2
            items.append((item, [arguments[:half], arguments[half:]]))
        return items

    def stream_frames(self, request: dict[str, Any], items: list[tuple[dict[str, Any], list[str]]],
                usage: Usage) -> list[bytes]:
        seq = itertools.count()
        response_id = self._id("resp")
        started = self.response(request, [], usage, "in_progress", response_id)
        frames = [_named({"type": "response.created", "sequence_number": next(seq), "response": started}),
                  _named({"type": "response.in_progress", "sequence_number": next(seq), "response": started})]

        def add(kind: str, **fields: Any) -> None:
            frames.append(_named({"type": kind, "sequence_number": next(seq), **fields}))

        for index, (item, pieces) in enumerate(items):
            at = {"item_id": item["id"], "output_index": index}
            if item["type"] == "message":
                add("response.output_item.added", output_index=index,
                    item={**item, "status": "in_progress", "content": []})
                part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
                add("response.content_part.added", **at, content_index=0, part=part)
                for piece in pieces:
                    add("response.output_text.delta", **at, content_index=0, delta=piece, logprobs=[])
                text = item["content"][0]["text"]
                add("response.output_text.done", **at, content_index=0, text=text, logprobs=[])
                add("response.content_part.done", **at, content_index=0, part=item["content"][0])
            else:
                add("response.output_item.added", output_index=index,
                    item={**item, "status": "in_progress", "arguments": ""})
                for piece in pieces:
                    add("response.function_call_arguments.delta", **at, delta=piece)
                add("response.function_call_arguments.done", **at, arguments=item["arguments"])
            add("response.output_item.done", output_index=index, item=item)
        final = self.response(request, [item for item, _ in items], usage, "completed", response_id)
        add("response.completed", response=final)
        return frames
