"""The base of a vendor adapter that translates: the adapter says how the dialects map, the base
does the I/O around it.

Every vendor with a dialect of its own (Anthropic's Messages, DashScope's generation API, and
Gemini's or Bedrock's next) needs the same plumbing around its translation: the headers, the
call, reading and releasing the answer, a garbled answer as a 502, an error the vendor reports
with a 200 or mid-stream, the stream's events translated one by one and ended with ``[DONE]``,
and a stream that stops before the answer is whole. ``TranslatingProvider`` does it once; an
adapter gives the pure parts (``to_vendor``, ``from_vendor``, ``stream_translator``) and says
how its vendor reports errors. The vendor plugin guide (docs/guides/plugins.md) walks through one.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from types import MappingProxyType
from typing import Any, Protocol

import orjson
from attrs import field, frozen
from multidict import CIMultiDict

from sluicegate.client_headers import TRANSLATED, HeaderRule
from sluicegate.errors import GatewayError, UpstreamError, UpstreamUnavailable
from sluicegate.exchange import DONE, GatewayRequest, Reply, RequestContext, Result, SSEEvent, Target, sized
from sluicegate.sse import iter_sse
from sluicegate.transport import UpstreamResponse
from sluicegate.upstream import HttpProvider, error_message_from_body, forwardable_headers

#: What translating an answer of an unexpected shape raises (a list where an object was, a key
#: missing): the vendor's failure, a 502, never the client's request or a gateway bug's 500.
TRANSLATION_FAILURES = (ValueError, TypeError, AttributeError, KeyError, IndexError)

_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


@frozen
class VendorCall:
    """One call to the vendor, as ``to_vendor`` made it from the client's request."""

    url: str
    #: The request body, encoded once and sent as it is (held at its own size: ``sized``).
    body: bytes = field(converter=sized)
    #: This call's own headers (DashScope's SSE switch on a stream), over the provider's fixed ones.
    headers: Mapping[str, str] = _NO_HEADERS


class StreamTranslator(Protocol):
    """One vendor stream in, OpenAI ``chat.completion.chunk`` dicts out; one per stream."""

    @property
    def done(self) -> bool:
        """The answer is whole: the vendor's stream may end now (before, it was cut off)."""
        ...

    @property
    def ended(self) -> bool:
        """The vendor said its last word (Anthropic's ``message_stop``): ``finish()`` and
        ``[DONE]`` go out at once, and what follows is read unfed to free the connection. Stays
        false where usage may follow the finish (Bedrock's ``metadata`` event, DashScope's
        cumulative counts): there the end of the vendor's stream ends it."""
        ...

    def feed(self, data: Any) -> Iterable[dict[str, Any]]:
        """The chunks one event gives (``data`` is ``event_data``'s value); raises one of
        ``TRANSLATION_FAILURES`` on an event it cannot read."""
        ...

    def finish(self) -> Iterable[dict[str, Any]]:
        """The chunks after the last event (the usage chunk, when the client asked for it)."""
        ...


