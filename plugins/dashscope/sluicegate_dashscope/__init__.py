"""sluicegate provider ``type = "dashscope"``: Alibaba Qwen through DashScope's native generation API.

OpenAI chat requests are translated to DashScope's ``{"model", "input", "parameters"}`` shape
(the multimodal endpoint when a message carries an image) and the answers, streamed or not,
back to ``chat.completion`` and ``chat.completion.chunk``. Qwen's OpenAI-compatible mode needs
no translation: use ``type = "openai"`` with ``base_url = ".../compatible-mode/v1"`` for that.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from urllib.parse import urlsplit, urlunsplit

import orjson
from attrs import define, field

from sluicegate import hookimpl
from sluicegate.config.checks import http_url
from sluicegate.errors import UpstreamError
from sluicegate.exchange import Endpoint
from sluicegate.provider import ProviderOptions
from sluicegate.translating import TranslatingProvider, VendorCall
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


class DashScopeProvider(TranslatingProvider):
    endpoints = frozenset({Endpoint.CHAT})
    requires_key = True
    answer_name = "a DashScope result"
    # The client's own X-DashScope-* headers would steer the vendor (SSE on a JSON call, another
    # workspace): only this provider's are sent.
    vendor_header_prefixes = ("x-dashscope-",)

    def __init__(self, name, options: DashScopeOptions, services) -> None:
        super().__init__(name, options, services)
        self.base_url = api_root(self.base_url)
        self._text_url = self.base_url + translate.TEXT_PATH
        self._multimodal_url = self.base_url + translate.MULTIMODAL_PATH
        self._defaults = translate.request_defaults(options.enable_search)
        if options.workspace:
            self.fixed_headers["X-DashScope-WorkSpace"] = options.workspace

    def auth_headers(self) -> dict[str, str]:
        if not self.options.api_key:
            return {}
        return {"Authorization": f"Bearer {self.options.api_key.reveal()}"}

    def to_vendor(self, req, target) -> VendorCall:
        body, multimodal = translate.chat_request(req.body, target.model, stream=req.stream, defaults=self._defaults)
        url = self._multimodal_url if multimodal else self._text_url
        if req.stream:
            return VendorCall(url, orjson.dumps(body), _STREAM_HEADERS)
        return VendorCall(url, orjson.dumps(body))

    def from_vendor(self, data, req, target, created):
        return translate.chat_completion(data, model=target.model, created=created)

    def stream_translator(self, req, target, created) -> translate.StreamTranslator:
        options = req.body.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        return translate.StreamTranslator(target.model, created, include_usage)

    def reported_error(self, data, *, mid_stream):
        reported = translate.reported_error(data)
        if reported is None:
            return None
        # An error with a 200 status; DashScope's status for the code stands in.
        return self._error(*reported, None, None, mid_stream=mid_stream)

    def stream_error(self, raw):
        code, message = translate.error_details(raw)
        return self._error(code, message, None, None, mid_stream=True)

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


# A stream is asked for in a header, not in the body.
_STREAM_HEADERS = MappingProxyType({"Accept": "text/event-stream", "X-DashScope-SSE": "enable"})


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
