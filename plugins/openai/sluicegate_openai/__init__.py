"""sluicegate provider ``type = "openai"``: OpenAI and every OpenAI-compatible API.

Same dialect in and out, so requests pass through: the client's bytes are sent as they came
unless something changed the request (a middleware, the target's model name or output cap, the
stream usage the gateway asks for; ``GatewayRequest.for_target``), and then encoded once;
responses and stream events are relayed as the vendor sent them. The Responses
API (``/v1/responses``) is passed through too where the vendor speaks it (``responses``
option: OpenAI's own URL by default); elsewhere the core bridges it onto chat.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import orjson
from attrs import define, field
from multidict import CIMultiDict

from sluicegate import hookimpl
from sluicegate.config.checks import http_url
from sluicegate.errors import UpstreamError, UpstreamUnavailable
from sluicegate.exchange import (
    OPENAI_ENDPOINTS,
    Endpoint,
    Reply,
    RequestContext,
    SSEEvent,
    StreamReply,
    Target,
)
from sluicegate.provider import ProviderOptions
from sluicegate.resilience.classify import CODES, ErrorClass, for_status
from sluicegate.upstream import HttpProvider, error_message_from_body, forwardable_headers
from sluicegate_openai.inband import is_vendor_error

# Context-window overflows that OpenAI-compatible servers report without OpenAI's
# context_length_exceeded code: DeepSeek and vLLM ("This model's maximum context length is
# ..." under a generic code), Qwen's compatible mode ("Range of input length should be
# [1, N]"), and Anthropic's wording relayed by OpenAI-format proxies.
_CONTEXT_MESSAGES = re.compile(
    r"maximum context length|context length exceeded|range of input length should be"
    r"|prompt is too long|exceed context limit",
    re.IGNORECASE,
)
# A moderation refusal under a code that does not say so: OpenAI's reasoning models answer
# "invalid_prompt", Qwen's compatible mode may name DataInspectionFailed only in the message.
_FILTER_MESSAGES = re.compile(r"flagged as potentially violating|DataInspectionFailed", re.IGNORECASE)
# Error "type" values that tell the class when no status is at hand (errors inside a stream).
_STREAM_TYPES = {
    "server_error": ErrorClass.OVERLOADED,
    "invalid_request_error": ErrorClass.INVALID_REQUEST,
    "insufficient_quota": ErrorClass.QUOTA,
    "requests": ErrorClass.RATE_LIMIT,  # OpenAI's rate limit types name the exhausted bucket
    "tokens": ErrorClass.RATE_LIMIT,
    "rate_limit_error": ErrorClass.RATE_LIMIT,
    "authentication_error": ErrorClass.AUTHENTICATION,
}


# Responses stream events a vendor sends before any content: held back until the first content
# event, so the router's first-byte wait (and its failover) still sees a vendor that stalls.
_RESPONSES_PREAMBLE = frozenset({"response.created", "response.in_progress", "response.queued"})
# The events that end a Responses stream; one of them must come, as [DONE] must end a chat stream.
_RESPONSES_END = frozenset({"response.completed", "response.incomplete", "response.failed"})
_OPENAI_HOST = "api.openai.com"
# Responses request fields the entrance resolves itself, never sent to the vendor.
_ENTRANCE_ONLY = ("previous_response_id",)


@define(kw_only=True)
class OpenAIOptions(ProviderOptions):
    base_url: str | None = field(default="https://api.openai.com/v1", validator=http_url)
    # Sent as OpenAI-Organization.
    organization: str | None = None
    # Sent as OpenAI-Project.
    project: str | None = None
    # The vendor's chat API takes reasoning_effort: the /v1/messages bridge maps thinking and
    # output_config.effort onto it (off by default: some compatible vendors refuse the field).
    reasoning_effort: bool = False
    # The vendor serves the Responses API itself: /v1/responses is passed through to
    # <base_url>/responses (built-in tools included). Unset: on for OpenAI's own URL only, since
    # most OpenAI-compatible vendors have no Responses API; off: bridged onto chat completions.
    responses: bool | None = None


def speaks_responses(options: OpenAIOptions) -> bool:
    if options.responses is not None:
        return options.responses
    try:
        host = urlsplit(options.base_url or "").hostname
    except ValueError:
        return False
    return host == _OPENAI_HOST


class OpenAIProvider(HttpProvider):
    endpoints = OPENAI_ENDPOINTS
    # Local servers (vLLM, Ollama) take no key; a key given as an unset ${VAR} still counts as
    # unconfigured.
    requires_key = False

    def __init__(self, name, options: OpenAIOptions, services) -> None:
        # Decided before the base class maps each operation to its sender (native or bridged);
        # from the class's own set, so a subclass for a vendor without some of them (Azure has no
        # moderations) names its own.
        served = type(self).endpoints
        self.endpoints = (served | {Endpoint.RESPONSES}) if speaks_responses(options) else served
        super().__init__(name, options, services)
        self.reasoning_effort = options.reasoning_effort
        self.base_url = api_root(self.base_url)
        self._urls = {endpoint: f"{self.base_url}/{endpoint.value}" for endpoint in self.endpoints}
        self._fixed_headers = self.base_headers()
        self._fixed_headers["Content-Type"] = "application/json"

    def auth_headers(self) -> dict[str, str]:
        headers = {}
        if self.options.api_key:
            headers["Authorization"] = f"Bearer {self.options.api_key.reveal()}"
        if self.options.organization:
            headers["OpenAI-Organization"] = self.options.organization
        if self.options.project:
            headers["OpenAI-Project"] = self.options.project
        return headers

    async def send(self, ctx, req, target):
        responses = req.endpoint is Endpoint.RESPONSES
        # The client's own bytes when nothing changed; else the body with the target's changes,
        # encoded once. A Responses request's previous_response_id stays behind: the entrance
        # has already replayed the stored conversation into ``input`` (an id it does not hold is
        # refused there), so the vendor gets the whole history, not an id it may not know.
        payload = req.wire_for(target, omit=_ENTRANCE_ONLY if responses else ())
        headers = await self.request_headers(ctx)
        response = await self.post(self.url_for(req.endpoint, target), payload, headers, req.stream)
        if not req.stream:
            try:
                data = await self.read(response)
            finally:
                response.release()
            # Relayed unparsed; a glance at the first byte still catches an HTML error page or a
            # truncated body, which would otherwise reach the client as a "successful" 200.
            head = data[:64].lstrip()
            if head[:1] != b"{":
                raise self._malformed()
            if is_vendor_error(data):
                # Some compatible servers report errors with a 200 status.
                raise self._stream_error(data, "in a 200 answer")
            return Reply(data)
        if not response.content_type.startswith("text/event-stream"):
            # Some compatible servers ignore "stream": relay their one answer as one event.
            try:
                data = await self.read(response)
            finally:
                response.release()
            if is_vendor_error(data):
                raise self._stream_error(data, "in a 200 answer")
            return StreamReply(_single_response(data) if responses else _single(data))
        relay = self._relay_responses(response) if responses else self._relay(response)
        return self.stream_reply(relay, response)

    def url_for(self, endpoint: Endpoint, target: Target) -> str:
        """Where a call for ``endpoint`` goes: one URL per operation here; a subclass whose
        vendor puts the model in the path (Azure's deployments) builds it per target."""
        return self._urls[endpoint]

    async def request_headers(self, ctx: RequestContext) -> CIMultiDict[str]:
        """One call's headers: the client's forwardable ones, then the provider's own. Async so a
        subclass can add a credential that expires and must be fetched (an Entra ID token)."""
        headers = CIMultiDict(forwardable_headers(ctx.client_headers))
        headers.update(self._fixed_headers)
        headers["X-Request-Id"] = ctx.request_id
        return headers

    def _relay(self, response) -> AsyncIterator[SSEEvent]:
        return self.events(response, screen=_ChatScreen(self))

    async def _relay_responses(self, response) -> AsyncIterator[SSEEvent]:
        """A Responses stream, relayed as it comes; it must end with a terminal event (it has no
        ``[DONE]``). ``response.created``/``in_progress`` wait for the first content event."""
        held: list[SSEEvent] = []
        ended = False
        async for event in self.events(response):
            data = event.data
            if event.event == "error" or is_vendor_error(data):
                raise self._stream_error(data)
            kind = event.event
            if kind is None:
                # Named on the way on: the entrance and clients go by the event's name.
                kind = event.event = _event_type(data)
            if kind in _RESPONSES_PREAMBLE and not ended:
                event.more = True  # sent in one write with the content that follows
                held.append(event)
                continue
            ended = ended or kind in _RESPONSES_END
            if held:
                for waiting in held:
                    yield waiting
                held = []
            yield event
        if not ended:
            raise UpstreamUnavailable(
                f"provider {self.name!r} ended the stream before the response was complete",
                provider=self.name,
                retryable=True,
            )

    def _malformed(self) -> UpstreamError:
        return self.classified(
            UpstreamError(
                f"provider {self.name!r} answered with a body that is not a JSON object",
                provider=self.name,
                status=502,
                code="upstream_bad_response",
            ),
            ErrorClass.OVERLOADED,
        )

    def _stream_error(self, data: bytes, where: str = "mid-stream") -> UpstreamError:
        message, code, kind = error_message_from_body(data)
        error = UpstreamError(
            f"provider {self.name!r} reported an error {where}: {self.clean(message)}",
            provider=self.name,
            # The vendor's code and type reach the client and the access log too: scrubbed.
            code=self.clean(code) if code else "upstream_stream_error",
            type=self.clean(kind) if kind else "upstream_error",
        )
        return self.classified(error, self.vendor_error_class(None, code, kind, message))

    def vendor_error_class(self, status, code, kind, message) -> ErrorClass:
        """The class of an OpenAI-dialect error: code first, then type and message, then status."""
        known = CODES.get(code or "")
        if known is not None:
            return known
        if kind == "insufficient_quota" or code == "Arrearage":
            return ErrorClass.QUOTA  # a 429 (or Qwen's 400) that no wait fixes
        if kind == "data_inspection_failed":
            return ErrorClass.CONTENT_FILTER
        client_error = status is None or 400 <= status < 500
        if client_error and _CONTEXT_MESSAGES.search(message):
            return ErrorClass.CONTEXT_LENGTH
        if client_error and _FILTER_MESSAGES.search(message):
            return ErrorClass.CONTENT_FILTER
        if status is None:
            # Inside a stream (after a 200) only the type is left to go by.
            return _STREAM_TYPES.get(kind or "", ErrorClass.UNKNOWN)
        # DeepSeek's 402 Insufficient Balance and 503 Server Overloaded come with its generic
        # invalid_request_error code; their status says it.
        return for_status(status)


def api_root(base_url: str) -> str:
    """The URL the endpoint paths follow: ``base_url`` with ``/v1`` added when it has no path.

    ``https://api.openai.com`` (how LiteLLM and many tools spell it) means OpenAI's ``/v1``;
    a URL with any path is taken as it is, since compatible vendors version their APIs their
    own way (``/compatible-mode/v1``, ``/api/paas/v4``, ``/openai/v1``).
    """
    try:
        parts = urlsplit(base_url)
    except ValueError:
        return base_url  # unparsable: left for the HTTP client to report as before
    if parts.path.strip("/"):
        return base_url
    return urlunsplit(parts._replace(path="/v1"))


class _ChatScreen:
    """A chat or completions stream as the vendor sends it: an error event, or an in-band
    error, ends it; it must end with ``[DONE]`` (a stream cut short would otherwise pass for
    a complete one)."""

    __slots__ = ("provider", "done")

    def __init__(self, provider: OpenAIProvider) -> None:
        self.provider = provider
        self.done = False

    def see(self, event: SSEEvent) -> None:
        data = event.data
        # is_vendor_error's cheap test first, without its call: results never hold "error".
        if event.event == "error" or (data.find(b'"error"') != -1 and is_vendor_error(data)):
            raise self.provider._stream_error(data)
        if data == b"[DONE]":
            self.done = True

    def end(self) -> None:
        if not self.done:
            raise UpstreamUnavailable(
                f"provider {self.provider.name!r} ended the stream without [DONE]",
                provider=self.provider.name,
                retryable=True,
            )


async def _single(data: bytes) -> AsyncIterator[SSEEvent]:
    try:
        answer = orjson.loads(data)
    except orjson.JSONDecodeError:
        answer = None
    if isinstance(answer, dict) and answer.get("object") == "chat.completion":
        answer["object"] = "chat.completion.chunk"
        for choice in answer.get("choices") or ():
            if isinstance(choice, dict):
                choice["delta"] = choice.pop("message", {})
        data = orjson.dumps(answer)
    yield SSEEvent(data)
    yield SSEEvent(b"[DONE]")


async def _single_response(data: bytes) -> AsyncIterator[SSEEvent]:
    """A vendor that answered a Responses stream with one JSON Response: its completion event."""
    try:
        answer = orjson.loads(data)
    except orjson.JSONDecodeError:
        answer = None
    status = answer.get("status") if isinstance(answer, dict) and answer.get("object") == "response" else None
    if status in ("completed", "incomplete", "failed"):
        kind = f"response.{status}"
        yield SSEEvent.from_data({"type": kind, "sequence_number": 0, "response": answer}, kind)
    else:
        yield SSEEvent(data)


_TYPE_PREFIX = b'{"type":"'


def _event_type(data: bytes) -> str | None:
    """The ``type`` of an event sent without an ``event:`` line (OpenAI writes it first)."""
    if data.startswith(_TYPE_PREFIX):
        end = data.find(b'"', len(_TYPE_PREFIX))
        return data[len(_TYPE_PREFIX):end].decode("utf-8", "replace") if end > 0 else None
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    kind = parsed.get("type") if isinstance(parsed, dict) else None
    return kind if isinstance(kind, str) else None


@hookimpl
def register_providers(register):
    register("openai", OpenAIProvider, options=OpenAIOptions)
