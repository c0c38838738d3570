"""The ``metrics`` extension: turns request records and gateway events into Prometheus metrics.

Every label value is bounded: route templates, configured aliases and target labels, provider
ids, status and error classes and fixed enums. Nothing a client typed (its model name, its
path) ever becomes a label, so a client cannot grow the series count.

Also the default plugin ``sluicegate.metrics``: the extension (``[metrics]``, on by default) and
the scrape route (``GET /metrics``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from attrs import define, field

from sluicegate.errors import AuthenticationFailed, ConfigError, ConfigProblem, RouteNotFound
from sluicegate.extensions.metrics_families import (
    BREAKER_STATES,
    CACHE_RESULTS,
    ERROR_CLASSES,
    FLUSH_EVERY,
    LATENCY_BUCKETS,
    LIMIT_SCOPES,
    TTFT_BUCKETS,
    Families,
    multiprocess_dir,
)
from sluicegate.hookspecs import hookimpl
from sluicegate.plugin_options import FeatureOptions
from sluicegate.secrets import Secret
from sluicegate.telemetry import RequestRecord

log = logging.getLogger("sluicegate")

#: Order among extensions: after ``pricing`` (100), which fills ``record.cost``.
ORDER = 500

#: Services.lasting keys: the gateway's Families, shared by every assembly, and the path the
#: scrape route was added at (by the plugin, when the app was made).
LASTING_KEY = "metrics"
PATH_KEY = "metrics.path"
#: ``record.cache`` values whose answer came without a vendor call of its own.
SERVED_BY_CACHE = frozenset({"hit", "coalesced"})

# Paths that belong to the gateway's own routes.
RESERVED_PREFIXES = ("/v1/", "/admin", "/health")


def _path(_: Any, attribute: Any, value: str) -> None:
    if not value.startswith("/") or value == "/" or any(c in value for c in " {}?#"):
        raise ValueError(f"must be a plain path such as \"/metrics\", got {value!r}")
    if value.startswith(RESERVED_PREFIXES) or value == "/v1":
        raise ValueError(f"{value!r} is a route of the gateway's own; pick another (e.g. \"/metrics\")")


def _buckets(_: Any, attribute: Any, value: list[float]) -> None:
    # The key is named in the message: for a list the problem's path stops at the table.
    name = attribute.name
    if not value:
        raise ValueError(f"{name} must list at least one bound (seconds)")
    if any(bound <= 0 for bound in value):
        raise ValueError(f"{name} bounds must be greater than 0")
    if any(b <= a for a, b in zip(value, value[1:], strict=False)):
        raise ValueError(f"{name} bounds must increase strictly")
    if len(value) > 40:
        raise ValueError(f"{name}: at most 40 bounds (each is a series per label set), got {len(value)}")


@define(kw_only=True)
class MetricsOptions(FeatureOptions):
    """``[metrics]``: on by default; ``enabled = false`` turns ``/metrics`` into a 404."""

    # Where Prometheus scrapes. Read when the server starts: a change needs a restart.
    path: str = field(default="/metrics", validator=_path)
    # When set, a scrape must send "Authorization: Bearer <token>".
    token: Secret | None = None
    # Histogram bucket bounds in seconds: request latency, and time to first token of streams.
    # Fixed at the first start (a histogram cannot change its buckets): a change needs a restart.
    latency_buckets: list[float] = field(factory=lambda: list(LATENCY_BUCKETS), validator=_buckets)
    ttft_buckets: list[float] = field(factory=lambda: list(TTFT_BUCKETS), validator=_buckets)


#: How each lazily made child of a series is labelled: made on first use, so a route that never
#: streams (or a model never cached) adds no idle series.
_CHILDREN = {
    "ttft": lambda f, s: f.observed_for(f.ttft.labels(s.model, s.provider)),
    "tokens_in": lambda f, s: f.tokens.labels(s.model, s.provider, "in"),
    "tokens_out": lambda f, s: f.tokens.labels(s.model, s.provider, "out"),
    "retries": lambda f, s: f.retries.labels(s.model),
    "fallbacks": lambda f, s: f.fallbacks.labels(s.model),
    "hedged": lambda f, s: f.hedged.labels(s.model),
    "degraded": lambda f, s: f.degraded.labels(s.model),
}


class _Series:
    """The children one (route, model, provider, status) combination updates, found once."""

    __slots__ = ("families", "route", "model", "provider", "requests", "latency", "children")

    def __init__(self, families: Families, route: str, model: str, provider: str, status: int) -> None:
        self.families = families
        self.route, self.model, self.provider = route, model, provider
        status_class = f"{status // 100}xx" if status else "none"
        self.requests = families.requests.labels(route, model, provider, status_class)
        self.latency = families.observed_for(families.latency.labels(route, model))
        self.children: dict[Any, Any] = {}

    def __getitem__(self, kind: str) -> Any:
        child = self.children.get(kind)
        if child is None:
            child = self.children[kind] = _CHILDREN[kind](self.families, self)
        return child

    def error(self, error_class: str) -> Any:
        key = ("error", error_class)
        child = self.children.get(key)
        if child is None:
            value = error_class if error_class in ERROR_CLASSES else "unknown"
            child = self.children[key] = self.families.errors.labels(self.route, self.model, value)
        return child

    def cache(self, result: str) -> Any:
        key = ("cache", result)
        child = self.children.get(key)
        if child is None:
            value = result if result in CACHE_RESULTS else "other"
            child = self.children[key] = self.families.cache.labels(self.model, value)
        return child

    def cost(self, currency: Any) -> Any:
        key = ("cost", currency)
        child = self.children.get(key)
        if child is None:
            # From [pricing] (a config value, so bounded); anything else is folded.
            ok = isinstance(currency, str) and 0 < len(currency) <= 16 and currency.isprintable()
            value = currency if ok else "other"
            child = self.children[key] = self.families.cost.labels(self.model, self.provider, value)
        return child


class Metrics:
    """One assembly's metrics extension; the metric objects themselves live in ``families``."""

    def __init__(self, options: MetricsOptions, families: Families,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.options = options
        self.families = families
        self.sleep = sleep
        self._task: asyncio.Task[None] | None = None
        token = options.token.reveal() if options.token else ""
        self._token = token.encode() if token else None
        # Kept with the families: a reload need not look the children up again.
        self._series: dict[tuple[str, str, str, int], _Series] = families.series

    # -- life ------------------------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._flush_every())

    async def _flush_every(self) -> None:
        """Flush every ``FLUSH_EVERY`` seconds: a scrape flushes its own worker's counts, and
        this bounds how far behind it the other workers' files are."""
        while True:
            await self.sleep(FLUSH_EVERY)
            self.flush()

    def flush(self) -> None:
        try:
            self.families.flush()
        except Exception:  # a plugin's flusher must not stop the next flush
            log.exception("flushing metrics failed")

    async def aclose(self) -> None:
        """Stop flushing, and flush what this assembly's last requests counted."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.flush()

    # -- scrapes ---------------------------------------------------------------------------------

    def check_scrape(self, authorization: str | None) -> None:
        """Raise a 401 unless the scrape carries the configured bearer token (if any)."""
        if self._token is None:
            return
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self._token):
            raise AuthenticationFailed(
                "This metrics endpoint needs 'Authorization: Bearer <token>' with [metrics] token.",
                code="invalid_api_key",
            )

    # -- extension events (on the request path: dict lookups and sums only) ---------------------
    # Counters and histograms go to ``families.pending`` / ``families.observed`` and reach the
    # metrics at the next ``Families.flush`` (before every scrape, and every second): no lock per
    # increment. Only counts that can only grow are deferred; the in-flight gauge is not.

    def request_started(self, record: RequestRecord) -> None:
        # The gauge itself, at once: a gauge behind by a flush would show other workers'
        # finished requests as still running.
        self.families.in_flight_for(record.route).inc(1)

    def request_finished(self, record: RequestRecord) -> None:
        families = self.families
        families.in_flight_for(record.route).inc(-1)
        pending = families.pending
        key = (record.route, record.model_label or "", record.provider or "", record.status)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series(families, *key)
        child = series.requests
        pending[child] = pending.get(child, 0) + 1
        if record.latency is not None:
            series.latency.add(record.latency)
        if record.error_class is not None:
            child = series.error(record.error_class)
            pending[child] = pending.get(child, 0) + 1
        if record.ttft is not None:
            series["ttft"].add(record.ttft)
        if record.cache not in SERVED_BY_CACHE:  # tokens a vendor processed, not replays
            if record.tokens_in:
                child = series["tokens_in"]
                pending[child] = pending.get(child, 0) + record.tokens_in
            if record.tokens_out:
                child = series["tokens_out"]
                pending[child] = pending.get(child, 0) + record.tokens_out
        attempts = record.attempts
        if attempts:
            for attempt in attempts:
                child = families.attempt_for(attempt.provider, attempt.label, attempt.error_class or "ok")
                pending[child] = pending.get(child, 0) + 1
            if len(attempts) > 1:  # one call is neither a retry nor a fallback
                retries = record.retries
                if retries:
                    series["retries"].inc(retries)
                if record.fallback:
                    series["fallbacks"].inc()
        if record.hedged:
            series["hedged"].inc()
        if record.degraded:
            series["degraded"].inc()
        if record.cache is not None:
            child = series.cache(record.cache)
            pending[child] = pending.get(child, 0) + 1
        if record.limited is not None and record.status == 429:
            families.limited_for(record.limited if record.limited in LIMIT_SCOPES else "other").inc()
        if record.cost:
            child = series.cost(record.extras.get("currency", "USD"))
            pending[child] = pending.get(child, 0) + record.cost

    def breaker_changed(self, target: str, old: str, new: str) -> None:
        families = self.families
        families.set_breaker(target, new)
        if old in BREAKER_STATES and new in BREAKER_STATES:
            families.breaker_transitions.labels(target, old, new).inc()

    def backend_failed(self, backend: str, feature: str) -> None:
        self.families.backend_failures.labels(backend[:32], feature[:32]).inc()

    def config_reloaded(self, ok: bool) -> None:
        self.families.reloads.labels("ok" if ok else "refused").inc()
        self.families.reload_ok.set(1 if ok else 0)


def make_metrics(*, options: MetricsOptions, services: Any) -> Metrics | None:
    """Factory of the ``metrics`` extension: the first one of a gateway makes its metric families."""
    if not options.enabled:
        return None
    if options.token is not None and not options.token:
        missing = options.token.missing
        why = f"is empty because {', '.join(missing)} is not set" if missing else "is empty"
        raise ConfigError([ConfigProblem("token", why + " (remove it to scrape without a token)")])
    families = services.lasting.get(LASTING_KEY)
    if families is None:
        families = Families(options.latency_buckets, options.ttft_buckets, multiprocess_dir())
        services.lasting[LASTING_KEY] = families
    elif (tuple(options.latency_buckets), tuple(options.ttft_buckets)) != (
            families.latency_buckets, families.ttft_buckets):
        services.log.warning("[metrics] bucket changes take effect when the gateway restarts")
    served = services.lasting.get(PATH_KEY)
    if served is not None and served != options.path:
        services.log.warning("[metrics] path changes take effect when the gateway restarts; still served at %s",
                             served)
    # asyncio's own sleep, not ``services.sleep``: tests swap that one for a sleep that returns at
    # once, which would make this background cadence a busy loop.
    return Metrics(options, families)


# -- the default plugin ------------------------------------------------------------------------


@hookimpl
def register_extensions(register):
    register("metrics", make_metrics, options=MetricsOptions, order=ORDER, always=True)


@hookimpl
def gateway_app_created(app, gateway):
    # The route exists even while metrics are off (it answers 404 then), so a reload that
    # turns them on needs no restart; the path itself is fixed until one.
    options = gateway.config.features.get("metrics") or MetricsOptions()
    app.router.add_get(options.path, scrape_route(gateway))
    gateway.lasting[PATH_KEY] = options.path


def scrape_route(gateway: Any) -> Callable[[web.Request], Awaitable[web.Response]]:
    """``GET /metrics`` of one gateway (a ``sluicegate.gateway.Gateway``), read from the
    assembly serving when it is asked."""

    async def scrape(request: web.Request) -> web.Response:
        assembly = gateway.current
        metrics = assembly.extensions.get("metrics") if assembly is not None else None
        if metrics is None:
            raise RouteNotFound(f"Unknown route: {request.method} {request.path}")
        metrics.check_scrape(request.headers.get("authorization"))
        metrics.flush()  # on the loop, where the sums it hands over are made
        try:
            # On the loop: breakers belong to it. A snapshot is a walk over a dict, no I/O.
            metrics.families.refresh_breakers(assembly.breakers, assembly.telemetry.target_label)
        except Exception:  # a board that cannot report must not cost the other metrics
            log.exception("reading circuit-breaker states for /metrics failed")
        loop = asyncio.get_running_loop()
        # Rendering walks every series and, with several workers, reads their files.
        body, content_type = await loop.run_in_executor(None, metrics.families.render,
                                                        request.headers.get("accept"))
        # The edge adds x-request-id to every response that has none.
        return web.Response(body=body, headers={"Content-Type": content_type})

    return scrape
