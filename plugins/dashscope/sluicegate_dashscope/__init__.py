"""sluicegate provider ``type = "dashscope"``: Alibaba Qwen through DashScope's native generation API.

OpenAI chat requests are translated to DashScope's ``{"model", "input", "parameters"}`` shape
(the multimodal endpoint when a message carries an image) and the answers, streamed or not,
back to ``chat.completion`` and ``chat.completion.chunk``. Qwen's OpenAI-compatible mode needs
no translation: use ``type = "openai"`` with ``base_url = ".../compatible-mode/v1"`` for that.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
from attrs import define, field
from multidict import CIMultiDict

from sluicegate import hookimpl
from sluicegate.client_headers import TRANSLATED
from sluicegate.config.checks import http_url
from sluicegate.errors import UpstreamError, UpstreamUnavailable
from sluicegate.exchange import DONE, Endpoint, Reply, SSEEvent
from sluicegate.provider import ProviderOptions
from sluicegate.upstream import HttpProvider, forwardable_headers
from sluicegate_dashscope import translate


@define(kw_only=True)
class DashScopeOptions(ProviderOptions):
    """``[providers.<id>]`` keys for ``type = "dashscope"``.

    ``base_url`` defaults to the Beijing region; keys are regional, so a Singapore key needs
    ``https://dashscope-intl.aliyuncs.com/api/v1`` (Virginia: ``dashscope-us.aliyuncs.com``).
    """

    base_url: str | None = field(default="https://dashscope.aliyuncs.com/api/v1", validator=http_url)
    # Let the model search the web on every request (parameters.enable_search); unset leaves the
    # model's default, and a client can still ask per request (extra_body).
    enable_search: bool | None = None
    # Workspace (business space) to bill and authorise against: X-DashScope-WorkSpace.
    workspace: str | None = None


class DashScopeProvider(HttpProvider):
    endpoints = frozenset({Endpoint.CHAT})
    requires_key = True

    def __init__(self, name, options: DashScopeOptions, services) -> None:
        super().__init__(name, options, services)
        self.base_url = api_root(self.base_url)
        self._text_url = self.base_url + translate.TEXT_PATH
        self._multimodal_url = self.base_url + translate.MULTIMODAL_PATH
        self._defaults = translate.request_defaults(options.enable_search)
        headers = self.base_headers()
        headers["Content-Type"] = "application/json"
        if options.workspace:
            headers["X-DashScope-WorkSpace"] = options.workspace
        self._headers = headers
        self._stream_headers = CIMultiDict(headers)
        self._stream_headers["Accept"] = "text/event-stream"
        self._stream_headers["X-DashScope-SSE"] = "enable"

    def auth_headers(self) -> dict[str, str]:
        if not self.options.api_key:
            return {}
        return {"Authorization": f"Bearer {self.options.api_key.reveal()}"}

    async def send(self, ctx, req, target):
        body, multimodal = translate.chat_request(req.body, target.model, stream=req.stream, defaults=self._defaults)
        # The client's own X-DashScope-* headers would steer the vendor (SSE on a JSON call,
        # another workspace); only this provider's are sent. The client speaks OpenAI, not
        # DashScope: its SDK's and program's own headers stay here too.
        headers = CIMultiDict(
            (name, value)
            for name, value in forwardable_headers(ctx.client_headers, TRANSLATED)
            if not name.lower().startswith("x-dashscope-")
        )
        headers.update(self._stream_headers if req.stream else self._headers)
        headers["X-Request-Id"] = ctx.request_id
        url = self._multimodal_url if multimodal else self._text_url
        response = await self.post(url, orjson.dumps(body), headers, req.stream)
        created = int(self.services.wall_clock())
        if req.stream:
            options = req.body.get("stream_options")
            include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
            translator = translate.StreamTranslator(target.model, created, include_usage)
            return self.stream_reply(self._chunks(response, translator), response)
        try:
            raw = await self.read(response)
        finally:
            response.release()
        data = self._parse(raw)
        reported = translate.reported_error(data)
        if reported is not None:
            # An error with a 200 status; DashScope's status for the code stands in.
            raise self._error(*reported, None, None)
        try:
            completion = translate.chat_completion(data, model=target.model, created=created)
        except (ValueError, TypeError, AttributeError):
            raise self._bad_answer() from None
        return Reply.from_data(completion)

    async def _chunks(self, response, translator: translate.StreamTranslator) -> AsyncIterator[SSEEvent]:
        async for event in self.events(response):
            if event.event == "error":
                code, message = translate.error_details(event.data)
                raise self._error(code, message, None, None, mid_stream=True)
            data = self._parse(event.data)
            reported = translate.reported_error(data)
            if reported is not None:
                raise self._error(*reported, None, None, mid_stream=True)
            try:
                chunks = translator.feed(data)
            except (TypeError, AttributeError):
                raise self._bad_answer() from None
            for chunk in chunks:
                yield SSEEvent.from_data(chunk)
        if not translator.complete:
            raise UpstreamUnavailable(
                f"provider {self.name!r} ended the stream before the answer finished",
                provider=self.name,
                retryable=True,
            )
        for chunk in translator.finish():
            yield SSEEvent.from_data(chunk)
        yield DONE

    def map_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
        code, message = translate.error_details(body)
        return self._error(code, message, status, headers.get("retry-after"))

    def _error(
        self, code: str | None, message: str, status: int | None, retry_after: str | None, mid_stream: bool = False
    ) -> UpstreamError:
        kind = translate.classify_error(code, status, message)
        where = "reported an error mid-stream" if mid_stream else f"returned HTTP {kind.status}"
        error = UpstreamError(
            f"provider {self.name!r} {where}: {self.clean(message)}",
            provider=self.name,
            status=kind.status,
            type=kind.type,
            code=self.clean(code) if code else f"upstream_{kind.status}",  # echoed to the client: scrubbed
            headers={"Retry-After": retry_after} if retry_after and kind.retryable else None,
        )
        return self.classified(error, kind.error_class)

    def _parse(self, raw: bytes) -> dict[str, Any]:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise self._bad_answer() from None
        if not isinstance(data, dict):
            raise self._bad_answer()
        return data

    def _bad_answer(self) -> UpstreamError:
        error = UpstreamError(
            f"provider {self.name!r} answered with something that is not a DashScope result",
            provider=self.name,
            code="upstream_bad_response",
        )
        # A 502: the vendor failed, not the request (as a garbled answer from any vendor).
        return self.classified(error)


def api_root(base_url: str) -> str:
    """The URL the service paths follow: ``base_url`` completed to ``/api/v1`` when it stops short.

    The dashscope SDK's base URL is ``https://dashscope.aliyuncs.com/api/v1``; the bare host
    (or host plus ``/api``) means the same. Any other path is taken as it is (a proxy's own).
    """
    try:
        parts = urlsplit(base_url)
    except ValueError:
        return base_url  # unparsable: left for the HTTP client to report as before
    path = parts.path.rstrip("/")
    if path not in ("", "/api"):
        return base_url
    return urlunsplit(parts._replace(path="/api/v1"))


@hookimpl
def register_providers(register):
    register("dashscope", DashScopeProvider, options=DashScopeOptions)