class TranslatingProvider(HttpProvider):
    """An HTTP vendor with its own dialect, serving OpenAI chat by translation.

    A subclass gives the pure parts: ``to_vendor`` (the request), ``from_vendor`` (a whole
    answer), ``stream_translator`` (a stream), and how its vendor reports errors: ``map_error``
    (an HTTP error status), ``reported_error`` (an answer or event that reports an error under a
    200), ``stream_error`` (an event marked as an error). Its fixed headers go in
    ``fixed_headers`` at ``__init__``. ``send`` does the rest.
    """

    #: The vendor's kind of answer, named in the 502 for one that is not: "not <answer_name>".
    answer_name = "a chat answer"
    #: The ``code`` of that 502.
    bad_answer_code = "upstream_bad_response"
    #: How a stream that stopped before the answer was whole ended, in its error.
    cut_off_message = "ended the stream before the answer finished"
    #: Client header prefixes that steer this vendor (``x-dashscope-``: SSE on a JSON call,
    #: another workspace): only the provider sends them.
    vendor_header_prefixes: tuple[str, ...] = ()

    def __init__(self, name, options, services) -> None:
        super().__init__(name, options, services)
        # The client speaks OpenAI, not this vendor: its SDK's and program's headers stay here.
        self._client_rule = TRANSLATED | HeaderRule(frozenset(), self.vendor_header_prefixes)
        headers = self.base_headers()
        headers["Content-Type"] = "application/json"
        #: Sent on every call, over the client's headers; a subclass adds its own after
        #: ``super().__init__``.
        self.fixed_headers = headers

    # -- what an adapter gives ------------------------------------------------------------------

    def to_vendor(self, req: GatewayRequest, target: Target) -> VendorCall:
        """The call for ``req`` at ``target``; raises ``InvalidRequest`` for what does not
        translate (before anything is sent)."""
        raise NotImplementedError

    def from_vendor(self, data: dict[str, Any], req: GatewayRequest, target: Target, created: int) -> dict[str, Any]:
        """The OpenAI ``chat.completion`` for the vendor's parsed answer ``data``; raises one of
        ``TRANSLATION_FAILURES`` for one it cannot read."""
        raise NotImplementedError

    def stream_translator(self, req: GatewayRequest, target: Target, created: int) -> StreamTranslator:
        """A fresh translator for one stream of ``req``."""
        raise NotImplementedError

    def reported_error(self, data: Any, *, mid_stream: bool) -> GatewayError | None:
        """The error a parsed answer or stream event sent with a 200 reports instead of a
        result; None for a result (the default: this vendor never does that)."""
        return None

    def stream_error(self, raw: bytes) -> GatewayError:
        """The error an event marked as one (``event: error``) reports; ``raw`` is its data,
        which need not be JSON."""
        message, code, kind = error_message_from_body(raw)
        error = UpstreamError(
            f"provider {self.name!r} reported an error mid-stream: {self.clean(message)}",
            provider=self.name,
            code=self.clean(code) if code else "upstream_error",
        )
        return self.classified(error, self.vendor_error_class(None, code, kind, message))

    async def call_credentials(self, call: VendorCall) -> Mapping[str, str]:
        """Headers that authenticate this one call, made from it or fetched when they expire (a
        request signature, a short-lived token); a fixed key belongs in ``auth_headers``."""
        return _NO_HEADERS

    def decode_stream(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[SSEEvent]:
        """The stream's body, as it arrives, cut into events: SSE here. A vendor that frames its
        stream otherwise (Bedrock's binary event stream) decodes it into ``SSEEvent`` values
        too: ``event`` the event's type (``"error"`` for one that reports an error, given to
        ``stream_error``), ``data`` its payload (given to ``event_data``)."""
        return iter_sse(chunks)

    def event_data(self, event: SSEEvent) -> Any:
        """What the translator is fed for one event: its data as a JSON object."""
        return self.parse(event.data)

    # -- what the base does ---------------------------------------------------------------------

    async def send(self, ctx: RequestContext, req: GatewayRequest, target: Target) -> Result:
        # Translated before anything is sent: untranslatable input is a 400 with no upstream call.
        call = self.to_vendor(req, target)
        created = int(self.services.wall_clock())
        translator = self.stream_translator(req, target, created) if req.stream else None
        headers = self.call_headers(ctx, call)
        headers.update(await self.call_credentials(call))
        response = await self.post(call.url, call.body, headers, req.stream)
        if translator is not None:
            return self.stream_reply(self._translated(response, translator), response)
        data = self.parse(await self.read_all(response))
        error = self.reported_error(data, mid_stream=False)
        if error is not None:
            raise error
        try:
            completion = self.from_vendor(data, req, target, created)
        except TRANSLATION_FAILURES:
            raise self.bad_answer() from None
        return Reply.from_data(completion)

    def call_headers(self, ctx: RequestContext, call: VendorCall) -> CIMultiDict[str]:
        """The client's forwardable headers, then the provider's, the call's and the request id."""
        headers = CIMultiDict(forwardable_headers(ctx.client_headers, self._client_rule))
        headers.update(self.fixed_headers)
        if call.headers:
            headers.update(call.headers)
        headers["X-Request-Id"] = ctx.request_id
        return headers

    async def _translated(self, response: UpstreamResponse, translator: StreamTranslator) -> AsyncIterator[SSEEvent]:
        # The base's SSE, unless a vendor decodes its own framing: ``events`` then decodes inline.
        decode = iter_sse if type(self).decode_stream is TranslatingProvider.decode_stream else self.decode_stream
        async for event in self.events(response, decode):
            if translator.ended:
                continue  # read to the end so the connection goes back to the pool
            if event.event == "error":
                raise self.stream_error(event.data)
            data = self.event_data(event)
            error = self.reported_error(data, mid_stream=True)
            if error is not None:
                raise error
            try:
                chunks = translator.feed(data)
            except TRANSLATION_FAILURES:
                raise self.bad_answer() from None
            for chunk in chunks:
                yield SSEEvent.from_data(chunk)
            if translator.ended:
                for last in self._last_events(translator):
                    yield last
        if translator.ended:
            return
        if not translator.done:
            raise self.cut_off()
        for last in self._last_events(translator):
            yield last

    def _last_events(self, translator: StreamTranslator) -> list[SSEEvent]:
        try:
            chunks = translator.finish()
        except TRANSLATION_FAILURES:
            raise self.bad_answer() from None
        return [*(SSEEvent.from_data(chunk) for chunk in chunks), DONE]

    def parse(self, raw: bytes) -> dict[str, Any]:
        """``raw`` as a JSON object, or the bad-answer 502."""
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise self.bad_answer() from None
        if not isinstance(data, dict):
            raise self.bad_answer()
        return data

    def bad_answer(self) -> UpstreamError:
        error = UpstreamError(
            f"provider {self.name!r} sent an answer that is not {self.answer_name}",
            provider=self.name,
            code=self.bad_answer_code,
        )
        # A 502 (UpstreamError's status): the vendor failed, not the request, so it is retried.
        return self.classified(error)

    def cut_off(self) -> UpstreamUnavailable:
        return UpstreamUnavailable(f"provider {self.name!r} {self.cut_off_message}", provider=self.name, retryable=True)
