"""The metrics extension fed request records and events directly: exact values per label set,
bounded labels, metrics that outlive a reload, one registry per gateway, scrape auth, options."""

from __future__ import annotations

import asyncio
import logging

import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sluicegate import __version__
from sluicegate.config.loader import load_config_text
from sluicegate.errors import AuthenticationFailed, ConfigError
from sluicegate.extensions.metrics import Metrics, MetricsOptions, make_metrics
from sluicegate.extensions.metrics_families import FLUSH_EVERY
from sluicegate.secrets import Secret
from sluicegate.services import Services
from sluicegate.telemetry import AttemptRecord, RequestRecord

CHAT = "/v1/chat/completions"


def services(lasting: dict | None = None) -> Services:
    return Services(http=None, config=None, lasting={} if lasting is None else lasting)


def scrape(metrics) -> dict[tuple[str, frozenset], float]:
    """Every sample of a rendering, as the scrape route makes it (flushed first): (sample name,
    its labels) -> value."""
    metrics.flush()
    body, _ = metrics.families.render(None)
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def value(samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def record(**fields) -> RequestRecord:
    base = dict(request_id="req_1", method="POST", path=CHAT, started=0.0, started_at=0.0, route=CHAT,
                api="openai", model="chat", model_label="chat", provider="a", upstream_model="m1",
                target_label="a/m1", status=200, latency=0.3)
    base.update(fields)
    return RequestRecord(**base)


def attempt(provider: str, model: str, error_class: str | None = None) -> AttemptRecord:
    return AttemptRecord(provider, model, f"{provider}/{model}", 0.0, 0.1, error_class, 500 if error_class else 200)


def built(**options) -> object:
    return make_metrics(options=MetricsOptions(**options), services=services())


def test_a_finished_request_counts_once_with_its_latency_tokens_and_attempt():
    metrics = built()
    metrics.request_finished(record(tokens_in=12, tokens_out=5, latency=0.3, attempts=[attempt("a", "m1")]))
    metrics.request_finished(record(tokens_in=3, tokens_out=1, latency=2.0, attempts=[attempt("a", "m1")]))
    s = scrape(metrics)
    assert value(s, "sluicegate_requests_total", route=CHAT, model="chat", provider="a", status_class="2xx") == 2
    assert value(s, "sluicegate_request_duration_seconds_count", route=CHAT, model="chat") == 2
    assert value(s, "sluicegate_request_duration_seconds_sum", route=CHAT, model="chat") == pytest.approx(2.3)
    assert value(s, "sluicegate_request_duration_seconds_bucket", route=CHAT, model="chat", le="0.5") == 1
    assert value(s, "sluicegate_request_duration_seconds_bucket", route=CHAT, model="chat", le="2.5") == 2
    assert value(s, "sluicegate_tokens_total", model="chat", provider="a", direction="in") == 15
    assert value(s, "sluicegate_tokens_total", model="chat", provider="a", direction="out") == 6
    assert value(s, "sluicegate_upstream_attempts_total", provider="a", target="a/m1", outcome="ok") == 2
    # A request that never streamed makes no time-to-first-token series, and nothing retried.
    assert not any(name.startswith(("sluicegate_time_to_first_token", "sluicegate_retries")) for name, _ in s)


def test_streams_observe_time_to_first_token_in_the_configured_buckets():
    metrics = built(ttft_buckets=[0.1, 1.0])
    metrics.request_finished(record(stream=True, ttft=0.05))
    metrics.request_finished(record(stream=True, ttft=0.4))
    s = scrape(metrics)
    labels = dict(model="chat", provider="a")
    assert value(s, "sluicegate_time_to_first_token_seconds_bucket", le="0.1", **labels) == 1
    assert value(s, "sluicegate_time_to_first_token_seconds_bucket", le="1.0", **labels) == 2
    assert value(s, "sluicegate_time_to_first_token_seconds_count", **labels) == 2
    assert value(s, "sluicegate_time_to_first_token_seconds_bucket", le="0.5", **labels) is None


def test_retries_fallbacks_hedges_and_errors_per_class():
    metrics = built()
    trail = [attempt("a", "m1", "overloaded"), attempt("a", "m1", "timeout"), attempt("b", "m2")]
    metrics.request_finished(record(provider="b", attempts=trail, hedged=True))
    metrics.request_finished(record(status=502, provider="b", error_class="overloaded",
                                    attempts=[attempt("b", "m2", "overloaded")]))
    s = scrape(metrics)
    assert value(s, "sluicegate_retries_total", model="chat") == 1
    assert value(s, "sluicegate_fallbacks_total", model="chat") == 1
    assert value(s, "sluicegate_hedged_requests_total", model="chat") == 1
    assert value(s, "sluicegate_upstream_attempts_total", provider="a", target="a/m1", outcome="overloaded") == 1
    assert value(s, "sluicegate_upstream_attempts_total", provider="a", target="a/m1", outcome="timeout") == 1
    assert value(s, "sluicegate_upstream_attempts_total", provider="b", target="b/m2", outcome="ok") == 1
    assert value(s, "sluicegate_upstream_attempts_total", provider="b", target="b/m2", outcome="overloaded") == 1
    assert value(s, "sluicegate_requests_total", route=CHAT, model="chat", provider="b", status_class="5xx") == 1
    assert value(s, "sluicegate_request_errors_total", route=CHAT, model="chat", error_class="overloaded") == 1


def test_client_strings_never_become_labels_and_odd_values_are_folded():
    metrics = built()
    # A made-up model (no label resolved) on an unknown path: only fixed strings reach labels.
    metrics.request_finished(record(path="/v1/secret-plan-x", route="unmatched", model="made-up-model-x",
                                    model_label=None, provider=None, status=404, error_class="not_found"))
    metrics.request_finished(record(cache="sideways-x", limited="galaxy-x", status=429,
                                    attempts=[attempt("a", "m1", "weird-x")]))
    metrics.request_finished(record(error_class="novel-x", status=500))
    s = scrape(metrics)
    labels = {v for _, items in s for _, v in items}
    assert not [v for v in labels if v.endswith("-x")], labels
    assert value(s, "sluicegate_requests_total", route="unmatched", model="", provider="", status_class="4xx") == 1
    assert value(s, "sluicegate_cache_results_total", model="chat", result="other") == 1
    assert value(s, "sluicegate_ratelimit_rejections_total", scope="other") == 1
    assert value(s, "sluicegate_upstream_attempts_total", provider="a", target="a/m1", outcome="unknown") == 1
    assert value(s, "sluicegate_request_errors_total", route=CHAT, model="chat", error_class="unknown") == 1


def test_cache_limits_cost_and_degraded():
    metrics = built()
    for result in ("hit", "hit", "miss", "coalesced", "bypass"):
        metrics.request_finished(record(cache=result, tokens_in=10, tokens_out=1))
    metrics.request_finished(record(status=429, limited="client"))
    metrics.request_finished(record(status=429, limited="concurrency"))
    # A provider limit refused one target, another answered: not a rejection.
    metrics.request_finished(record(status=200, limited="provider"))
    metrics.request_finished(record(cost=0.25))
    metrics.request_finished(record(cost=0.5, extras={"currency": "EUR"}))
    metrics.request_finished(record(cost=0.125, extras={"currency": "EUR"}))
    metrics.request_finished(record(degraded=True, status=200))
    s = scrape(metrics)
    assert value(s, "sluicegate_cache_results_total", model="chat", result="hit") == 2
    # Only the miss and the bypass made vendor calls; replayed answers used no tokens.
    assert value(s, "sluicegate_tokens_total", model="chat", provider="a", direction="in") == 20
    for result in ("miss", "coalesced", "bypass"):
        assert value(s, "sluicegate_cache_results_total", model="chat", result=result) == 1
    assert value(s, "sluicegate_ratelimit_rejections_total", scope="client") == 1
    assert value(s, "sluicegate_ratelimit_rejections_total", scope="concurrency") == 1
    assert value(s, "sluicegate_ratelimit_rejections_total", scope="provider") is None
    assert value(s, "sluicegate_cost_total", model="chat", provider="a", currency="USD") == 0.25
    assert value(s, "sluicegate_cost_total", model="chat", provider="a", currency="EUR") == 0.625
    assert value(s, "sluicegate_degraded_responses_total", model="chat") == 1


def test_in_flight_follows_started_and_finished():
    metrics = built()
    first, second = record(), record(request_id="req_2")
    metrics.request_started(first)
    metrics.request_started(second)
    assert value(scrape(metrics), "sluicegate_requests_in_flight", route=CHAT) == 2
    metrics.request_finished(first)
    assert value(scrape(metrics), "sluicegate_requests_in_flight", route=CHAT) == 1


def test_counts_reach_the_metrics_when_flushed_and_only_once():
    metrics = built()
    metrics.request_started(record())
    metrics.request_finished(record(tokens_in=4, latency=0.3, cost=0.5))
    families = metrics.families
    unflushed, _ = families.render(None)  # what another worker's scrape reads before a flush
    assert b'sluicegate_requests_total{model="chat",provider="a",route="/v1/chat/completions",status_class="2xx"} 0.0' in unflushed
    first = scrape(metrics)
    second = scrape(metrics)  # a flush with nothing new adds nothing
    assert first == second
    assert value(second, "sluicegate_requests_total", route=CHAT, model="chat", provider="a", status_class="2xx") == 1
    assert value(second, "sluicegate_cost_total", model="chat", provider="a", currency="USD") == 0.5
    assert value(second, "sluicegate_requests_in_flight", route=CHAT) == 0


@pytest.mark.parametrize("latencies", [[0.3, 2.0, 0.05, 0.1, 1e6, 0.0], [float("nan"), 1.0], [-1.0]])
def test_histograms_render_as_prometheus_own_observe_would(latencies):
    metrics = built()
    for latency in latencies:
        metrics.request_finished(record(latency=latency, ttft=latency, stream=True))
    reference = prometheus_client.CollectorRegistry()
    for name, labels, buckets in (
            ("sluicegate_request_duration_seconds", dict(route=CHAT, model="chat"), metrics.options.latency_buckets),
            ("sluicegate_time_to_first_token_seconds", dict(model="chat", provider="a"), metrics.options.ttft_buckets)):
        child = prometheus_client.Histogram(name, "", list(labels), registry=reference, buckets=buckets).labels(**labels)
        for latency in latencies:
            child.observe(latency)
    got = {k: v for k, v in scrape(metrics).items() if "_seconds_" in k[0] and not k[0].endswith("_created")}
    want = {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in reference.collect() for sample in family.samples if not sample.name.endswith("_created")}
    assert set(got) == set(want)
    for key, expected in want.items():  # NaN sums compare as NaN
        assert got[key] == pytest.approx(expected, nan_ok=True), key


async def test_a_started_extension_flushes_on_its_clock_and_when_it_closes():
    ticks = asyncio.Event()
    woken = asyncio.Event()

    async def sleep(seconds: float) -> None:
        assert seconds == FLUSH_EVERY
        woken.set()
        await ticks.wait()
        ticks.clear()

    metrics = Metrics(MetricsOptions(), built().families, sleep)
    flushed = []
    metrics.families.flushers.append(lambda: flushed.append(True))
    await metrics.start()
    await woken.wait()
    woken.clear()
    metrics.request_finished(record())
    assert metrics.families.pending
    ticks.set()
    await woken.wait()  # the loop flushed and went back to sleep
    assert not metrics.families.pending and flushed == [True]
    metrics.request_finished(record())
    await metrics.aclose()
    assert not metrics.families.pending and flushed == [True, True]
    body, _ = metrics.families.render(None)
    assert b'sluicegate_requests_total{model="chat",provider="a",route="/v1/chat/completions",status_class="2xx"} 2.0' in body


def test_a_failing_flusher_is_logged_and_the_counts_still_land(caplog):
    metrics = built()
    metrics.families.flushers.append(lambda: 1 / 0)
    metrics.request_finished(record())
    s = scrape(metrics)
    assert value(s, "sluicegate_requests_total", route=CHAT, model="chat", provider="a", status_class="2xx") == 1
    assert "flushing metrics failed" in caplog.text


def test_breaker_events_and_the_refresh_from_the_serving_board():
    metrics = built()
    metrics.breaker_changed("a/m1", "closed", "open")
    metrics.breaker_changed("b/*", "closed", "open")
    s = scrape(metrics)
    assert value(s, "sluicegate_breaker_state", target="a/m1") == 2
    assert value(s, "sluicegate_breaker_transitions_total", target="a/m1", from_state="closed", to_state="open") == 1

    class Board:
        def snapshot(self):
            # Two raw models of one unconfigured provider share a label: the worse state shows.
            return {"a/m1": {"state": "half_open"}, "c/x1": {"state": "closed"}, "c/x2": {"state": "open"}}

    label_of = {"a/m1": "a/m1", "c/x1": "c/*", "c/x2": "c/*"}.__getitem__
    metrics.families.refresh_breakers(Board(), label_of)
    s = scrape(metrics)
    assert value(s, "sluicegate_breaker_state", target="a/m1") == 1
    assert value(s, "sluicegate_breaker_state", target="c/*") == 2
    # Not on the serving board (a reload made a fresh one): closed.
    assert value(s, "sluicegate_breaker_state", target="b/*") == 0
    metrics.families.refresh_breakers(None, label_of)
    assert value(scrape(metrics), "sluicegate_breaker_state", target="c/*") == 0


def test_backend_failures_reloads_and_build_info():
    metrics = built()
    metrics.backend_failed("redis", "cache")
    metrics.backend_failed("redis", "cache")
    metrics.backend_failed("redis", "breaker")
    metrics.config_reloaded(True)
    metrics.config_reloaded(False)
    s = scrape(metrics)
    assert value(s, "sluicegate_backend_failures_total", backend="redis", feature="cache") == 2
    assert value(s, "sluicegate_backend_failures_total", backend="redis", feature="breaker") == 1
    assert value(s, "sluicegate_config_reloads_total", result="ok") == 1
    assert value(s, "sluicegate_config_reloads_total", result="refused") == 1
    assert value(s, "sluicegate_config_last_reload_successful") == 0
    assert value(s, "sluicegate_build_info", version=__version__) == 1
    metrics.config_reloaded(True)
    assert value(scrape(metrics), "sluicegate_config_last_reload_successful") == 1


def test_a_reload_keeps_counting_in_the_same_families(caplog):
    lasting: dict = {}
    first = make_metrics(options=MetricsOptions(), services=services(lasting))
    first.request_finished(record())
    second = make_metrics(options=MetricsOptions(), services=services(lasting))
    assert second is not first and second.families is first.families
    second.request_finished(record())
    assert value(scrape(second), "sluicegate_requests_total", route=CHAT, model="chat", provider="a",
                 status_class="2xx") == 2
    with caplog.at_level(logging.WARNING, logger="sluicegate"):
        third = make_metrics(options=MetricsOptions(latency_buckets=[1.0, 2.0]), services=services(lasting))
    assert "bucket changes take effect when the gateway restarts" in caplog.text
    assert third.families.latency_buckets == first.families.latency_buckets
    lasting["metrics.path"] = "/metrics"
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="sluicegate"):
        make_metrics(options=MetricsOptions(path="/other"), services=services(lasting))
    assert "path changes take effect when the gateway restarts; still served at /metrics" in caplog.text


