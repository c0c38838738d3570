"""The Prometheus metric families of one gateway: made once, kept across config reloads, rendered
from a registry of their own or, under ``sluicegate serve --workers N``, from the shared files."""

from __future__ import annotations

import logging
import os
from bisect import bisect_left
from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from sluicegate import __version__
from sluicegate.errors import ConfigError, ConfigProblem
from sluicegate.resilience.classify import ErrorClass

log = logging.getLogger("sluicegate")

#: prometheus-client reads this when it is imported: set, every value lives in a file of that
#: directory, one per process, and a scrape adds up the files of all processes.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

#: Seconds; LLM calls run from a fraction of a second to minutes.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
TTFT_BUCKETS = (0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)

# Values the label sets accept; anything else (a plugin's novelty) is folded into one value.
ERROR_CLASSES = frozenset({*(c.value for c in ErrorClass), "stream_error", "cancelled"})
CACHE_RESULTS = frozenset({"hit", "miss", "bypass", "coalesced"})
LIMIT_SCOPES = frozenset({"client", "model", "provider", "concurrency"})

#: ``sluicegate_breaker_state`` values: higher is worse, so the aggregate over workers (their
#: maximum) shows the worst any live worker sees.
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}


def multiprocess_dir() -> str | None:
    """The directory the workers share, when prometheus-client runs in multiprocess mode.

    Raises ``ConfigError`` when it is set but cannot be made (every metric would fail on it).
    """
    path = os.environ.get(MULTIPROC_ENV) or os.environ.get(MULTIPROC_ENV.lower())
    if values.ValueClass is values.MutexValue:
        if path:
            log.warning("%s was set after prometheus_client was imported; /metrics covers this process only",
                        MULTIPROC_ENV)
        return None
    if path:
        try:
            os.makedirs(path, exist_ok=True)  # `serve --workers` makes it; a single process may not have
        except OSError as exc:
            raise ConfigError([ConfigProblem("", f"{MULTIPROC_ENV} ({path}) is not a usable directory: "
                                                 f"{exc.strerror or exc}")]) from None
    return path


#: Seconds between two flushes of what the request path counted (``Families.flush``): how far
#: behind the other workers' counts a scrape of one worker may be.
FLUSH_EVERY = 1.0


class Observed:
    """A histogram child's observations since the last flush: their sum and count per bucket.

    ``add`` is ``Histogram.observe`` without its lock and per-bucket loop; ``flush`` adds the
    totals to the child's own values (``_sum`` and the per-bucket ``_buckets``, which hold each
    bucket's own count, made cumulative when collected). Those are prometheus-client internals
    (stable since 0.4); ``test_metrics`` checks the exposition against ``observe``'s."""

    __slots__ = ("child", "bounds", "sum", "counts", "count")

    def __init__(self, child: Any) -> None:
        self.child = child
        self.bounds: tuple[float, ...] = tuple(child._upper_bounds)  # ends with +Inf
        self.sum = 0.0
        self.counts = [0] * len(self.bounds)
        self.count = 0

    def add(self, value: float) -> None:
        self.sum += value
        self.count += 1
        if value == value:  # a NaN goes into the sum only, as with ``observe``
            self.counts[bisect_left(self.bounds, value)] += 1

    def flush(self) -> None:
        child = self.child
        child._sum.inc(self.sum)
        for bucket, count in zip(child._buckets, self.counts, strict=True):
            if count:
                bucket.inc(count)
        self.sum, self.count = 0.0, 0
        self.counts = [0] * len(self.bounds)


