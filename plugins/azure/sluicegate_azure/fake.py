"""A fake Azure OpenAI resource for tests: the VendorScript the adapter contract plays against
``type = "azure"``, in the v1 API's shape or the classic one (``api_version``).

It answers as Azure does: OpenAI's bodies with Azure's additions (``prompt_filter_results``, a
``content_filter_results`` verdict on every choice, a first stream chunk with no choices that
carries the prompt's verdict), Azure's error bodies (a bare status as the code,
``DeploymentNotFound``, the content filter's ``innererror``), and ``retry-after-ms``. Every
responder first checks the call the way Azure would (the path of its mode, ``api-version``
present exactly in classic mode, the ``api-key`` header, or a bearer token with
``auth = "entra"``) and answers Azure's own error when it is wrong; it also refuses a call
carrying both kinds of credential, which the provider never sends.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from attrs import evolve

from sluicegate.testing.upstream import RecordedRequest
from sluicegate.testing.vendor import (
    ErrorCase,
    RequestSummary,
    Responder,
    ToolCall,
    Usage,
    json_answer,
    write_sse,
)
from sluicegate_openai.fake import OpenAIScript, ResponsesScript

API_VERSION = "2024-10-21"
MODEL = "gpt-4o-mini"
#: The model version Azure names in its answers (the deployment's model, not the request's).
MODEL_VERSION = "gpt-4o-mini-2024-07-18"
CREATED = 1730000000

SAFE: dict[str, Any] = {
    "hate": {"filtered": False, "severity": "safe"},
    "self_harm": {"filtered": False, "severity": "safe"},
    "sexual": {"filtered": False, "severity": "safe"},
    "violence": {"filtered": False, "severity": "safe"},
}
PROMPT_FILTER_RESULTS = [
    {"prompt_index": 0, "content_filter_results": {**SAFE, "jailbreak": {"filtered": False, "detected": False}}}
]
VIOLENT: dict[str, Any] = {**SAFE, "violence": {"filtered": True, "severity": "medium"}}

NO_KEY = {"error": {"code": "401", "message": "Access denied due to invalid subscription key or wrong API endpoint. "
                    "Make sure to provide a valid key for an active subscription and use a correct regional API "
                    "endpoint for your resource."}}
NOT_FOUND = {"error": {"code": "404", "message": "Resource not found"}}
DEPLOYMENT_NOT_FOUND = {"error": {"code": "DeploymentNotFound", "message": "The API deployment for this resource "
                                  "does not exist. If you created the deployment within the last 5 minutes, please "
                                  "wait a moment and try again."}}


def content_filter_body(result: dict[str, Any] | None = None) -> dict[str, Any]:
    """The 400 Azure answers when its content filter refuses a prompt."""
    result = result or {**SAFE, "hate": {"filtered": True, "severity": "high"},
                        "jailbreak": {"filtered": False, "detected": False}}
    return {"error": {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management "
                   "policy. Please modify your prompt and retry. To learn more about our content filtering "
                   "policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766",
        "type": None, "param": "prompt", "code": "content_filter", "status": 400,
        "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": result},
    }}


def rate_limited(headers: dict[str, str]) -> Responder:
    body = {"error": {"code": "429", "message": "Requests to the ChatCompletions_Create Operation under Azure "
                      "OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing "
                      "tier. Please retry after 7 seconds."}}
    return json_answer(body, status=429, headers=headers)


def _frame(data: dict) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


class AzureScript(OpenAIScript):
    """Azure OpenAI; ``api_version`` set plays the classic API, ``deployments`` the resource's
    deployment names (model -> deployment; others are named as their model), ``auth``
    "entra" expects a bearer token instead of the ``api-key`` header."""

    provider_type = "azure"
    upstream_model = MODEL

    def __init__(self, *, api_version: str | None = None, deployments: dict[str, str] | None = None,
                 auth: str = "api_key") -> None:
        self.api_version = api_version
        self.deployments = dict(deployments or {})
        self.auth = auth
        self.responses_script = ResponsesScript()

    # -- where calls go ---------------------------------------------------------------------

    def base_url(self, upstream_url: str) -> str:
        return upstream_url  # the resource endpoint

    def provider_options(self) -> str:
        lines = []
        if self.api_version:
            lines.append(f'api_version = "{self.api_version}"')
        if self.deployments:
            pairs = ", ".join(f'"{model}" = "{name}"' for model, name in self.deployments.items())
            lines.append(f"deployments = {{ {pairs} }}")
        return "\n".join(lines)

    def deployment(self, model: str = MODEL) -> str:
        return self.deployments.get(model, model)

    def path(self, operation: str, model: str = MODEL) -> str:
        """Where a call for ``operation`` (``chat/completions``, ``embeddings``, ``completions``,
        ``responses``) to ``model`` arrives."""
        if self.api_version is None:
            return f"/openai/v1/{operation}"
        if operation == "responses":
            return "/openai/responses"
        return f"/openai/deployments/{self.deployment(model)}/{operation}"

    def chat_path(self, stream: bool, *, images: bool = False) -> str:
        return self.path("chat/completions")

    # -- Azure's checks ---------------------------------------------------------------------

    def refusal(self, request: web.Request) -> web.Response | None:
        """Azure's answer to a call it would not serve, or None."""
        version = request.query.get("api-version")
        if self.api_version is not None and version is None:
            return web.json_response(NOT_FOUND, status=404)
        if version != self.api_version:
            return web.json_response({"error": {"code": "BadRequest", "message": "API version not supported"}},
                                     status=400)
        key = request.headers.get("api-key")
        authorization = request.headers.get("Authorization")
        if key is not None and authorization is not None:
            return web.json_response({"error": {"code": "fake_azure", "message": "the fake Azure got both an api-key "
                                                "header and an Authorization header"}}, status=400)
        if self.auth == "entra":
            if not (authorization or "").startswith("Bearer ") or len(authorization or "") <= len("Bearer "):
                return web.json_response(NO_KEY, status=401)
        elif not key:
            return web.json_response(NO_KEY, status=401)
        return None

    def checked(self, responder: Responder) -> Responder:
        async def respond(request: web.Request) -> web.StreamResponse:
            refused = self.refusal(request)
            return refused if refused is not None else await responder(request)

        return respond

    # -- answers ----------------------------------------------------------------------------

    def _completion(self, message: dict, finish: str, usage: Usage) -> dict:
        answer = super()._completion({**message, "annotations": []} if "content" in message else message,
                                     finish, usage)
        answer["model"] = MODEL_VERSION
        answer["prompt_filter_results"] = PROMPT_FILTER_RESULTS
        for choice in answer["choices"]:
            choice["content_filter_results"] = SAFE
        return answer

    def _chunk(self, delta: dict, finish: str | None = None) -> dict:
        chunk = super()._chunk(delta, finish)
        chunk["model"] = MODEL_VERSION
        for choice in chunk["choices"]:
            # The role chunk and the finish chunk carry an empty verdict, text chunks a full one.
            choice["content_filter_results"] = SAFE if delta.get("content") else {}
        return chunk

    def _stream_frames(self, deltas: list[dict], finish: str, usage: Usage, body: dict) -> list[bytes]:
        verdict = {"choices": [], "created": 0, "id": "", "model": "", "object": "",
                   "prompt_filter_results": PROMPT_FILTER_RESULTS}
        return [_frame(verdict), *super()._stream_frames(deltas, finish, usage, body)]

    def answer_text(self, text: str, usage: Usage) -> Responder:
        return self.checked(super().answer_text(text, usage))

    def answer_stream(self, pieces: list[str], usage: Usage, *, delay: float = 0) -> Responder:
        return self.checked(super().answer_stream(pieces, usage, delay=delay))

    def answer_tool_call(self, call: ToolCall, usage: Usage, *, stream: bool) -> Responder:
        return self.checked(super().answer_tool_call(call, usage, stream=stream))

    def answer_stream_error(self, pieces: list[str]) -> Responder:
        return self.checked(super().answer_stream_error(pieces))

    def answer_filtered_stream(self, pieces: list[str]) -> Responder:
        """A stream the content filter cuts off: ``pieces``, then ``finish_reason:
        "content_filter"`` with the verdict that stopped it."""

        async def respond(request: web.Request) -> web.StreamResponse:
            body = await request.json()
            frames = self._stream_frames([{"content": piece} for piece in pieces], "content_filter", Usage(), body)
            stop = self._chunk({}, "content_filter")
            stop["choices"][0]["content_filter_results"] = VIOLENT
            # The finish chunk is the one before [DONE] (and before a usage chunk, if any).
            finish = next(i for i, frame in enumerate(frames) if b'"finish_reason":"content_filter"' in frame)
            frames[finish] = _frame(stop)
            return await write_sse(request, frames)

        return self.checked(respond)

    def answer_embeddings(self, vectors: list[list[float]], model: str = "text-embedding-3-small") -> Responder:
        return self.checked(json_answer({
            "object": "list",
            "data": [{"object": "embedding", "index": i, "embedding": vector} for i, vector in enumerate(vectors)],
            "model": model,
            "usage": {"prompt_tokens": 4, "total_tokens": 4},
        }))

    def answer_completion(self, text: str) -> Responder:
        """A legacy ``/completions`` answer."""
        return self.checked(json_answer({
            "id": "cmpl-azure", "object": "text_completion", "created": CREATED, "model": "gpt-35-turbo-instruct",
            "prompt_filter_results": PROMPT_FILTER_RESULTS,
            "choices": [{"text": text, "index": 0, "finish_reason": "stop", "logprobs": None,
                         "content_filter_results": SAFE}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        }))

    def answer_responses(self, text: str | None = None, calls: tuple[ToolCall, ...] = (),
                         usage: Usage = Usage()) -> Responder:
        """Azure's Responses API: a Response (streamed when the request asks) saying ``text``
        and/or calling ``calls``."""
        return self.checked(self.responses_script.answer(text, calls, usage))

    def answer_responses_error(self, text: str) -> Responder:
        """A Responses stream that starts ``text`` and then fails with an ``error`` event."""
        return self.checked(self.responses_script.answer_stream_error(text))

    def answer_error(self, body: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> Responder:
        return self.checked(json_answer(body, status=status, headers=headers))

    def error_cases(self) -> list[ErrorCase]:
        return [
            ErrorCase("bad request", self.answer_error(
                {"error": {"message": "Unrecognized request argument supplied: foo", "type": "invalid_request_error",
                           "param": None, "code": None}}, 400), 400, message="Unrecognized request argument"),
            ErrorCase("content filter", self.answer_error(content_filter_body(), 400), 400,
                      message="content filter refused the request (hate (high))"),
            ErrorCase("bad key", self.answer_error(NO_KEY, 401), 401, message="Access denied"),
            ErrorCase("no deployment", self.answer_error(DEPLOYMENT_NOT_FOUND, 404), 404,
                      message="deployment for this resource does not exist"),
            ErrorCase("rate limited", self.checked(rate_limited({"retry-after": "7", "retry-after-ms": "6500"})),
                      429, retry_after="7"),
            ErrorCase("rate limited in ms", self.checked(rate_limited({"retry-after-ms": "2200"})), 429,
                      retry_after="3"),
            ErrorCase("server error", self.answer_error(
                {"error": {"code": "InternalServerError", "message": "The server had an error while processing "
                           "your request. Sorry about that!"}}, 500), 500),
            ErrorCase("unavailable", self.answer_error(
                {"error": {"code": "ServiceUnavailable", "message": "The service is temporarily unable to process "
                           "your request. Please try again later."}}, 503, {"retry-after-ms": "1500"}), 503,
                      retry_after="2"),
        ]

    # -- reading the calls ------------------------------------------------------------------

    def summarize(self, request: RecordedRequest) -> RequestSummary:
        """The call read back; ``model`` is the model the deployment serves (by the map), so a
        call that reached the right deployment reads as the model the provider was asked for."""
        summary = super().summarize(request)
        deployment = summary.model if self.api_version is None else request.path.split("/")[3]
        served = {name: model for model, name in self.deployments.items()}
        return evolve(summary, model=served.get(deployment, deployment), credential=self.credential(request))

    def summarize_responses(self, request: RecordedRequest) -> RequestSummary:
        """A Responses call read back, as ``summarize`` reads a chat call."""
        summary = self.responses_script.summarize(request)
        served = {name: model for model, name in self.deployments.items()}
        return evolve(summary, model=served.get(summary.model, summary.model), credential=self.credential(request))

    def credential(self, request: RecordedRequest) -> str | None:
        headers = {name.lower(): value for name, value in request.headers.items()}
        if self.auth == "entra":
            return headers.get("authorization", "").removeprefix("Bearer ") or None
        return headers.get("api-key")
