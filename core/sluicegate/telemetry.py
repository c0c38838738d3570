"""What the gateway reports about itself: the record of each request, and the hub that hands
records and events to the extensions watching (metrics, access log, pricing, tracing)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from attrs import define, field

from sluicegate.usage import StreamObserver, cache_counts, hour_cache_writes, usage_counts

log = logging.getLogger("sluicegate")


@define(slots=True)
class AttemptRecord:
    """One upstream call of a request."""

    provider: str
    model: str
    #: "provider/model" when configured (an alias target or a provider's listed model), else
    #: "provider/*": safe as a metric label, unlike the model name a client typed.
    label: str
    started: float  # the router's clock
    duration: float
    #: None when the call answered; else the error class (``ErrorClass`` value).
    error_class: str | None = None
    status: int | None = None


@define(slots=True)
class RequestRecord:
    """The facts of one HTTP request, filled in as it goes and handed to extensions at its end.

    Fields named ``*_label`` and ``route`` only ever hold configured names or fixed strings, so
    they are safe as metric labels; ``model`` and ``path`` are what the client sent.
    """

    request_id: str
    method: str
    path: str
    started: float  # time.monotonic()
    started_at: float  # time.time(), for logs
    #: The route's template ("/v1/chat/completions", "/health"); "unmatched" for unknown paths.
    route: str = "unmatched"
    #: "openai" or "anthropic" for API calls, "" for everything else (health, metrics, admin).
    api: str = ""
    client: str | None = None  # the client token's configured name, never the token
    tenant: str | None = None
    key_id: str | None = None  # an issued key's id and its team's (Identity), never the key
    team_id: str | None = None
    model: str | None = None
    model_label: str | None = None  # the alias, or a target label
    stream: bool = False
    provider: str | None = None  # the target that answered (or was tried last)
    upstream_model: str | None = None
    target_label: str | None = None
    status: int = 0
    error_code: str | None = None
    error_class: str | None = None
    attempts: list[AttemptRecord] = field(factory=list)
    hedged: bool = False
    cache: str | None = None  # hit, miss, bypass, coalesced
    limited: str | None = None  # which gateway limit refused the request (client, model, ...)
    degraded: bool = False
    tokens_in: int | None = None
    tokens_out: int | None = None
    #: Of ``tokens_in``: read from the vendor's prompt cache, and written to it (Anthropic).
    tokens_cached: int | None = None
    tokens_cache_written: int | None = None
    #: Of ``tokens_cache_written``: those written for an hour (Anthropic's 1-hour cache).
    tokens_cache_written_1h: int | None = None
    cost: float | None = None
    latency: float | None = None  # seconds until the last byte
    ttft: float | None = None  # streams: seconds until the first event reached the client
    #: The client's W3C ``traceparent`` header, when it sent a valid-looking one (for tracing).
    trace_parent: str | None = None
    #: Extensions may add their own facts here for the ones after them (e.g. a currency).
    extras: dict[str, Any] = field(factory=dict)

    #: Someone reads this record (a ``NullRecord`` stands in when no extension watches).
    watching: ClassVar[bool] = True

    def note_reply(self, reply: Any) -> None:
        """Put the usage a complete answer reports (``Reply.usage``, parsed once) on the record."""
        self.note_usage(reply.usage)

    def note_usage(self, usage: Any) -> None:
        """Put a usage object's counts (either dialect) on the record."""
        self.tokens_in, self.tokens_out = usage_counts(usage)
        self.tokens_cached, self.tokens_cache_written = cache_counts(usage)
        if self.tokens_cache_written:
            self.tokens_cache_written_1h = hour_cache_writes(usage)

    def stream_observer(self, ctx: Any, hide_usage: bool) -> StreamObserver | None:
        """The observer the stream writer feeds, to read the stream's usage for this record
        (``RequestContext.writer_observer``: None when one in the chain reads it already)."""
        return ctx.writer_observer(hide_usage=hide_usage)

    def note_stream(self, observer: StreamObserver | None) -> None:
        """Put what a stream reported (read by its observer) on the record."""
        if observer is not None:
            usage = observer.usage
            self.tokens_in, self.tokens_out = usage.prompt, usage.completion
            self.tokens_cached, self.tokens_cache_written = usage.cached, usage.written
            self.tokens_cache_written_1h = usage.written_for_an_hour

    @property
    def retries(self) -> int:
        """Calls that repeated a target already tried."""
        seen: set[tuple[str, str]] = set()
        repeats = 0
        for attempt in self.attempts:
            key = (attempt.provider, attempt.model)
            repeats += key in seen
            seen.add(key)
        return repeats

    @property
    def fallback(self) -> bool:
        """Whether more than one target was called."""
        first = self.attempts[0] if self.attempts else None
        return first is not None and any(
            (a.provider, a.model) != (first.provider, first.model) for a in self.attempts
        )

    @property
    def status_class(self) -> str:
        return f"{self.status // 100}xx" if self.status else "none"