class Families:
    """Every metric object of one gateway plus the label children looked up so far.

    Made by the first assembly that enables metrics and kept in ``Services.lasting``, so
    counters run on across reloads. Each gateway has its own ``CollectorRegistry`` (never the
    global one), so two gateways in one process (tests) never clash. In multiprocess mode the
    metrics register nowhere: their values go to per-process files and the registry that is
    rendered holds only a ``MultiProcessCollector`` reading all of them.
    """

    def __init__(self, latency_buckets: Sequence[float], ttft_buckets: Sequence[float],
                 multiprocess: str | None) -> None:
        self.latency_buckets = tuple(latency_buckets)
        self.ttft_buckets = tuple(ttft_buckets)
        self.multiprocess = multiprocess
        own = None if multiprocess else CollectorRegistry()
        if multiprocess:
            self.registry = CollectorRegistry()
            MultiProcessCollector(self.registry, path=multiprocess)
        else:
            self.registry = own

        def counter(name: str, doc: str, *labels: str) -> Counter:
            return Counter(name, doc, labels, registry=own)

        def gauge(name: str, doc: str, mode: str, *labels: str) -> Gauge:
            return Gauge(name, doc, labels, registry=own, multiprocess_mode=mode)

        self.requests = counter("sluicegate_requests", "HTTP requests answered.",
                                "route", "model", "provider", "status_class")
        self.errors = counter("sluicegate_request_errors", "Requests that ended in an error, by error class.",
                              "route", "model", "error_class")
        self.latency = Histogram("sluicegate_request_duration_seconds",
                                 "Seconds from a request's arrival to its last byte.",
                                 ("route", "model"), registry=own, buckets=self.latency_buckets)
        self.ttft = Histogram("sluicegate_time_to_first_token_seconds",
                              "Streams: seconds from a request's arrival to its first event.",
                              ("model", "provider"), registry=own, buckets=self.ttft_buckets)
        self.in_flight = gauge("sluicegate_requests_in_flight", "Requests being served now.", "livesum", "route")
        self.attempts = counter("sluicegate_upstream_attempts", "Calls to vendors, by outcome (ok or error class).",
                                "provider", "target", "outcome")
        self.retries = counter("sluicegate_retries", "Upstream calls that repeated a target already tried.", "model")
        self.fallbacks = counter("sluicegate_fallbacks", "Requests that called more than one target.", "model")
        self.hedged = counter("sluicegate_hedged_requests", "Requests answered by a hedged (parallel) call.", "model")
        self.degraded = counter("sluicegate_degraded_responses",
                                "Requests answered by the [degrade] fallback reply.", "model")
        self.breaker_state = gauge("sluicegate_breaker_state",
                                   "Circuit breaker state per target: 0 closed, 1 half-open, 2 open.",
                                   "livemax", "target")
        self.breaker_transitions = counter("sluicegate_breaker_transitions", "Circuit breaker state changes.",
                                           "target", "from_state", "to_state")
        self.cache = counter("sluicegate_cache_results", "Response-cache outcomes (hit, miss, bypass, coalesced).",
                             "model", "result")
        self.limited = counter("sluicegate_ratelimit_rejections", "Requests refused by a gateway rate limit.",
                               "scope")
        self.tokens = counter("sluicegate_tokens", "Tokens vendors reported, in (prompt) and out (completion); cache hits excluded.",
                              "model", "provider", "direction")
        self.cost = counter("sluicegate_cost", "Estimated spend (from [pricing]), in the currency named.",
                            "model", "provider", "currency")
        self.backend_failures = counter("sluicegate_backend_failures",
                                        "Failed calls to a shared backend (Redis); the gateway failed open.",
                                        "backend", "feature")
        self.reloads = counter("sluicegate_config_reloads", "Config reloads tried, by result (ok, refused).",
                               "result")
        self.reload_ok = gauge("sluicegate_config_last_reload_successful",
                               "1 if the last config reload was taken (or none was tried), 0 if refused.", "livemin")
        self.reload_ok.set(1)
        build = gauge("sluicegate_build_info", "The running sluicegate version (value 1).", "livemax", "version")
        build.labels(__version__).set(1)
        # Label children by label values, so a request costs dict lookups, not labels() calls.
        self.in_flight_children: dict[str, Any] = {}
        self.attempt_children: dict[tuple[str, str, str], Any] = {}
        self.limited_children: dict[str, Any] = {}
        self.breakers_seen: set[str] = set()
        # The metrics extension's per-(route, model, provider, status) bundles of children.
        self.series: dict[tuple[str, str, str, int], Any] = {}
        # What the request path counted since the last flush, in plain Python: a prometheus
        # child's ``inc`` takes a lock (and, with workers, writes a file) every call.
        # Counter or gauge child -> the amount to add; histogram child -> its ``Observed``.
        self.pending: dict[Any, float] = {}
        self.observed: dict[Any, Observed] = {}
        # Called on the event loop by ``flush``: plugins that sum on the request path in plain
        # Python hand their sums to their metrics here.
        self.flushers: list[Callable[[], None]] = []

    def observed_for(self, child: Any) -> Observed:
        """The pending observations of histogram ``child`` (one of this gateway's histograms)."""
        observed = self.observed.get(child)
        if observed is None:
            observed = self.observed[child] = Observed(child)
        return observed

    def flush(self) -> None:
        """Hand what was counted since the last flush to the metrics, then run the ``flushers``.
        On the event loop, where the counting happens: before a scrape is rendered, and every
        ``FLUSH_EVERY`` seconds (with workers, what the other workers' scrapes read)."""
        pending = self.pending
        if pending:
            for child, amount in pending.items():
                if amount:
                    child.inc(amount)
            pending.clear()
        for observed in self.observed.values():
            if observed.count:
                observed.flush()
        for flusher in self.flushers:
            flusher()

    def in_flight_for(self, route: str) -> Any:
        """The in-flight gauge's value for ``route``: its ``inc(amount)`` (``-1`` to decrease)
        is the gauge's own, without ``Gauge.inc``'s checks of a gauge this module made (two
        calls a request each way; prometheus-client's ``_value``, pinned below 1.0 like
        ``Observed``'s internals)."""
        value = self.in_flight_children.get(route)
        if value is None:
            value = self.in_flight_children[route] = self.in_flight.labels(route)._value
        return value

    def attempt_for(self, provider: str, target: str, outcome: str) -> Any:
        """``outcome`` is "ok" or an error class; any other value is counted as "unknown"."""
        key = (provider, target, outcome)
        child = self.attempt_children.get(key)
        if child is None:
            known = outcome == "ok" or outcome in ERROR_CLASSES
            child = self.attempt_children[key] = self.attempts.labels(provider, target, outcome if known else "unknown")
        return child

    def limited_for(self, scope: str) -> Any:
        child = self.limited_children.get(scope)
        if child is None:
            child = self.limited_children[scope] = self.limited.labels(scope)
        return child

    def set_breaker(self, target: str, state: str) -> None:
        value = BREAKER_STATES.get(state)
        if value is not None:
            self.breakers_seen.add(target)
            self.breaker_state.labels(target).set(value)

    def refresh_breakers(self, board: Any, label_of: Callable[[str], str]) -> None:
        """Set every target's state gauge from the serving board, before a scrape.

        Events alone would leave a gauge stale where no event comes: an open breaker turns
        half-open only when looked at, and a reload starts a fresh board without a word.
        """
        snapshot = board.snapshot() if board is not None else {}
        worst: dict[str, int] = {}
        for key, facts in snapshot.items():
            value = BREAKER_STATES.get(str(facts.get("state")))
            if value is not None:
                label = label_of(key)
                worst[label] = max(worst.get(label, 0), value)
        for target in self.breakers_seen - worst.keys():
            self.breaker_state.labels(target).set(0)  # not on the serving board: a fresh, closed one
        for target, value in worst.items():
            self.breakers_seen.add(target)
            self.breaker_state.labels(target).set(value)

    def render(self, accept: str | None) -> tuple[bytes, str]:
        """The exposition (text, or OpenMetrics when asked) and its content type. Reads the
        multiprocess files, so call it from a thread, not the event loop."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type
