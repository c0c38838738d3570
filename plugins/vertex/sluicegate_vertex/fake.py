"""A fake Vertex AI for tests: the VendorScripts the adapter contract plays against ``type = "vertex"``.

Two families under one API, as Vertex serves them:

- ``VertexGeminiScript``: Gemini models at ``.../publishers/google/models/{m}:generateContent``
  and ``:streamGenerateContent?alt=sse``, answering with the Gemini fake's answers (the same
  ``GenerateContentResponse`` objects) and Google's RPC error bodies as Vertex words them.
- ``VertexClaudeScript``: Claude models at ``.../publishers/anthropic/models/{m}:rawPredict``
  and ``:streamRawPredict``, answering with the Anthropic fake's messages and events. Like
  Vertex, it refuses a body that names the model or lacks ``anthropic_version`` and a call
  without a bearer token; errors come in both of Vertex's shapes (its front end's Google
  errors, Claude's own Anthropic errors).

The bearer token each request carried is its ``credential`` (``RequestSummary``); the fake
token endpoint that hands tokens out is ``sluicegate_vertex.fake_oauth``.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from attrs import evolve

from sluicegate.testing.upstream import RecordedRequest
from sluicegate.testing.vendor import ErrorCase, RequestSummary, Responder, ToolCall, Usage, json_answer
from sluicegate_anthropic.fake import REQUEST_ID, AnthropicScript, error_body
from sluicegate_gemini import fake as gemini_fake
from sluicegate_gemini.fake import GeminiScript
from sluicegate_vertex.claude import VERSION
from sluicegate_vertex.fake_oauth import PROJECT

REGION = "us-east5"
API = "/v1"
GEMINI_MODEL = gemini_fake.MODEL
CLAUDE_MODEL = "claude-sonnet-4-5@20250929"


def model_path(publisher: str, model: str, method: str, *, project: str = PROJECT, region: str = REGION) -> str:
    return f"{API}/projects/{project}/locations/{region}/publishers/{publisher}/models/{model}:{method}"


def bearer(request: RecordedRequest | web.Request) -> str | None:
    scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
    return token if scheme == "Bearer" and token else None


def google_error(code: int, status: str, message: str, reason: str | None = None) -> Responder:
    details = None
    if reason is not None:
        details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
                    "domain": "googleapis.com", "metadata": {"service": "aiplatform.googleapis.com"}}]
    return gemini_fake.error_responder(code, status, message, details)


def claude_error(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> Responder:
    return json_answer(error_body(kind, message), status=status, headers={"request-id": REQUEST_ID, **(headers or {})})


UNAUTHENTICATED = google_error(
    401, "UNAUTHENTICATED",
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid "
    "authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
    "ACCESS_TOKEN_TYPE_UNSUPPORTED",
)


def _denied(model: str, publisher: str) -> Responder:
    return google_error(
        403, "PERMISSION_DENIED",
        f"Permission 'aiplatform.endpoints.predict' denied on resource '//aiplatform.googleapis.com/projects/{PROJECT}"
        f"/locations/{REGION}/publishers/{publisher}/models/{model}' (or it may not exist).",
        "IAM_PERMISSION_DENIED",
    )


def _unknown_model(model: str, publisher: str) -> Responder:
    return google_error(
        404, "NOT_FOUND",
        f"Publisher Model `projects/{PROJECT}/locations/{REGION}/publishers/{publisher}/models/{model}` was not "
        "found or your project does not have access to it.",
    )


class VertexGeminiScript(GeminiScript):
    """Gemini on Vertex: the Gemini fake's answers at Vertex's paths, with a bearer token."""

    provider_type = "vertex"
    upstream_model = GEMINI_MODEL

    def base_url(self, upstream_url: str) -> str:
        return upstream_url + API

    def chat_path(self, stream: bool, *, images: bool = False) -> str:
        return model_path("google", self.upstream_model, "streamGenerateContent" if stream else "generateContent")

    def provider_options(self) -> str:
        return f'region = "{REGION}"\nproject = "{PROJECT}"'

    def error_cases(self) -> list[ErrorCase]:
        return [
            ErrorCase("bad argument", google_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument."),
                      400, message="invalid argument"),
            ErrorCase("context", google_error(
                400, "INVALID_ARGUMENT",
                "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."),
                400, message="exceeds the maximum number of tokens"),
            ErrorCase("bad token", UNAUTHENTICATED, 401, message="invalid authentication credentials"),
            ErrorCase("no access", _denied(self.upstream_model, "google"), 403, message="denied"),
            ErrorCase("billing disabled", google_error(
                403, "PERMISSION_DENIED",
                f"This API method requires billing to be enabled. Please enable billing on project #{PROJECT}.",
                "BILLING_DISABLED"), 403, message="billing"),
            ErrorCase("no model", _unknown_model("gemini-9", "google"), 404, message="was not found"),
            ErrorCase("quota", google_error(
                429, "RESOURCE_EXHAUSTED",
                "Resource exhausted. Please try again later. Please refer to "
                "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details."),
                429, message="Resource exhausted"),
            ErrorCase("server error", google_error(500, "INTERNAL", "Internal error encountered."), 500),
            ErrorCase("unavailable", google_error(503, "UNAVAILABLE", "The service is currently unavailable."), 503),
            ErrorCase("deadline", google_error(504, "DEADLINE_EXCEEDED", "Deadline expired before operation could "
                                                                          "complete."), 504),
        ]

    def summarize(self, request: RecordedRequest) -> RequestSummary:
        # The Gemini fake reads the body; the model and the credential are where Vertex has them.
        prefix = f"{API}/projects/{PROJECT}/locations/{REGION}/publishers/google/models/"
        model, _, method = request.path.removeprefix(prefix).partition(":")
        summary = super().summarize(request)
        summary.model = model
        summary.stream = method == "streamGenerateContent" and request.query.get("alt") == "sse"
        summary.credential = bearer(request)
        return summary


class VertexClaudeScript(AnthropicScript):
    """Claude on Vertex: the Anthropic fake's answers at Vertex's paths, checking Vertex's body rules."""

    provider_type = "vertex"
    upstream_model = CLAUDE_MODEL

    def base_url(self, upstream_url: str) -> str:
        return upstream_url + API

    def chat_path(self, stream: bool, *, images: bool = False) -> str:
        return model_path("anthropic", self.upstream_model, "streamRawPredict" if stream else "rawPredict")

    def provider_options(self) -> str:
        return f'region = "{REGION}"\nproject = "{PROJECT}"'

    # Every answer is given only to a request Vertex would take.

    def answer_text(self, text: str, usage: Usage) -> Responder:
        return vertex_checked(super().answer_text(text, usage))

    def answer_stream(self, pieces: list[str], usage: Usage, *, delay: float = 0) -> Responder:
        return vertex_checked(super().answer_stream(pieces, usage, delay=delay))

    def answer_tool_call(self, call: ToolCall, usage: Usage, *, stream: bool) -> Responder:
        return vertex_checked(super().answer_tool_call(call, usage, stream=stream))

    def answer_stream_error(self, pieces: list[str]) -> Responder:
        return vertex_checked(super().answer_stream_error(pieces))

    def answer_count(self, input_tokens: int) -> Responder:
        return vertex_checked(json_answer({"input_tokens": input_tokens}), count=True)

    def error_cases(self) -> list[ErrorCase]:
        return [
            ErrorCase("bad request", claude_error(400, "invalid_request_error", "max_tokens: Field required"), 400,
                      message="max_tokens: Field required"),
            ErrorCase("context", claude_error(400, "invalid_request_error",
                                              "prompt is too long: 210000 tokens > 200000 maximum"), 400,
                      message="prompt is too long"),
            ErrorCase("bad token", UNAUTHENTICATED, 401, message="invalid authentication credentials"),
            ErrorCase("no access", _denied(self.upstream_model, "anthropic"), 403, message="denied"),
            ErrorCase("no model", _unknown_model("claude-9@20990101", "anthropic"), 404, message="was not found"),
            ErrorCase("quota", google_error(
                429, "RESOURCE_EXHAUSTED",
                "Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model with base "
                "model: anthropic-claude-sonnet-4-5. Please submit a quota increase request."),
                429, message="Quota exceeded"),
            ErrorCase("rate limited", claude_error(429, "rate_limit_error",
                                                   "Number of request tokens has exceeded your per-minute rate limit",
                                                   {"retry-after": "7"}),
                      429, retry_after="7", message="per-minute rate limit"),
            ErrorCase("server error", claude_error(500, "api_error", "Internal server error"), 500),
            ErrorCase("overloaded", claude_error(529, "overloaded_error", "Overloaded"), 503, message="Overloaded"),
        ]

    def summarize(self, request: RecordedRequest) -> RequestSummary:
        # The Anthropic fake reads a body that names its model; Vertex's names it in the path.
        prefix = f"{API}/projects/{PROJECT}/locations/{REGION}/publishers/anthropic/models/"
        model, _, method = request.path.removeprefix(prefix).partition(":")
        body = request.json()
        summary = super().summarize(evolve(request, body=orjson.dumps({**body, "model": model})))
        summary.stream = method == "streamRawPredict" and body.get("stream") is True
        summary.credential = bearer(request)
        return summary


def vertex_refusal(request: web.Request, body: Any, *, count: bool = False) -> str | None:
    """What Vertex would refuse in a Claude call, or None."""
    if bearer(request) is None:
        return "no bearer token"
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    if body.get("anthropic_version") != VERSION:
        return f"anthropic_version: must be {VERSION}"
    if count and "model" not in body:
        return "model: Field required"
    if not count and "model" in body:
        return "model: Extra inputs are not permitted"
    return None


def vertex_checked(responder: Responder, *, count: bool = False) -> Responder:
    """``responder``, for a request Vertex would take; a 400 as Vertex words it otherwise."""

    async def respond(request: web.Request) -> web.StreamResponse:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            body = None
        problem = vertex_refusal(request, body, count=count)
        if problem is not None:
            return web.json_response(error_body("invalid_request_error", problem), status=400)
        return await responder(request)

    return respond
