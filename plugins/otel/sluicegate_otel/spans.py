"""Spans from a finished request's record: one SERVER span, and a CLIENT child per upstream
attempt, named and attributed per the OpenTelemetry GenAI and HTTP semantic conventions.

Everything that depends only on the config (operation names, provider attributes, the vendor's
host and port) is worked out once, when the extension is built; per request the spans are made
with the record's own timestamps, after the fact, so nothing here waits or does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from opentelemetry.context import Context
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    Tracer,
    set_span_in_context,
)

from sluicegate.telemetry import AttemptRecord, RequestRecord

#: GenAI ``gen_ai.operation.name`` by route template.
OPERATIONS: Mapping[str, str] = {
    "/v1/chat/completions": "chat",
    "/v1/messages": "chat",
    "/v1/completions": "text_completion",
    "/v1/embeddings": "embeddings",
    # Not a GenAI well-known value; the conventions allow a custom one.
    "/v1/moderations": "moderations",
}

_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_NS = 1_000_000_000
#: The ``record.extras`` key of the cost's currency (the pricing extension's).
CURRENCY = "currency"


def parent_context(header: str) -> Context | None:
    """The context of a W3C ``traceparent`` (as a remote parent), or None if it is not valid."""
    match = _TRACEPARENT.fullmatch(header)
    if match is None:
        return None
    version, trace_hex, span_hex, flags = match.groups()
    trace_id, span_id = int(trace_hex, 16), int(span_hex, 16)
    if version == "ff" or not trace_id or not span_id:
        return None
    remote = SpanContext(trace_id, span_id, is_remote=True,
                         trace_flags=TraceFlags(int(flags, 16) & TraceFlags.SAMPLED))
    return set_span_in_context(NonRecordingSpan(remote), Context())


def provider_attributes(config: Any) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Per provider id: the attributes of the request span and of its attempt spans.

    ``gen_ai.provider.name`` is the provider's plugin type ("openai" for any OpenAI-compatible
    vendor: the wire format, which is what the conventions' name discriminates); the older
    ``gen_ai.system`` carries the same for tools that still read it. Attempt spans also say
    where they went (``server.address``/``server.port`` of the base URL, never the URL itself).
    """
    on_request: dict[str, dict[str, Any]] = {}
    on_attempt: dict[str, dict[str, Any]] = {}
    for provider_id, options in config.providers.items():
        vendor = {"gen_ai.provider.name": options.type, "gen_ai.system": options.type,
                  "sluicegate.provider": provider_id}
        on_request[provider_id] = vendor
        on_attempt[provider_id] = {**vendor, **_server_of(getattr(options, "base_url", None))}
    return on_request, on_attempt


def _server_of(base_url: str | None) -> dict[str, Any]:
    if not base_url:
        return {}
    try:
        parts = urlsplit(base_url)
        port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    except ValueError:
        return {}
    found: dict[str, Any] = {}
    if parts.hostname:
        found["server.address"] = parts.hostname
        if port:
            found["server.port"] = port
    return found


_ERROR = StatusCode.ERROR


