"""sluicegate provider ``type = "gemini"``: Google's Gemini API (AI Studio keys).

OpenAI chat requests are translated to ``models/{model}:generateContent`` (and
``:streamGenerateContent?alt=sse`` for a stream), and the answers back to ``chat.completion``
and ``chat.completion.chunk``. Requests from the gateway's Gemini entrance already speak
Gemini and pass through (``sluicegate_gemini.native``): the client's bytes are sent as they
came unless the target needs a change, answers and stream events are relayed as Google sent
them, and ``countTokens`` is Google's own count. The key goes in ``x-goog-api-key``, never in
the URL, so it cannot land in an access log.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Mapping
from types import MappingProxyType

import orjson
from attrs import define, field
from multidict import CIMultiDict

from sluicegate import hookimpl
from sluicegate.client_headers import TO_GEMINI
from sluicegate.config.checks import http_url
from sluicegate.errors import UpstreamError
from sluicegate.exchange import GEMINI_ENDPOINTS, Endpoint, Reply, SSEEvent
from sluicegate.provider import ProviderOptions
from sluicegate.resilience import classify
from sluicegate.translating import TRANSLATION_FAILURES, TranslatingProvider, VendorCall
from sluicegate.upstream import forwardable_headers
from sluicegate_gemini import embed, errors, native, translate


@define(kw_only=True)
class GeminiOptions(ProviderOptions):
    """``[providers.<id>]`` keys for ``type = "gemini"``: ``api_key`` is an AI Studio key."""

    base_url: str | None = field(default="https://generativelanguage.googleapis.com/v1beta", validator=http_url)


def new_call_id() -> str:
    """An id for a function call Gemini gave none (OpenAI clients need one to answer it)."""
    return "call_" + secrets.token_hex(12)


class GeminiProvider(TranslatingProvider):
    endpoints = frozenset({Endpoint.CHAT, Endpoint.EMBEDDINGS, *GEMINI_ENDPOINTS})
    requires_key = True
    answer_name = "a Gemini answer"
    # A client's own x-goog-* headers (another key, another project) would steer the vendor.
    vendor_header_prefixes = ("x-goog-",)

    def auth_headers(self) -> dict[str, str]:
        if not self.options.api_key:
            return {}
        return {"x-goog-api-key": self.options.api_key.reveal()}

    async def send(self, ctx, req, target):
        if req.endpoint is Endpoint.EMBEDDINGS:
            return await self._embed(ctx, req, target)
        if req.endpoint in GEMINI_ENDPOINTS:
            return await self._pass_through(ctx, req, target)
        return await super().send(ctx, req, target)

    # -- Gemini's own API, passed through -----------------------------------------------------------

    async def _pass_through(self, ctx, req, target):
        url = self.base_url + native.resource_path(target.model)
        if req.endpoint is Endpoint.GEMINI_COUNT_TOKENS:
            url += native.COUNT
        else:
            url += translate.STREAM if req.stream else translate.GENERATE
        # The client speaks Gemini's API: its headers are meant for this vendor, but for its
        # x-goog-* ones (the gateway's key decides the project and quota) and its credential.
        headers = CIMultiDict(forwardable_headers(ctx.client_headers, TO_GEMINI))
        headers.update(self.fixed_headers)
        if req.stream:
            headers.update(_STREAM_HEADERS)
        headers["X-Request-Id"] = ctx.request_id
        response = await self.post(url, native.vendor_body(req, target), headers, req.stream)
        if not req.stream:
            return Reply(await self.read_all(response))
        return self.stream_reply(self._relay(response), response)

    async def _relay(self, response) -> AsyncIterator[SSEEvent]:
        """Google's events as they came; an error event raises (the edge reports it in band, in
        Google's shape), and a stream that ends before a finish reason is cut off."""
        finished = False
        async for event in self.events(response):
            if event.event == "error":
                raise self.stream_error(event.data)
            data = event.data
            if native.is_error_event(data):
                error = self.reported_error(self.parse(data), mid_stream=True)
                if error is not None:
                    raise error
            finished = finished or native.is_final_event(data)
            yield event
        if not finished:
            raise self.cut_off()

    async def _embed(self, ctx, req, target) -> Reply:
        request = embed.embed_request(req.body, target.model)
        url = self.base_url + translate.model_path(target.model) + embed.BATCH
        call = VendorCall(url, orjson.dumps(request))
        response = await self.post(call.url, call.body, self.call_headers(ctx, call), False)
        data = self.parse(await self.read_all(response))
        try:
            answer = embed.embeddings(
                data, model=target.model, count=len(request["requests"]), encoding=req.body.get("encoding_format")
            )
        except TRANSLATION_FAILURES:
            raise self.bad_answer() from None
        return Reply.from_data(answer)

    def to_vendor(self, req, target) -> VendorCall:
        body = orjson.dumps(translate.chat_request(req.body))
        url = self.base_url + translate.model_path(target.model)
        if req.stream:
            return VendorCall(url + translate.STREAM, body, _STREAM_HEADERS)
        return VendorCall(url + translate.GENERATE, body)

    def from_vendor(self, data, req, target, created):
        return translate.chat_completion(data, model=target.model, created=created, new_id=new_call_id)

    def stream_translator(self, req, target, created) -> translate.StreamTranslator:
        options = req.body.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        return translate.StreamTranslator(target.model, created, include_usage, new_call_id)

    def reported_error(self, data, *, mid_stream):
        # A stream that fails after it began sends Google's error object as an event.
        error = data.get("error")
        if not isinstance(error, dict):
            return None
        return self._error(errors.reported(error), None, None, mid_stream=mid_stream)

    def stream_error(self, raw):
        return self._error(errors.error_details(raw), None, None, mid_stream=True)

    def map_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
        return self._error(errors.error_details(body), status, headers.get("retry-after"))

    def _error(
        self, error: errors.GeminiError, status: int | None, retry_after: str | None, *, mid_stream: bool = False
    ) -> UpstreamError:
        kind = errors.classify_error(error, status)
        where = "reported an error mid-stream" if mid_stream else f"returned HTTP {kind.status}"
        retryable = classify.TRAITS[kind.error_class].retryable
        # RetryInfo is Gemini's own word on the wait; an HTTP header is the fallback.
        wait = errors.retry_after_header(error.retry_delay) if error.retry_delay is not None else retry_after
        upstream = UpstreamError(
            f"provider {self.name!r} {where}: {self.clean(error.message)}",
            provider=self.name,
            status=kind.status,
            type=kind.type,
            code=self.clean(error.reason or error.status or f"upstream_{kind.status}"),  # echoed: scrubbed
            headers={"Retry-After": wait} if wait and retryable else None,
            # For the gateway's own waiting (retries, cooldowns); None lets the base read headers.
            retry_after=error.retry_delay if retryable else None,
        )
        return self.classified(upstream, kind.error_class)  # type: ignore[return-value]


_STREAM_HEADERS = MappingProxyType({"Accept": "text/event-stream"})


@hookimpl
def register_providers(register):
    register("gemini", GeminiProvider, options=GeminiOptions)
