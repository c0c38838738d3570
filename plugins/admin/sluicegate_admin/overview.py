"""``GET /admin/api/overview``: the console's first page, from numbers the gateway already keeps.

- Traffic since start (requests, errors, p50/p95 latency, top models) from the ``metrics``
  extension's Prometheus families, read the way ``/metrics`` renders them (under
  ``serve --workers N`` that is every worker's files), so the page and Prometheus agree. With
  ``[metrics] enabled = false`` these are null.
- Spend today and the busiest keys from the governance store's daily rollups (the ``store``
  extension), when ``[store]`` is on; null and empty otherwise.
- Each provider's state from the breakers and the last minute's calls (``/health``'s numbers).
  A provider whose every known target is open, whose recent calls all failed, whose active
  health check fails, or that is not configured is ``down``; any open or half-open breaker, or
  an error rate of 10 % or more, is ``degraded``. Only the rest is ``ok``.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterable
from typing import Any

from attrs import define, field

from sluicegate.extensions.metrics import LASTING_KEY as METRICS_FAMILIES
from sluicegate.gateway import Gateway
from sluicegate.server.health import provider_summary
from sluicegate_admin.view import live_targets, reload_state

log = logging.getLogger("sluicegate.admin")

#: Rows in the top-models and top-keys lists.
TOP = 5
#: Seconds the store may take to answer the overview's two usage queries.
STORE_TIMEOUT = 5.0
DAY = 86400.0
#: At or above this share of failed calls in the last minute a provider is "degraded".
DEGRADED_ERROR_RATE = 0.1

_REQUESTS = "sluicegate_requests_total"
_LATENCY_BUCKET = "sluicegate_request_duration_seconds_bucket"
# Routes under /v1 that call no model: listings, stored responses, a key's own info.
_NOT_MODEL_CALLS = ("/v1/models", "/v1/key/info", "/v1/responses/")


def is_model_call(route: str) -> bool:
    """Whether requests on ``route`` (a route template) ask a model for something."""
    if not route.startswith(("/v1/", "/v1beta/")):
        return False  # the console, /health, /metrics and unknown paths are not traffic
    return not route.startswith(_NOT_MODEL_CALLS)


@define
class Traffic:
    """Model calls since the gateway started."""

    requests: int = 0
    errors: int = 0
    by_model: dict[str, int] = field(factory=dict)
    # Cumulative latency bucket counts by upper bound in seconds (+inf included).
    buckets: dict[float, float] = field(factory=dict)

    def quantile_ms(self, q: float) -> float | None:
        """The q-quantile, interpolated within its bucket as Prometheus' histogram_quantile does."""
        bounds = sorted(self.buckets)
        total = self.buckets.get(math.inf, 0.0)
        if not bounds or total <= 0:
            return None
        rank = q * total
        lower, below = 0.0, 0.0
        for bound in bounds:
            count = self.buckets[bound]
            if count >= rank:
                if math.isinf(bound):
                    return round(lower * 1000, 1)  # beyond the last bound: the last bound is all we know
                inside = count - below
                share = (rank - below) / inside if inside > 0 else 1.0
                return round((lower + (bound - lower) * share) * 1000, 1)
            lower, below = bound, count
        return round(lower * 1000, 1)

    def top_models(self) -> list[dict[str, Any]]:
        ranked = sorted(self.by_model.items(), key=lambda item: (-item[1], item[0]))
        return [{"model": model, "requests": count} for model, count in ranked[:TOP]]


def read_traffic(metrics: Iterable[Any]) -> Traffic:
    """Fold the collected metric families into ``Traffic``. Blocking under ``--workers`` (the
    collector reads files): run it in an executor."""
    traffic = Traffic()
    for metric in metrics:
        for sample in metric.samples:
            route = sample.labels.get("route", "")
            if sample.name == _REQUESTS and is_model_call(route):
                count = int(sample.value)
                traffic.requests += count
                if sample.labels.get("status_class") in ("4xx", "5xx"):
                    traffic.errors += count
                model = sample.labels.get("model") or ""
                if model:
                    traffic.by_model[model] = traffic.by_model.get(model, 0) + count
            elif sample.name == _LATENCY_BUCKET and is_model_call(route):
                bound = float(sample.labels["le"])
                traffic.buckets[bound] = traffic.buckets.get(bound, 0.0) + sample.value
    return traffic


async def traffic_of(gateway: Gateway) -> Traffic | None:
    families = gateway.lasting.get(METRICS_FAMILIES)
    assembly = gateway.current
    metrics = assembly.extensions.get("metrics") if assembly is not None else None
    if families is None or metrics is None:
        return None
    metrics.flush()  # on the loop: what the requests counted since the last flush
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, lambda: read_traffic(families.registry.collect()))


