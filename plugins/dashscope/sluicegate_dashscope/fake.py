"""A fake DashScope for tests: the VendorScript the adapter contract plays against ``type = "dashscope"``."""

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

API = "/api/v1"
TEXT_PATH = API + "/services/aigc/text-generation/generation"
MULTIMODAL_PATH = API + "/services/aigc/multimodal-generation/generation"
REQUEST_ID = "6f2b3c1e-9d4a-9b7e-8c5f-2a1d0e9f8b7c"
# DashScope's own content type on streams.
SSE_HEADERS = {"Content-Type": "text/event-stream;charset=UTF-8"}


def result_frame(number: int, data: dict[str, Any], event: str = "result", status: int = 200) -> bytes:
    """One event as DashScope frames it: id, event name, the status as a comment, then data."""
    return b"id:%d\nevent:%s\n:HTTP_STATUS/%d\ndata:%s\n\n" % (number, event.encode(), status, orjson.dumps(data))


def usage_of(usage: Usage, output_tokens: int | None = None) -> dict[str, Any]:
    output = usage.completion_tokens if output_tokens is None else output_tokens
    data: dict[str, Any] = {
        "input_tokens": usage.prompt_tokens,
        "output_tokens": output,
        "total_tokens": usage.prompt_tokens + output,
    }
    if usage.cached_tokens:
        data["prompt_tokens_details"] = {"cached_tokens": usage.cached_tokens}
    return data


def result(message: dict[str, Any], finish: str, usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "output": {"choices": [{"message": {"role": "assistant", **message}, "finish_reason": finish}]},
        "usage": usage,
        "request_id": REQUEST_ID,
    }


def error_body(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message, "request_id": REQUEST_ID}