def test_each_gateway_has_its_own_registry_never_the_global_one():
    one, two = built(), built()
    one.request_finished(record())
    assert value(scrape(one), "sluicegate_requests_total", route=CHAT, model="chat", provider="a",
                 status_class="2xx") == 1
    assert value(scrape(two), "sluicegate_requests_total", route=CHAT, model="chat", provider="a",
                 status_class="2xx") is None
    global_names = {m.name for m in prometheus_client.REGISTRY.collect()}
    assert not [name for name in global_names if name.startswith("sluicegate")]


def test_disabled_metrics_build_nothing():
    assert make_metrics(options=MetricsOptions(enabled=False), services=services()) is None


def test_scrape_token():
    open_metrics = built()
    open_metrics.check_scrape(None)
    guarded = built(token=Secret("scrape-secret-123"))
    guarded.check_scrape("Bearer scrape-secret-123")
    guarded.check_scrape("bearer  scrape-secret-123")
    for header in (None, "", "Bearer wrong", "Basic scrape-secret-123", "scrape-secret-123"):
        with pytest.raises(AuthenticationFailed) as caught:
            guarded.check_scrape(header)
        assert caught.value.status == 401
        assert "scrape-secret-123" not in caught.value.message


def test_an_unset_token_variable_refuses_the_config_rather_than_open_the_endpoint():
    with pytest.raises(ConfigError) as caught:
        make_metrics(options=MetricsOptions(token=Secret("", ("METRICS_TOKEN",))), services=services())
    assert [str(p) for p in caught.value.problems] == [
        "token: is empty because METRICS_TOKEN is not set (remove it to scrape without a token)"]


