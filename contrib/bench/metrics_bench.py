"""What the metrics extension costs per request: microseconds for request_started + request_finished.

Run from the repo root: ``python contrib/bench/metrics_bench.py``. Each figure is the median of
7 timing rounds over realistic records (labels already seen, as in steady state); a scrape's
rendering time is shown too, for the series count this run leaves.
"""

from __future__ import annotations

import statistics
import timeit

from sluicegate.extensions.metrics import MetricsOptions, make_metrics
from sluicegate.services import Services
from sluicegate.telemetry import AttemptRecord, RequestRecord

CHAT = "/v1/chat/completions"


def record(**fields) -> RequestRecord:
    base = dict(request_id="req_1", method="POST", path=CHAT, started=0.0, started_at=0.0, route=CHAT,
                api="openai", model="chat", model_label="chat", provider="openai", upstream_model="gpt-4o-mini",
                target_label="openai/gpt-4o-mini", status=200, latency=0.42, tokens_in=812, tokens_out=153,
                cost=0.00021, attempts=[AttemptRecord("openai", "gpt-4o-mini", "openai/gpt-4o-mini", 0.0, 0.4)])
    base.update(fields)
    return RequestRecord(**base)


CASES = {
    "plain chat, 200": record(),
    "stream with ttft": record(stream=True, ttft=0.18),
    "fallback after a 5xx": record(provider="deepseek", attempts=[
        AttemptRecord("openai", "gpt-4o-mini", "openai/gpt-4o-mini", 0.0, 0.3, "overloaded", 500),
        AttemptRecord("deepseek", "deepseek-chat", "deepseek/deepseek-chat", 0.3, 0.5)]),
    "cache hit": record(provider=None, attempts=[], cache="hit", cost=0.0),
    "401, no model": record(model_label=None, provider=None, attempts=[], status=401, error_class="invalid_request",
                            tokens_in=None, tokens_out=None, cost=None),
}


def per_call_us(fn, number: int = 20000) -> float:
    rounds = timeit.repeat(fn, number=number, repeat=7)
    return statistics.median(rounds) / number * 1e6


def main() -> None:
    metrics = make_metrics(options=MetricsOptions(), services=Services(http=None, config=None))
    print(f"{'record':<24} {'us per request (started + finished)':>36}")
    for name, rec in CASES.items():

        def one(rec=rec) -> None:
            metrics.request_started(rec)
            metrics.request_finished(rec)

        one()  # label children made once, as after the first request of each kind
        print(f"{name:<24} {per_call_us(one):>36.2f}")
    flush = per_call_us(metrics.flush, number=20000)
    print(f"\na flush with nothing new (before each scrape, and once a second): {flush:.1f} us")
    render = per_call_us(lambda: metrics.families.render(None), number=200)
    lines = metrics.families.render(None)[0].count(b"\n")
    print(f"rendering /metrics: {render:.0f} us for {lines} lines (runs in a thread)")


if __name__ == "__main__":
    main()
