"""The ``type = "vertex"`` adapter: Gemini and Claude models on Google Vertex AI.

Each call's family is its target model's publisher (``endpoints.publisher_of``):

- Gemini models (``publishers/google``) speak Gemini's wire format: OpenAI chat is translated
  with ``sluicegate_gemini.translate``, and ``/v1/messages`` is bridged onto that chat
  translation by the core (``messages_via_chat``), as for any chat-only vendor.
- Claude models (``publishers/anthropic``) speak Anthropic's Messages API: OpenAI chat is
  translated with ``sluicegate_anthropic.translate``, and ``/v1/messages`` (and its
  ``count_tokens``) passes through natively, the client's Claude-specific fields untouched.

Every call carries ``Authorization: Bearer <token>``, the token from google-auth
(``auth.AccessTokens``), or a ready token given as ``api_key``.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Mapping
from types import MappingProxyType
from typing import Any

import orjson
from multidict import CIMultiDict

from sluicegate.client_headers import TO_ANTHROPIC, HeaderRule
from sluicegate.errors import GatewayError, ProviderNotConfigured, UpstreamError, UpstreamUnavailable
from sluicegate.exchange import Endpoint, GatewayRequest, Reply, RequestContext, Result, SSEEvent, Target
from sluicegate.resilience import classify
from sluicegate.resilience.classify import ErrorClass
from sluicegate.translate.anthropic_dialect import ERROR_STATUS, client_status
from sluicegate.translate.count_tokens import estimate_count
from sluicegate.translate.messages_bridge import messages_via_chat
from sluicegate.translating import TranslatingProvider, VendorCall
from sluicegate.upstream import forwardable_headers
from sluicegate_anthropic import translate as anthropic_translate
from sluicegate_anthropic.inband import is_vendor_error
from sluicegate_gemini import errors as google_errors
from sluicegate_gemini import translate as gemini_translate
from sluicegate_vertex import claude, endpoints, errors
from sluicegate_vertex.auth import AccessTokens, TokenError
from sluicegate_vertex.options import VertexOptions

_STREAM_HEADERS = MappingProxyType({"Accept": "text/event-stream"})


def new_call_id() -> str:
    """An id for a function call Gemini gave none (OpenAI clients need one to answer it)."""
    return "call_" + secrets.token_hex(12)


class VertexProvider(TranslatingProvider):
    endpoints = frozenset({Endpoint.CHAT, Endpoint.MESSAGES, Endpoint.COUNT_TOKENS})
    # Credentials, not a key: application default credentials need no option at all.
    requires_key = False
    # Gemini's chat translation takes reasoning_effort (as a thinking budget), so the
    # /v1/messages bridge may map the client's thinking onto it.
    reasoning_effort = True
    answer_name = "a Vertex answer"
    # A client's own x-goog-* headers (another project to bill, x-goog-user-project) would
    # steer the vendor.
    vendor_header_prefixes = ("x-goog-",)

    def __init__(self, name: str, options: VertexOptions, services) -> None:
        super().__init__(name, options, services)
        self.base_url = endpoints.api_root(options.region, options.base_url)
        self.region = options.region
        self._publishers = MappingProxyType(dict(options.publishers))
        self._version = options.anthropic_version
        self._default_max_tokens = options.default_max_tokens
        self._beta = tuple(options.beta)
        self._betas_allowed = frozenset(options.betas_allowed)
        # The client of /v1/messages speaks Anthropic's API: its headers are meant for Claude,
        # but not its x-goog-* ones.
        self._claude_client_rule = TO_ANTHROPIC | HeaderRule(frozenset(), self.vendor_header_prefixes)
        self._bridge = messages_via_chat(self)
        self.tokens: AccessTokens | None = None
        if options.api_key is None:
            self.tokens = AccessTokens(
                options.credentials_file,
                timeout=options.token_timeout,
                margin=options.token_refresh_margin,
                wall_clock=services.wall_clock,
            )

    def auth_headers(self) -> dict[str, str]:
        if not self.options.api_key:
            return {}
        return {"Authorization": f"Bearer {self.options.api_key.reveal()}"}

    def publisher(self, model: str) -> str:
        return endpoints.publisher_of(model, self._publishers)

    # -- dispatch --------------------------------------------------------------------------------

    async def send(self, ctx: RequestContext, req: GatewayRequest, target: Target) -> Result:
        is_claude = self.publisher(target.model) == endpoints.ANTHROPIC
        if req.endpoint is Endpoint.MESSAGES:
            if is_claude:
                return await self._claude_messages(ctx, req, target)
            return await self._bridge(ctx, req, target)
        if req.endpoint is Endpoint.COUNT_TOKENS:
            if is_claude:
                return await self._claude_count(ctx, req, target)
            return await estimate_count(ctx, req, target)
        await self._project()
        return await super().send(ctx, req, target)

    async def _project(self) -> str:
        """The project calls go to: the configured one, else the one the credentials name
        (known once they are loaded, with the first token)."""
        project = self.options.project or (self.tokens.project if self.tokens is not None else None)
        if project is None and self.tokens is not None:
            await self._bearer()
            project = self.tokens.project
        if project is None:
            raise ProviderNotConfigured(
                f"provider {self.name!r} is not configured: its credentials name no project; set project"
            )
        return project

    def _url(self, publisher: str, model: str, method: str) -> str:
        # send() resolved the project before any URL is made.
        project = self.options.project or (self.tokens.project if self.tokens is not None else None) or ""
        return endpoints.model_url(self.base_url, project, self.region, publisher, model, method)

    # -- credentials -----------------------------------------------------------------------------

    async def _bearer(self) -> Mapping[str, str]:
        if self.tokens is None:
            return {}  # the ready token is among the fixed headers
        try:
            token = await self.tokens.token()
        except TokenError as exc:
            raise self._token_unavailable(exc) from None
        return {"Authorization": f"Bearer {token}"}

    async def call_credentials(self, call: VendorCall) -> Mapping[str, str]:
        return await self._bearer()

    def _token_unavailable(self, exc: TokenError) -> UpstreamUnavailable:
        # Retryable: a token endpoint that failed now may answer the next try, and a target
        # whose credentials keep failing should cool down (the breaker counts it).
        return UpstreamUnavailable(
            f"provider {self.name!r} could not get a Google access token: {self.clean(str(exc))}",
            provider=self.name,
            status=503,
            code="google_token_unavailable",
            retryable=True,
            error_class=ErrorClass.NETWORK,
        )

    def clean(self, text: str) -> str:
        text = super().clean(text)
        token = self.tokens.current if self.tokens is not None else None
        return text.replace(token, "***") if token else text

    async def probe(self) -> None:
        """Vertex has no cheap authenticated listing under a project; what fails on its own is
        the credentials, so the health check gets a token (and the project)."""
        await self._bearer()
        await self._project()

    # -- OpenAI chat, translated -----------------------------------------------------------------

    def to_vendor(self, req: GatewayRequest, target: Target) -> VendorCall:
        if self.publisher(target.model) == endpoints.ANTHROPIC:
            body = claude.chat_body(req.body, target.model, self._default_max_tokens, self._version)
            method = endpoints.STREAM_RAW_PREDICT if req.stream else endpoints.RAW_PREDICT
            beta = claude.beta_header((), self._beta, self._betas_allowed)
            headers = {"anthropic-beta": beta} if beta else {}
            if req.stream:
                headers.update(_STREAM_HEADERS)
            url = self._url(endpoints.ANTHROPIC, target.model, method)
            return VendorCall(url, orjson.dumps(body), MappingProxyType(headers))
        body = orjson.dumps(gemini_translate.chat_request(req.body))
        if req.stream:
            return VendorCall(self._url(endpoints.GOOGLE, target.model, endpoints.STREAM_GENERATE), body, _STREAM_HEADERS)
        return VendorCall(self._url(endpoints.GOOGLE, target.model, endpoints.GENERATE), body)

    def from_vendor(self, data: dict[str, Any], req: GatewayRequest, target: Target, created: int) -> dict[str, Any]:
        if self.publisher(target.model) == endpoints.ANTHROPIC:
            if not isinstance(data.get("content"), list):
                raise ValueError("not a message")
            return anthropic_translate.to_openai_completion(data, created)
        return gemini_translate.chat_completion(data, model=target.model, created=created, new_id=new_call_id)

    def stream_translator(self, req: GatewayRequest, target: Target, created: int):
        options = req.body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        if self.publisher(target.model) == endpoints.ANTHROPIC:
            return anthropic_translate.StreamTranslator(created, include_usage=include_usage)
        return gemini_translate.StreamTranslator(target.model, created, include_usage, new_call_id)

    # -- Claude's Messages API, passed through ---------------------------------------------------

    async def _claude_messages(self, ctx: RequestContext, req: GatewayRequest, target: Target) -> Result:
        await self._project()
        # The client's body with the target's changes (model, output cap); only the model moves
        # to the URL and anthropic_version joins; Claude's own fields stay as they came.
        body = claude.vertex_body(req.for_target(target).body, self._version)
        method = endpoints.STREAM_RAW_PREDICT if req.stream else endpoints.RAW_PREDICT
        headers = await self._claude_headers(ctx, with_betas=True)
        url = self._url(endpoints.ANTHROPIC, target.model, method)
        response = await self.post(url, orjson.dumps(body), headers, req.stream)
        if not req.stream:
            data = await self.read_all(response)
            if is_vendor_error(data):
                raise self._vendor_error(errors.read(data), None, None, where="in a 200 answer")
            return Reply(data)
        return self.stream_reply(self._relay(response), response)

    async def _claude_count(self, ctx: RequestContext, req: GatewayRequest, target: Target) -> Result:
        await self._project()
        body = claude.count_body(req.body, target.model, self._version)
        # Vertex's count-tokens refuses every anthropic-beta value.
        headers = await self._claude_headers(ctx, with_betas=False)
        url = self._url(endpoints.ANTHROPIC, endpoints.COUNT_TOKENS_MODEL, endpoints.RAW_PREDICT)
        response = await self.post(url, orjson.dumps(body), headers, False)
        data = await self.read_all(response)
        if is_vendor_error(data):
            raise self._vendor_error(errors.read(data), None, None, where="in a 200 answer")
        return Reply(data)

    async def _claude_headers(self, ctx: RequestContext, *, with_betas: bool) -> CIMultiDict[str]:
        headers = CIMultiDict(forwardable_headers(ctx.client_headers, self._claude_client_rule))
        headers.update(self.fixed_headers)
        headers["X-Request-Id"] = ctx.request_id
        if with_betas:
            beta = claude.beta_header(ctx.client_headers.getall("anthropic-beta", ()), self._beta, self._betas_allowed)
            if beta:
                headers["anthropic-beta"] = beta
        headers.update(await self._bearer())
        return headers

    async def _relay(self, response) -> AsyncIterator[SSEEvent]:
        stopped = False
        async for event in self.events(response):
            if event.event == "error" or is_vendor_error(event.data):
                raise self.stream_error(event.data)
            if event.event == "message_stop":
                stopped = True
            yield event
        if not stopped:
            raise self.cut_off()

    # -- errors ----------------------------------------------------------------------------------

    def map_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        if status == 401 and self.tokens is not None:
            self.tokens.invalidate()  # revoked or expired early: the next call fetches another
        return self._vendor_error(errors.read(body), status, headers.get("retry-after"))

    def reported_error(self, data: Any, *, mid_stream: bool) -> GatewayError | None:
        if not errors.is_error(data):
            return None
        return self._vendor_error(errors.read_parsed(data), None, None,
                                  where="mid-stream" if mid_stream else "in a 200 answer")

    def stream_error(self, raw: bytes) -> GatewayError:
        return self._vendor_error(errors.read(raw), None, None, where="mid-stream")

    def _vendor_error(
        self, error: errors.ClaudeError | google_errors.GeminiError, status: int | None, retry_after: str | None,
        *, where: str = "",
    ) -> UpstreamError:
        if isinstance(error, errors.ClaudeError):
            return self._claude_error(error, status, retry_after, where)
        return self._google_error(error, status, retry_after, where)

    def _claude_error(self, error: errors.ClaudeError, status: int | None, retry_after: str | None,
                      where: str) -> UpstreamError:
        # An error under a 200 or in a stream has no status: its type's stands in.
        vendor_status = status if status is not None else ERROR_STATUS.get(error.kind or "", 500)
        shown = client_status(vendor_status)
        what = f"returned HTTP {status}" if status is not None else f"reported {self.clean(error.kind or 'an error')} {where}"
        upstream = UpstreamError(
            f"provider {self.name!r} {what}: {self.clean(error.message)}",
            provider=self.name,
            status=shown,
            type=anthropic_translate.openai_error_type(shown),
            # Anthropic's type, so the /v1/messages entrance gives it back as Claude sent it.
            code=self.clean(error.kind) if error.kind else f"upstream_{vendor_status}",
            headers={"Retry-After": retry_after} if retry_after and vendor_status in (429, 529) else None,
        )
        return self.classified(upstream, anthropic_translate.error_class(vendor_status, error.kind, error.message))

    def _google_error(self, error: google_errors.GeminiError, status: int | None, retry_after: str | None,
                      where: str) -> UpstreamError:
        kind = errors.google_kind(error, status)
        what = f"returned HTTP {kind.status}" if status is not None else f"reported an error {where}"
        retryable = classify.TRAITS[kind.error_class].retryable
        # RetryInfo is Google's own word on the wait; an HTTP header is the fallback.
        wait = google_errors.retry_after_header(error.retry_delay) if error.retry_delay is not None else retry_after
        upstream = UpstreamError(
            f"provider {self.name!r} {what}: {self.clean(error.message)}",
            provider=self.name,
            status=kind.status,
            type=kind.type,
            code=self.clean(error.reason or error.status or f"upstream_{kind.status}"),
            headers={"Retry-After": wait} if wait and retryable else None,
            retry_after=error.retry_delay if retryable else None,
        )
        return self.classified(upstream, kind.error_class)  # type: ignore[return-value]

    # -- the rest --------------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        # /health answers without a token: the region and the kind of credentials, no project.
        info["region"] = self.region
        if self.tokens is None:
            info["credentials"] = "access token (api_key)"
        elif self.options.credentials_file:
            info["credentials"] = "credentials_file"
        else:
            info["credentials"] = "application default credentials"
        return info

    async def aclose(self) -> None:
        if self.tokens is not None:
            self.tokens.close()