def error_responder(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Responder:
    """DashScope's error answer: JSON, or for a stream request the same JSON as an SSE error event."""
    body = error_body(code, message)
    as_json = json_answer(body, status=status, headers=headers)
    frame = result_frame(1, body, event="error", status=status)

    async def respond(request: web.Request) -> web.StreamResponse:
        if request.headers.get("X-DashScope-SSE") != "enable":
            return await as_json(request)
        return web.Response(body=frame, status=status, headers={**SSE_HEADERS, **(headers or {})})

    return respond


class DashScopeScript(VendorScript):
    provider_type = "dashscope"
    upstream_model = "qwen-plus"

    def base_url(self, upstream_url: str) -> str:
        return upstream_url + API

    def chat_path(self, stream: bool, *, images: bool = False) -> str:
        return MULTIMODAL_PATH if images else TEXT_PATH

    def answer_text(self, text: str, usage: Usage) -> Responder:
        body = result({"content": text}, "stop", usage_of(usage))

        async def respond(request: web.Request) -> web.StreamResponse:
            # The multimodal endpoint answers content as a list of parts.
            if request.path == MULTIMODAL_PATH:
                return await json_answer(result({"content": [{"text": text}]}, "stop", usage_of(usage)))(request)
            return await json_answer(body)(request)

        return respond

    def answer_stream(self, pieces: list[str], usage: Usage, *, delay: float = 0) -> Responder:
        # Incremental output: each event carries only the new text, usage so far, and the
        # string "null" as finish reason until the last event.
        frames = [
            result_frame(number, result({"content": piece}, "null", usage_of(usage, number)))
            for number, piece in enumerate(pieces, 1)
        ]
        frames.append(result_frame(len(pieces) + 1, result({"content": ""}, "stop", usage_of(usage))))

        async def respond(request: web.Request) -> web.StreamResponse:
            return await write_sse(request, frames, delay=delay, headers=SSE_HEADERS)

        return respond

    def answer_tool_call(self, call: ToolCall, usage: Usage, *, stream: bool) -> Responder:
        arguments = json.dumps(call.arguments, ensure_ascii=False)
        if not stream:
            message = {
                "content": "",
                "tool_calls": [
                    {"function": {"name": call.name, "arguments": arguments}, "index": 0, "id": call.id,
                     "type": "function"}
                ],
            }
            return json_answer(result(message, "tool_calls", usage_of(usage)))
        half = len(arguments) // 2
        deltas = [
            {"index": 0, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": arguments[:half]}},
            {"index": 0, "id": "", "type": "function", "function": {"arguments": arguments[half:]}},
        ]
        frames = [
            result_frame(number, result({"content": "", "tool_calls": [delta]}, "null", usage_of(usage, number)))
            for number, delta in enumerate(deltas, 1)
        ]
        last = {"content": "", "tool_calls": [{"index": 0, "id": "", "type": "function", "function": {}}]}
        frames.append(result_frame(len(frames) + 1, result(last, "tool_calls", usage_of(usage))))

        async def respond(request: web.Request) -> web.StreamResponse:
            return await write_sse(request, frames, headers=SSE_HEADERS)

        return respond

    def answer_stream_error(self, pieces: list[str]) -> Responder:
        # Output moderation stops a stream that has already begun: HTTP 200, then an error event.
        frames = [
            result_frame(number, result({"content": piece}, "null", usage_of(Usage(), number)))
            for number, piece in enumerate(pieces, 1)
        ]
        frames.append(
            result_frame(
                len(frames) + 1,
                error_body("DataInspectionFailed", "Output data may contain inappropriate content."),
                event="error",
                status=400,
            )
        )

        async def respond(request: web.Request) -> web.StreamResponse:
            return await write_sse(request, frames, headers=SSE_HEADERS)

        return respond

    def answer_loose_error(self, code: str, message: str, *, stream: bool, envelope: bool = True) -> Responder:
        """A 200 carrying an error as some DashScope front ends send it: OpenAI's ``{"error": {...}}``
        envelope (``envelope``) or the native fields beside ``"output": null``, pretty-printed, or
        (``stream``) with spaces in a ``result`` event, the stream left unfinished."""
        if envelope:
            body: dict[str, Any] = {"error": {"code": code, "message": message}, "request_id": REQUEST_ID}
        else:
            body = {**error_body(code, message), "output": None}
        if not stream:
            return json_answer(json.dumps(body, indent=2).encode())
        frame = b"id:1\nevent:result\n:HTTP_STATUS/200\ndata:{ " + json.dumps(body)[1:].encode() + b"\n\n"

        async def respond(request: web.Request) -> web.StreamResponse:
            return await write_sse(request, [frame], headers=SSE_HEADERS)

        return respond

    def error_cases(self) -> list[ErrorCase]:
        return [
            ErrorCase("bad parameter", error_responder(400, "InvalidParameter", "Range of max_tokens should be [1, 8192]"),
                      400, message="Range of max_tokens"),
            ErrorCase("moderation", error_responder(400, "DataInspectionFailed",
                                                    "Input data may contain inappropriate content."), 400,
                      message="inappropriate content"),
            ErrorCase("arrears", error_responder(400, "Arrearage",
                                                 "Access denied, please make sure your account is in good standing."),
                      400, message="good standing"),
            ErrorCase("bad key", error_responder(401, "InvalidApiKey", "Invalid API-key provided."), 401,
                      message="Invalid API-key"),
            ErrorCase("no access", error_responder(403, "AccessDenied", "Access denied."), 403),
            ErrorCase("no model", error_responder(404, "ModelNotFound",
                                                  "The model `qwen-plux` does not exist or you do not have access to it."),
                      404, message="does not exist"),
            ErrorCase("rate limited", error_responder(429, "Throttling.RateQuota",
                                                      "Requests rate limit exceeded, please try again later.",
                                                      {"retry-after": "7"}), 429, retry_after="7"),
            ErrorCase("token quota", error_responder(429, "Throttling.AllocationQuota",
                                                     "Allocated quota exceeded, please increase your quota limit."),
                      429, message="Allocated quota exceeded"),
            ErrorCase("server error", error_responder(500, "InternalError",
                                                      "An internal error has occured, please try again later or "
                                                      "contact service support."), 500),
            ErrorCase("unavailable", error_responder(503, "ModelUnavailable",
                                                     "Model is unavailable, please try again later."), 503),
        ]

    def summarize(self, request: RecordedRequest) -> RequestSummary:
        body = request.json()
        parameters = body.get("parameters") or {}
        system: list[str] = []
        turns: list[tuple[str, str]] = []
        calls: list[ToolCall] = []
        results: list[tuple[str, str]] = []
        images: list[str] = []
        for message in body["input"]["messages"]:
            role, content = message["role"], message.get("content")
            if isinstance(content, list):
                images += [part["image"] for part in content if "image" in part]
            text = _text(content)
            if role == "system":
                system.append(text)
            elif role == "tool":
                results.append((message["tool_call_id"], text))
            else:
                if text:
                    turns.append((role, text))
                for call in message.get("tool_calls") or ():
                    function = call["function"]
                    calls.append(ToolCall(call["id"], function["name"], json.loads(function["arguments"])))
        authorization = request.headers.get("Authorization", "")
        return RequestSummary(
            model=body["model"],
            stream=request.headers.get("X-DashScope-SSE") == "enable",
            system="\n".join(system) or None,
            turns=turns,
            tools=[tool["function"]["name"] for tool in parameters.get("tools") or ()],
            tool_calls=calls,
            tool_results=results,
            max_tokens=parameters.get("max_tokens"),
            credential=authorization.removeprefix("Bearer ") or None,
            images=images,
        )


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "\n".join(part["text"] for part in content if "text" in part)
