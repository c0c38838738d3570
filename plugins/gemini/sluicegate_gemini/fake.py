"""A fake Gemini API for tests: the VendorScript the adapter contract plays against ``type = "gemini"``.

It answers as ``generativelanguage.googleapis.com/v1beta`` does: ``GenerateContentResponse``
JSON, the same objects one per SSE event (``alt=sse``, events ended with CRLF pairs as Google
sends them), and Google's RPC error bodies.
"""

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

API = "/v1beta"
MODEL = "gemini-2.5-flash"
RESPONSE_ID = "gHLsaKbZLqmSz7IPm4Ci8Q4"


def generate_path(model: str = MODEL) -> str:
    return f"{API}/models/{model}:generateContent"


def stream_path(model: str = MODEL) -> str:
    return f"{API}/models/{model}:streamGenerateContent"


def sse_frame(data: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\r\n\r\n"


def usage_metadata(usage: Usage, candidates: int | None = None) -> dict[str, Any]:
    output = usage.completion_tokens if candidates is None else candidates
    data: dict[str, Any] = {
        "promptTokenCount": usage.prompt_tokens,
        "candidatesTokenCount": output,
        "totalTokenCount": usage.prompt_tokens + output,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": usage.prompt_tokens}],
    }
    if usage.cached_tokens:
        data["cachedContentTokenCount"] = usage.cached_tokens
    return data


def response(parts: list[dict[str, Any]], finish: str | None, usage: dict[str, Any]) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": MODEL, "responseId": RESPONSE_ID}


def error_body(code: int, status: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return {"error": error}


def error_responder(code: int, status: str, message: str, details: list[dict[str, Any]] | None = None) -> Responder:
    return json_answer(error_body(code, status, message, details), status=code)


BAD_KEY = error_responder(
    400,
    "INVALID_ARGUMENT",
    "API key not valid. Please pass a valid API key.",
    [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
            "metadata": {"service": "generativelanguage.googleapis.com"},
        }
    ],
)

RATE_LIMITED = error_responder(
    429,
    "RESOURCE_EXHAUSTED",
    "You exceeded your current quota, please check your plan and billing details.",
    [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                    "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                }
            ],
        },
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "29.5s"},
    ],
)


class GeminiScript(VendorScript):
    provider_type = "gemini"
    upstream_model = MODEL

    def base_url(self, upstream_url: str) -> str:
        return upstream_url + API

    def chat_path(self, stream: bool, *, images: bool = False) -> str:
        return stream_path() if stream else generate_path()

    def answer_text(self, text: str, usage: Usage) -> Responder:
        return json_answer(response([{"text": text}], "STOP", usage_metadata(usage)))

    def answer_stream(self, pieces: list[str], usage: Usage, *, delay: float = 0) -> Responder:
        # Every chunk carries the counts so far; the last has the finish reason and the totals.
        frames = [
            sse_frame(response([{"text": piece}], None, usage_metadata(usage, number)))
            for number, piece in enumerate(pieces[:-1], 1)
        ]
        frames.append(sse_frame(response([{"text": pieces[-1]}], "STOP", usage_metadata(usage))))

        async def respond(request: web.Request) -> web.StreamResponse:
            return await write_sse(request, frames, delay=delay)

        return respond

    def answer_tool_call(self, call: ToolCall, usage: Usage, *, stream: bool) -> Responder:
        part = {"functionCall": {"id": call.id, "name": call.name, "args": call.arguments}}
        body = response([part], "STOP", usage_metadata(usage))
        if not stream:
            return json_answer(body)
        frames = [sse_frame(body)]

        async def respond(request: web.Request) -> web.StreamResponse:
            return await write_sse(request, frames)

        return respond

    def answer_stream_error(self, pieces: list[str]) -> Responder:
        frames = [sse_frame(response([{"text": piece}], None, usage_metadata(Usage()))) for piece in pieces]
        frames.append(sse_frame(error_body(500, "INTERNAL", "An internal error has occurred.")))

        async def respond(request: web.Request) -> web.StreamResponse:
            return await write_sse(request, frames)

        return respond

    def error_cases(self) -> list[ErrorCase]:
        return [
            ErrorCase("bad argument", error_responder(
                400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents: contents is not specified"),
                400, message="contents is not specified"),
            ErrorCase("bad key", BAD_KEY, 401, message="API key not valid"),
            ErrorCase("no access", error_responder(
                403, "PERMISSION_DENIED", "The caller does not have permission"), 403),
            ErrorCase("no model", error_responder(
                404, "NOT_FOUND", "models/gemini-9 is not found for API version v1beta"), 404, message="not found"),
            ErrorCase("rate limited", RATE_LIMITED, 429, retry_after="30"),
            ErrorCase("server error", error_responder(500, "INTERNAL", "An internal error has occurred."), 500),
            ErrorCase("unavailable", error_responder(503, "UNAVAILABLE", "The model is overloaded."), 503),
        ]

    def summarize(self, request: RecordedRequest) -> RequestSummary:
        body = request.json()
        config = body.get("generationConfig") or {}
        system = [part["text"] for part in (body.get("systemInstruction") or {}).get("parts") or ()]
        turns: list[tuple[str, str]] = []
        calls: list[ToolCall] = []
        results: list[tuple[str, str]] = []
        images: list[str] = []
        for content in body["contents"]:
            texts = []
            for part in content["parts"]:
                if "text" in part:
                    texts.append(part["text"])
                elif "inlineData" in part:
                    images.append(f"data:{part['inlineData']['mimeType']};base64,{part['inlineData']['data']}")
                elif "fileData" in part:
                    images.append(part["fileData"]["fileUri"])
                elif "functionCall" in part:
                    call = part["functionCall"]
                    calls.append(ToolCall(call["id"], call["name"], call["args"]))
                elif "functionResponse" in part:
                    answer = part["functionResponse"]
                    result = answer["response"]
                    results.append((answer["id"], result["result"] if set(result) == {"result"} else json.dumps(result)))
            if texts:
                turns.append(("assistant" if content["role"] == "model" else "user", "\n".join(texts)))
        return RequestSummary(
            model=request.path.removeprefix(API + "/models/").partition(":")[0],
            stream=request.path.endswith(":streamGenerateContent") and request.query.get("alt") == "sse",
            system="\n".join(system) or None,
            turns=turns,
            tools=[
                declaration["name"]
                for tool in body.get("tools") or ()
                for declaration in tool.get("functionDeclarations") or ()
            ],
            tool_calls=calls,
            tool_results=results,
            max_tokens=config.get("maxOutputTokens"),
            credential=request.headers.get("x-goog-api-key") or request.headers.get("X-Goog-Api-Key"),
            images=images,
        )