# -- providers -----------------------------------------------------------------------------------


def provider_state(configured: bool, summary: dict[str, Any], known_targets: int,
                   probe: dict[str, Any] | None) -> str:
    """ok, degraded or down; an open breaker or a 100 % error rate is never ok."""
    calls, errors = summary["calls_1m"], summary["errors_1m"]
    open_targets = summary["open_targets"]
    if not configured or (calls and errors >= calls) or (probe is not None and not probe.get("ok", True)):
        return "down"
    if known_targets and open_targets >= known_targets:
        return "down"
    if open_targets or summary["breaker"] != "closed":
        return "degraded"
    if calls and errors / calls >= DEGRADED_ERROR_RATE:
        return "degraded"
    return "ok"


def provider_rows(gateway: Gateway) -> list[dict[str, Any]]:
    assembly = gateway.current
    if assembly is None:
        return []
    targets = live_targets(gateway)
    probes = assembly.extensions.get("health_checks")
    rows = []
    for name, provider in assembly.providers.items():
        summary = provider_summary(name, targets)
        prefix = name + "/"
        # A folded "provider/*" row stands for several models.
        known = sum(row.get("models", 1) for label, row in targets.items() if label.startswith(prefix))
        probe = probes.result(name) if probes is not None else None
        rows.append({
            "id": name,
            "type": provider.type,
            "configured": provider.configured,
            "reason": provider.unconfigured_reason,
            "state": provider_state(provider.configured, summary, known, probe),
            "breakers_open": summary["open_targets"],
            "error_rate": summary["error_rate_1m"],
            "calls_1m": summary["calls_1m"],
            "errors_1m": summary["errors_1m"],
            "last_error": summary.get("last_error"),
        })
    return rows


# -- the store -----------------------------------------------------------------------------------


@define
class Spending:
    spend_today: float | None = None
    top_keys: list[dict[str, Any]] = field(factory=list)
    # Why the numbers are missing although [store] is on (it did not answer).
    problem: str | None = None


async def spending_of(governance: Any, now: float) -> Spending:
    """Today's (UTC) spend and busiest keys from the store's daily rollups (written by the ledger
    writer in batches, so a request shows up here a moment after it finished)."""
    start = math.floor(now / DAY) * DAY
    try:
        async with asyncio.timeout(STORE_TIMEOUT):
            # One query for both numbers, so they agree: requests without an issued key are its
            # group None, so the groups add up to the day's total.
            by_key = await governance.store.usage(start=start, end=start + DAY, granularity="day", group_by="key")
    except TimeoutError:
        return Spending(problem="the store did not answer in time")
    except Exception as exc:  # the store's own errors say what is wrong without secrets
        log.warning("admin overview: the store failed: %s", exc.__class__.__name__)
        return Spending(problem=f"the store is unavailable ({exc.__class__.__name__})")
    keys: dict[str, dict[str, Any]] = {}
    for point in by_key:
        if point.group is None:
            continue  # requests made without an issued key
        row = keys.setdefault(point.group, {"key_id": point.group, "name": None, "requests": 0, "cost": 0.0})
        row["requests"] += point.requests
        row["cost"] += point.cost
    index = governance.index
    for key_id, row in keys.items():
        grant = index.by_id.get(key_id)
        row["name"] = grant.key.name if grant is not None else None
    for row in keys.values():
        row["cost"] = round(row["cost"], 9)
    ranked = sorted(keys.values(), key=lambda row: (-row["requests"], -row["cost"], row["key_id"]))
    return Spending(spend_today=round(sum(point.cost for point in by_key), 9), top_keys=ranked[:TOP])


async def overview(gateway: Gateway) -> dict[str, Any]:
    assembly = gateway.current
    governance = assembly.extensions.get("store") if assembly is not None else None
    pricing = assembly.extensions.get("pricing") if assembly is not None else None
    traffic = await traffic_of(gateway)
    spending = Spending()
    if governance is not None:
        spending = await spending_of(governance, governance.wall_clock())
    return {
        "requests": traffic.requests if traffic is not None else None,
        "errors": traffic.errors if traffic is not None else None,
        "p50_ms": traffic.quantile_ms(0.5) if traffic is not None else None,
        "p95_ms": traffic.quantile_ms(0.95) if traffic is not None else None,
        "top_models": traffic.top_models() if traffic is not None else [],
        "spend_today": spending.spend_today,
        "currency": getattr(pricing, "currency", None),
        "top_keys": spending.top_keys,
        "store": None if governance is None else ("unavailable" if spending.problem else "ok"),
        "store_problem": spending.problem,
        "last_reload": reload_state(gateway.last_reload),
        "providers": provider_rows(gateway),
    }