class NullRecord:
    """The request record when no extension watches requests: whatever is noted is dropped.

    It lets the handler note facts on one path without building a record nobody reads; what
    costs more than an assignment to find out (a reply's usage, a stream's) is looked up by
    the record's own methods, which here do nothing.
    """

    __slots__ = ()
    watching: ClassVar[bool] = False
    started = 0.0
    status = 0

    def __setattr__(self, name: str, value: Any) -> None:
        pass

    def note_reply(self, reply: Any) -> None:
        pass

    def note_usage(self, usage: Any) -> None:
        pass

    def stream_observer(self, ctx: Any, hide_usage: bool) -> StreamObserver | None:
        return None

    def note_stream(self, observer: StreamObserver | None) -> None:
        pass


#: The one NullRecord (it holds nothing, so requests can share it).
NO_RECORD = NullRecord()


#: The methods an extension object may implement; each is found once, at assembly.
EVENTS = ("request_started", "request_finished", "breaker_changed", "backend_failed", "config_reloaded")


class Telemetry:
    """Calls each extension's handler of an event, in the extensions' order.

    Handlers are plain synchronous functions on the request path: they must be quick and never
    block (an access log queues its lines for a thread). One that raises is logged and skipped,
    so a broken extension cannot fail a request.
    """

    def __init__(self, extensions: Sequence[tuple[str, Any]] = (), known_targets: frozenset[str] = frozenset()) -> None:
        self.watching = False
        self.known_targets = known_targets
        self._handlers: dict[str, tuple[tuple[str, Callable[..., None]], ...]] = {}
        self.bind(extensions)

    def bind(self, extensions: Sequence[tuple[str, Any]]) -> None:
        for event in EVENTS:
            self._handlers[event] = tuple(
                (name, getattr(ext, event)) for name, ext in extensions if callable(getattr(ext, event, None))
            )
        self._started = self._handlers["request_started"]
        self._finished = self._handlers["request_finished"]
        self.watching = bool(self._started or self._finished)

    def target_label(self, label: str) -> str:
        """``label`` if configured, else "provider/*" (clients may name any model)."""
        if label in self.known_targets:
            return label
        return label.partition("/")[0] + "/*"

    def _emit(self, event: str, *args: Any) -> None:
        for name, handler in self._handlers[event]:
            try:
                handler(*args)
            except Exception:
                log.exception("extension %s failed in %s", name, event)

    # The two events of every request: their handlers looked up once (``bind``) and called here,
    # without ``_emit``'s lookup and call.

    def request_started(self, record: RequestRecord) -> None:
        for name, handler in self._started:
            try:
                handler(record)
            except Exception:
                log.exception("extension %s failed in request_started", name)

    def request_finished(self, record: RequestRecord) -> None:
        for name, handler in self._finished:
            try:
                handler(record)
            except Exception:
                log.exception("extension %s failed in request_finished", name)

    def breaker_changed(self, target: str, old: str, new: str) -> None:
        """A circuit breaker moved (``closed``, ``open``, ``half_open``); ``target`` is "provider/model"."""
        if self._handlers["breaker_changed"]:
            self._emit("breaker_changed", self.target_label(target), str(old), str(new))

    def config_reloaded(self, ok: bool) -> None:
        """A reload was tried: ``ok`` False means it was refused and the old config serves on."""
        if self._handlers["config_reloaded"]:
            self._emit("config_reloaded", ok)

    def backend_failed(self, backend: str, feature: str) -> None:
        """A shared backend (``redis``) failed a ``feature`` (cache, ratelimit, breaker) call."""
        if self._handlers["backend_failed"]:
            self._emit("backend_failed", backend, feature)


def known_target_labels(config: Any) -> frozenset[str]:
    """Every "provider/model" the config names: alias targets, context fallbacks, listed models."""
    labels = {
        target
        for model in config.models.values()
        for target in (*model.targets, *model.context_fallbacks)
    }
    labels.update(f"{pid}/{name}" for pid, options in config.providers.items() for name in options.models)
    return frozenset(labels)