class SpanMaker:
    """Turns records into spans on one tracer; built once per assembly."""

    def __init__(self, tracer: Tracer, config: Any, *, honour_traceparent: bool, all_routes: bool) -> None:
        self.tracer = tracer
        self.honour_traceparent = honour_traceparent
        self.all_routes = all_routes
        self._on_request, self._on_attempt = provider_attributes(config)
        # The attributes every span of a route starts from, so a request copies one dict.
        self._routes = {
            route: {"gen_ai.operation.name": op, "http.route": route} for route, op in OPERATIONS.items()
        }
        # A fresh root for spans without a parent: never the ambient context, which may hold some
        # other instrumentation's span.
        self._root = Context()

    def __call__(self, record: RequestRecord) -> None:
        if record.api:
            self._api_request(record)
        elif self.all_routes:
            self._other_request(record)

    # -- the request span ----------------------------------------------------------------------

    def _parent(self, record: RequestRecord) -> Context:
        if self.honour_traceparent and record.trace_parent is not None:
            return parent_context(record.trace_parent) or self._root
        return self._root

    @staticmethod
    def _window(record: RequestRecord) -> tuple[int, int]:
        start = int(record.started_at * _NS)
        latency = record.latency if record.latency is not None and record.latency > 0 else 0.0
        return start, start + int(latency * _NS)

    def _api_request(self, record: RequestRecord) -> None:
        base = self._routes.get(record.route)
        operation = base["gen_ai.operation.name"] if base is not None else record.api
        # Named after the bounded model label (an alias or a configured target), not the raw
        # model a client typed: span names feed backends' operation lists.
        name = f"{operation} {record.model_label}" if record.model_label else operation
        start, end = self._window(record)
        span = self.tracer.start_span(name, self._parent(record), SpanKind.SERVER, start_time=start)
        if not span.is_recording():  # sampled out: build nothing more
            return
        attributes: dict[str, Any] = dict(base) if base is not None else {"gen_ai.operation.name": operation}
        attributes["http.request.method"] = record.method
        if record.status:
            attributes["http.response.status_code"] = record.status
        attributes["sluicegate.request_id"] = record.request_id
        if record.stream:
            attributes["sluicegate.stream"] = True
        if record.model is not None:
            attributes["gen_ai.request.model"] = record.model
        if record.provider is not None:
            attributes.update(self._on_request.get(record.provider) or {"sluicegate.provider": record.provider})
        if record.upstream_model is not None:
            attributes["gen_ai.response.model"] = record.upstream_model
        if record.target_label is not None:
            attributes["sluicegate.target"] = record.target_label
        if record.tokens_in is not None:
            attributes["gen_ai.usage.input_tokens"] = record.tokens_in
        if record.tokens_out is not None:
            attributes["gen_ai.usage.output_tokens"] = record.tokens_out
        if record.client is not None:
            attributes["sluicegate.client"] = record.client  # the token's configured name
        attempts = record.attempts
        attributes["sluicegate.attempts"] = len(attempts)
        if len(attempts) > 1:
            attributes["sluicegate.retries"] = record.retries
            attributes["sluicegate.fallback"] = record.fallback
        if record.hedged:
            attributes["sluicegate.hedged"] = True
        if record.cache is not None:
            attributes["sluicegate.cache"] = record.cache
        if record.cost is not None:
            attributes["sluicegate.cost"] = record.cost
            currency = record.extras.get(CURRENCY)  # left there by the pricing extension
            if currency is not None:
                attributes["sluicegate.cost.currency"] = currency
        if record.ttft is not None:
            attributes["sluicegate.ttft"] = record.ttft
        if record.limited is not None:
            attributes["sluicegate.limited"] = record.limited
        if record.degraded:
            attributes["sluicegate.degraded"] = True
        failed = _mark_error(record, attributes)
        span.set_attributes(attributes)
        if failed:
            span.set_status(Status(_ERROR, record.error_code or record.error_class))
        if attempts:
            self._attempts(record, span, operation, start, end)
        span.end(end_time=end)

    def _other_request(self, record: RequestRecord) -> None:
        matched = record.route != "unmatched"
        # HTTP conventions: "{method} {route}", the method alone when no route matched.
        name = f"{record.method} {record.route}" if matched else record.method
        start, end = self._window(record)
        span = self.tracer.start_span(name, self._parent(record), SpanKind.SERVER, start_time=start)
        if not span.is_recording():
            return
        attributes: dict[str, Any] = {"http.request.method": record.method, "sluicegate.request_id": record.request_id}
        if record.status:
            attributes["http.response.status_code"] = record.status
        if matched:
            attributes["http.route"] = record.route
        failed = _mark_error(record, attributes)
        span.set_attributes(attributes)
        if failed:
            span.set_status(Status(_ERROR, record.error_code))
        span.end(end_time=end)

    # -- the attempt spans ---------------------------------------------------------------------

    def _attempts(self, record: RequestRecord, parent: Any, operation: str, start: int, end: int) -> None:
        context = set_span_in_context(parent, self._root)
        attempts = record.attempts
        answered = _answering(attempts)
        window = end - start
        for number, attempt in enumerate(attempts, start=1):
            # Attempts are timed on the router's clock, the request on the edge's: both
            # monotonic by default. Offsets are kept inside the request's window so a clock a
            # test swapped cannot put a child outside its parent.
            offset = min(max(int((attempt.started - record.started) * _NS), 0), window)
            began = start + offset
            if attempt is answered and record.stream:
                finished = end  # the upstream stream stays open until the client's ends
            else:
                finished = min(began + max(int(attempt.duration * _NS), 0), end)
            attributes = dict(self._on_attempt.get(attempt.provider) or {"sluicegate.provider": attempt.provider})
            attributes["gen_ai.operation.name"] = operation
            attributes["gen_ai.request.model"] = attempt.model
            attributes["sluicegate.attempt"] = number
            if attempt.status is not None:
                attributes["http.response.status_code"] = attempt.status
            error = attempt.error_class
            if attempt is answered:
                attributes["gen_ai.response.model"] = attempt.model
                if record.tokens_in is not None:
                    attributes["gen_ai.usage.input_tokens"] = record.tokens_in
                if record.tokens_out is not None:
                    attributes["gen_ai.usage.output_tokens"] = record.tokens_out
            elif error == "cancelled":
                # A hedge that lost, or a client that left: stopped by the gateway, not failed.
                attributes["sluicegate.cancelled"] = True
                error = None
            elif error is not None:
                attributes["error.type"] = error
            # "{operation} {model}" with the configured model, "*" for one a client typed.
            name = f"{operation} {attempt.label.partition('/')[2]}"
            child = self.tracer.start_span(name, context, SpanKind.CLIENT, attributes=attributes, start_time=began)
            if error is not None:
                child.set_status(Status(_ERROR, error))
            child.end(end_time=finished)


def _answering(attempts: list[AttemptRecord]) -> AttemptRecord | None:
    for attempt in reversed(attempts):
        if attempt.error_class is None and attempt.status is not None and attempt.status < 400:
            return attempt
    return None


def _mark_error(record: RequestRecord, attributes: dict[str, Any]) -> bool:
    """Set ``error.type`` for any failure; True when the span's status should be ERROR.

    Like the HTTP conventions for servers, a 4xx is the client's error and leaves the status
    unset; a 5xx, or a stream that broke after its 200, is the gateway's.
    """
    status = record.status
    broken_stream = status < 400 and record.error_class is not None
    if status < 400 and not broken_stream:
        return False
    attributes["error.type"] = record.error_code or record.error_class or (
        "cancelled" if status == 499 else str(status)
    )
    if record.error_class is not None:
        attributes["sluicegate.error_class"] = record.error_class
    return status >= 500 or broken_stream
