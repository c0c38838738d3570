"""sluicegate provider ``type = "anthropic"``: Anthropic's Messages API.

OpenAI chat requests are translated to Messages requests and the answers back (see
``sluicegate_anthropic.translate``). Requests from the gateway's Anthropic entrance
(``/v1/messages``) already speak Anthropic and pass through: the client's bytes are sent as
they came unless something changed the request (a middleware, the target's model name or output
cap), answers and stream events are relayed as the vendor sent them.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import orjson
from attrs import Factory, define, field
from multidict import CIMultiDict

from sluicegate import hookimpl
from sluicegate.client_headers import TO_ANTHROPIC
from sluicegate.config.checks import http_url, positive
from sluicegate.errors import UpstreamError
from sluicegate.exchange import Endpoint, Reply, SSEEvent
from sluicegate.provider import ProviderOptions
from sluicegate.translate.anthropic_dialect import ERROR_STATUS, client_status
from sluicegate.translating import TranslatingProvider, VendorCall
from sluicegate.upstream import error_fields, error_message_from_body, forwardable_headers
from sluicegate_anthropic.inband import is_error_object, is_vendor_error
from sluicegate_anthropic.translate import (
    StreamTranslator,
    error_class,
    openai_error_type,
    to_anthropic_request,
    to_openai_completion,
)


@define(kw_only=True)
class AnthropicOptions(ProviderOptions):
    base_url: str | None = field(default="https://api.anthropic.com/v1", validator=http_url)
    # The anthropic-version header: the wire format the translation is written against.
    version: str = "2023-06-01"
    # Anthropic requires max_tokens; used when an OpenAI request sets neither max_tokens nor
    # max_completion_tokens.
    default_max_tokens: int = field(default=4096, validator=positive)
    # Beta features (anthropic-beta) enabled on every call.
    beta: list[str] = Factory(list)


class AnthropicProvider(TranslatingProvider):
    endpoints = frozenset({Endpoint.CHAT, Endpoint.MESSAGES, Endpoint.COUNT_TOKENS})
    requires_key = True
    answer_name = "an Anthropic message"
    bad_answer_code = "upstream_invalid_response"
    cut_off_message = "ended the stream without message_stop"

    def __init__(self, name, options: AnthropicOptions, services) -> None:
        super().__init__(name, options, services)
        self.base_url = api_root(self.base_url)
        self._url = f"{self.base_url}/messages"
        self._count_url = f"{self.base_url}/messages/count_tokens"
        self._beta = tuple(options.beta)
        self._default_max_tokens = options.default_max_tokens
        self.fixed_headers["anthropic-version"] = options.version
        if self._beta:
            self.fixed_headers["anthropic-beta"] = ",".join(self._beta)

    def auth_headers(self) -> dict[str, str]:
        return {"x-api-key": self.options.api_key.reveal()} if self.options.api_key else {}

    async def send(self, ctx, req, target):
        if req.endpoint is Endpoint.MESSAGES:
            return await self._pass_through(ctx, req, target, self._url)
        if req.endpoint is Endpoint.COUNT_TOKENS:
            return await self._pass_through(ctx, req, target, self._count_url)
        return await super().send(ctx, req, target)

    # -- OpenAI chat, translated ------------------------------------------------------------------

    def to_vendor(self, req, target) -> VendorCall:
        body = to_anthropic_request(req.body, target.model, self._default_max_tokens)
        return VendorCall(self._url, orjson.dumps(body))

    def from_vendor(self, data, req, target, created):
        if not isinstance(data.get("content"), list):
            raise ValueError("not a message")
        return to_openai_completion(data, created)

    def stream_translator(self, req, target, created) -> StreamTranslator:
        options = req.body.get("stream_options")
        return StreamTranslator(created, include_usage=isinstance(options, dict) and options.get("include_usage") is True)

    def reported_error(self, data, *, mid_stream):
        if not is_error_object(data):
            return None
        return self._in_band_error(*error_fields(data), "mid-stream" if mid_stream else "in a 200 answer")

    def stream_error(self, raw):
        return self._in_band_error(*error_message_from_body(raw), "mid-stream")

    # -- Anthropic's own API, passed through ------------------------------------------------------

    async def _pass_through(self, ctx, req, target, url: str):
        # The client's own bytes when nothing changed; else its body with the target's changes.
        payload = req.wire_for(target)
        # The client speaks Anthropic's API: its headers (Claude Code's included) are meant for
        # this vendor, and so is its query (the SDK's beta calls add ?beta=true).
        headers = CIMultiDict(forwardable_headers(ctx.client_headers, TO_ANTHROPIC))
        headers.update(self.fixed_headers)
        headers["X-Request-Id"] = ctx.request_id
        # anthropic-beta is blocked for every other route; here the client chose its features.
        client_beta = ctx.client_headers.getall("anthropic-beta", ())
        if client_beta:
            headers["anthropic-beta"] = self._merge_beta(client_beta)
        if ctx.query_string:
            url = f"{url}?{ctx.query_string}"
        response = await self.post(url, payload, headers, req.stream)
        if not req.stream:
            data = await self.read_all(response)
            if is_vendor_error(data):
                raise self._in_band_error(*error_message_from_body(data), "in a 200 answer")
            return Reply(data)
        return self.stream_reply(self._relay(response), response)

    def _merge_beta(self, client_values: list[str]) -> str:
        names = list(self._beta)
        for value in client_values:
            for name in value.split(","):
                name = name.strip()
                if name and name not in names:
                    names.append(name)
        return ",".join(names)

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

    # -- errors -----------------------------------------------------------------------------------

    def _error(
        self, vendor_status: int, kind: str | None, message: str, what: str, retry_after: str | None
    ) -> UpstreamError:
        status = client_status(vendor_status)
        error = UpstreamError(
            f"provider {self.name!r} {what}",
            provider=self.name,
            status=status,
            type=openai_error_type(status),
            # The Anthropic error type, so an Anthropic-shaped renderer can give it back as it was.
            code=self.clean(kind) if kind else f"upstream_{vendor_status}",
            headers={"Retry-After": retry_after} if retry_after and vendor_status in (429, 529) else None,
        )
        return self.classified(error, error_class(vendor_status, kind, message))

    def map_error(self, status, body, headers):
        message, _, kind = error_message_from_body(body)
        return self._error(
            status, kind, message, f"returned HTTP {status}: {self.clean(message)}", headers.get("retry-after")
        )

    def _in_band_error(self, message: str, code: str | None, kind: str | None, where: str) -> UpstreamError:
        # An error under a 200 carries no status: its type's stands in.
        status = ERROR_STATUS.get(kind or "", 500)
        return self._error(
            status, kind, message, f"reported {self.clean(kind or 'an error')} {where}: {self.clean(message)}", None
        )


# A last path segment such as /v1: the API version is already in the URL.
_VERSION_SEGMENT = re.compile(r"/v\d+/?$")


def api_root(base_url: str) -> str:
    """The URL ``/messages`` follows: ``base_url`` with ``/v1`` added unless it ends in a version.

    The anthropic SDK (and Claude Code's ``ANTHROPIC_BASE_URL``, LiteLLM) take the host, or a
    compatible vendor's prefix such as ``https://api.deepseek.com/anthropic``, and add
    ``/v1/messages``; a URL already ending in ``/v1`` is taken as it is.
    """
    try:
        parts = urlsplit(base_url)
    except ValueError:
        return base_url  # unparsable: left for the HTTP client to report as before
    if _VERSION_SEGMENT.search(parts.path):
        return base_url
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/v1"))


@hookimpl
def register_providers(register):
    register("anthropic", AnthropicProvider, options=AnthropicOptions)