@pytest.mark.parametrize(("table", "problem"), [
    ('path = "metrics"', "metrics.path: must be a plain path such as \"/metrics\", got 'metrics'"),
    ('path = "/health"', "metrics.path: '/health' is a route of the gateway's own; pick another (e.g. \"/metrics\")"),
    ('path = "/v1/metrics"', "metrics.path: '/v1/metrics' is a route of the gateway's own; pick another "
                             "(e.g. \"/metrics\")"),
    ("latency_buckets = [1, 0.5]", "metrics: latency_buckets bounds must increase strictly"),
    ("ttft_buckets = []", "metrics: ttft_buckets must list at least one bound (seconds)"),
    ("ttft_buckets = [0, 1]", "metrics: ttft_buckets bounds must be greater than 0"),
    ('ttft_buckets = ["a"]', "metrics.ttft_buckets[0]: expected a number, got a string"),
    ("pth = 1", 'metrics.pth: unknown key (did you mean "path"?)'),
])
def test_bad_options_are_config_problems(table, problem):
    with pytest.raises(ConfigError) as caught:
        load_config_text(f"[metrics]\n{table}\n", env={})
    assert [str(p) for p in caught.value.problems] == [problem]


def test_options_from_toml():
    loaded = load_config_text('[metrics]\npath = "/internal/metrics"\ntoken = "${MT}"\nlatency_buckets = [1, 5]\n'
                              '[providers.m]\ntype = "mock"\n',
                              env={"MT": "tok-0123456789"})
    options = loaded.config.features["metrics"]
    assert options.path == "/internal/metrics"
    assert options.token.reveal() == "tok-0123456789"
    assert options.latency_buckets == [1.0, 5.0]
