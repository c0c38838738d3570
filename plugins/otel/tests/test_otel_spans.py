"""Records in, spans out: names, parent and child, attributes, timestamps, errors, traceparent
parenting and sampling, with spans caught by the SDK's in-memory exporter."""

from __future__ import annotations

from opentelemetry.trace import SpanKind, StatusCode

from sluicegate.telemetry import AttemptRecord, RequestRecord

T0 = 1_700_000_000.25  # wall clock at the request's arrival
M0 = 500.0  # the monotonic clock then
NS = 1_000_000_000
CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"


def chat_record(**fields) -> RequestRecord:
    """A chat request that failed over: ``up`` answered 500, ``claude`` answered."""
    record = RequestRecord("req_abc", "POST", "/v1/chat/completions", M0, T0, route="/v1/chat/completions",
                           api="openai", client="team-a", model="smart", model_label="smart",
                           provider="claude", upstream_model="claude-sonnet-4-5",
                           target_label="claude/claude-sonnet-4-5", status=200, tokens_in=12,
                           tokens_out=7, cost=0.0021, latency=1.5)
    record.attempts = [
        AttemptRecord("up", "gpt-4o-mini", "up/gpt-4o-mini", M0 + 0.01, 0.2, "overloaded", 500),
        AttemptRecord("claude", "claude-sonnet-4-5", "claude/claude-sonnet-4-5", M0 + 0.25, 1.2, None, 200),
    ]
    for name, value in fields.items():
        setattr(record, name, value)
    return record


def by_kind(exporter):
    spans = exporter.get_finished_spans()
    server = [s for s in spans if s.kind is SpanKind.SERVER]
    clients = sorted((s for s in spans if s.kind is SpanKind.CLIENT), key=lambda s: s.start_time)
    assert len(server) == 1, spans
    return server[0], clients


async def test_a_request_span_with_one_child_per_attempt(traced):
    extension, exporter = await traced()
    extension.request_finished(chat_record())
    server, (first, second) = by_kind(exporter)

    assert server.name == "chat smart"
    assert (first.name, second.name) == ("chat gpt-4o-mini", "chat claude-sonnet-4-5")
    assert server.parent is None
    for child in (first, second):
        assert child.context.trace_id == server.context.trace_id
        assert child.parent.span_id == server.context.span_id
    assert server.instrumentation_scope.name == "sluicegate"
    assert server.resource.attributes["service.name"] == "sluicegate"


async def test_request_span_attributes_follow_the_genai_conventions(traced):
    extension, exporter = await traced()
    record = chat_record(ttft=None)
    record.extras["currency"] = "EUR"
    extension.request_finished(record)
    server, _ = by_kind(exporter)
    assert dict(server.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "smart",
        "gen_ai.response.model": "claude-sonnet-4-5",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.system": "anthropic",
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 7,
        "http.request.method": "POST",
        "http.route": "/v1/chat/completions",
        "http.response.status_code": 200,
        "sluicegate.request_id": "req_abc",
        "sluicegate.provider": "claude",
        "sluicegate.target": "claude/claude-sonnet-4-5",
        "sluicegate.client": "team-a",
        "sluicegate.attempts": 2,
        "sluicegate.retries": 0,
        "sluicegate.fallback": True,
        "sluicegate.cost": 0.0021,
        "sluicegate.cost.currency": "EUR",
    }
    assert server.status.status_code is StatusCode.UNSET


async def test_attempt_spans_say_where_they_went_and_how_it_ended(traced):
    extension, exporter = await traced()
    extension.request_finished(chat_record())
    _, (first, second) = by_kind(exporter)
    assert dict(first.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.provider.name": "openai",
        "gen_ai.system": "openai",
        # From the base URL, resolved when the extension was built; its user and password never.
        "server.address": "api.example.com",
        "server.port": 8443,
        "http.response.status_code": 500,
        "error.type": "overloaded",
        "sluicegate.provider": "up",
        "sluicegate.attempt": 1,
    }
    assert first.status.status_code is StatusCode.ERROR
    assert second.attributes["server.address"] == "api.anthropic.com"
    assert second.attributes["server.port"] == 443  # the plugin's default https URL
    assert second.attributes["gen_ai.response.model"] == "claude-sonnet-4-5"
    assert second.attributes["gen_ai.usage.output_tokens"] == 7
    assert second.attributes["sluicegate.attempt"] == 2
    assert "error.type" not in second.attributes
    assert second.status.status_code is StatusCode.UNSET


async def test_timestamps_come_from_the_record_and_nest(traced):
    extension, exporter = await traced()
    extension.request_finished(chat_record())
    server, (first, second) = by_kind(exporter)
    start = int(T0 * NS)
    assert server.start_time == start
    assert server.end_time == start + int(1.5 * NS)
    # Attempt offsets are measured from the request's monotonic start.
    assert abs(first.start_time - (start + int(0.01 * NS))) < 1000
    assert abs(first.end_time - first.start_time - int(0.2 * NS)) < 1000
    assert abs(second.start_time - (start + int(0.25 * NS))) < 1000
    assert server.start_time <= first.start_time < first.end_time <= second.start_time
    assert second.start_time < second.end_time <= server.end_time


async def test_a_streamed_answer_keeps_its_attempt_open_to_the_end(traced):
    extension, exporter = await traced()
    # The router times a stream's attempt to its first content; the upstream stays open longer.
    extension.request_finished(chat_record(stream=True, ttft=0.4))
    server, (_, second) = by_kind(exporter)
    assert second.end_time == server.end_time
    assert server.attributes["sluicegate.ttft"] == 0.4
    assert server.attributes["sluicegate.stream"] is True


async def test_attempts_timed_on_another_clock_stay_inside_the_request(traced):
    extension, exporter = await traced()
    record = chat_record()
    # A test clock far from time.monotonic(): offsets are clamped into the request's window.
    record.attempts[0].started = 3.0
    record.attempts[1].started = 9_999_999.0
    extension.request_finished(record)
    server, clients = by_kind(exporter)
    for child in clients:
        assert server.start_time <= child.start_time <= child.end_time <= server.end_time


async def test_operation_names_by_route(traced):
    extension, exporter = await traced()
    routes = {
        "/v1/completions": "text_completion",
        "/v1/embeddings": "embeddings",
        "/v1/messages": "chat",
        "/v1/chat/completions": "chat",
    }
    for route in routes:
        extension.request_finished(chat_record(route=route, path=route, attempts=[], model_label="mock/*",
                                               api="anthropic" if route == "/v1/messages" else "openai"))
    spans = exporter.get_finished_spans()
    assert [(s.name, s.attributes["gen_ai.operation.name"], s.attributes["http.route"]) for s in spans] == [
        (f"{op} mock/*", op, route) for route, op in routes.items()
    ]


async def test_a_failed_request_is_an_error_span(traced):
    extension, exporter = await traced()
    record = chat_record(status=502, error_code="upstream_error", error_class="overloaded",
                         tokens_in=None, tokens_out=None, cost=None)
    record.attempts[1].error_class, record.attempts[1].status = "overloaded", 503
    extension.request_finished(record)
    server, clients = by_kind(exporter)
    assert server.status.status_code is StatusCode.ERROR
    assert server.status.description == "upstream_error"
    assert server.attributes["error.type"] == "upstream_error"
    assert server.attributes["sluicegate.error_class"] == "overloaded"
    assert "gen_ai.usage.input_tokens" not in server.attributes
    assert [c.status.status_code for c in clients] == [StatusCode.ERROR, StatusCode.ERROR]


async def test_a_client_error_names_itself_but_is_not_a_server_error(traced):
    extension, exporter = await traced()
    extension.request_finished(chat_record(status=429, error_code="rate_limited", error_class="rate_limit",
                                           limited="client", attempts=[]))
    server, clients = by_kind(exporter)
    assert clients == []
    assert server.attributes["error.type"] == "rate_limited"
    assert server.attributes["sluicegate.limited"] == "client"
    assert server.status.status_code is StatusCode.UNSET


async def test_a_stream_broken_after_its_200_is_an_error(traced):
    extension, exporter = await traced()
    extension.request_finished(chat_record(stream=True, error_code="upstream_error", error_class="stream_error"))
    server, _ = by_kind(exporter)
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["error.type"] == "upstream_error"
    assert server.status.status_code is StatusCode.ERROR


async def test_a_cancelled_hedge_is_marked_not_failed(traced):
    extension, exporter = await traced()
    record = chat_record(hedged=True)
    record.attempts[0].error_class, record.attempts[0].status = "cancelled", None
    extension.request_finished(record)
    server, (loser, winner) = by_kind(exporter)
    assert server.attributes["sluicegate.hedged"] is True
    assert loser.attributes["sluicegate.cancelled"] is True
    assert "error.type" not in loser.attributes
    assert loser.status.status_code is StatusCode.UNSET
    assert winner.attributes["gen_ai.response.model"] == "claude-sonnet-4-5"


async def test_a_cache_hit_has_no_attempts(traced):
    extension, exporter = await traced()
    extension.request_finished(chat_record(attempts=[], cache="hit", provider=None, upstream_model=None,
                                           target_label=None))
    server, clients = by_kind(exporter)
    assert clients == []
    assert server.attributes["sluicegate.cache"] == "hit"
    assert server.attributes["sluicegate.attempts"] == 0
    assert "gen_ai.provider.name" not in server.attributes


async def test_no_secret_reaches_a_span(traced, vendor_key):
    extension, exporter = await traced()
    extension.request_finished(chat_record())
    extension.request_finished(chat_record(status=401, error_code="invalid_api_key", attempts=[]))
    text = repr([(s.name, dict(s.attributes), s.status.description) for s in exporter.get_finished_spans()])
    for secret in (vendor_key, "pa55word", "user:"):
        assert secret not in text


# -- traceparent ---------------------------------------------------------------------------------


async def test_a_valid_traceparent_is_the_parent(traced):
    extension, exporter = await traced()
    extension.request_finished(chat_record(trace_parent=TRACEPARENT))
    server, clients = by_kind(exporter)
    assert server.context.trace_id == int(CLIENT_TRACE, 16)
    assert server.parent.span_id == int(CLIENT_SPAN, 16)
    assert server.parent.is_remote
    assert {c.context.trace_id for c in clients} == {int(CLIENT_TRACE, 16)}


async def test_an_invalid_traceparent_starts_a_new_trace(traced):
    extension, exporter = await traced()
    bad = [
        f"00-{'0' * 32}-{CLIENT_SPAN}-01",  # all-zero trace id
        f"00-{CLIENT_TRACE}-{'0' * 16}-01",  # all-zero span id
        f"ff-{CLIENT_TRACE}-{CLIENT_SPAN}-01",  # the forbidden version
        f"00-{CLIENT_TRACE.upper()}-{CLIENT_SPAN}-01",  # upper-case hex
        f"00_{CLIENT_TRACE}_{CLIENT_SPAN}_01",
    ]
    for header in bad:
        extension.request_finished(chat_record(trace_parent=header, attempts=[]))
    spans = exporter.get_finished_spans()
    assert len(spans) == len(bad)
    for span in spans:
        assert span.parent is None
        assert span.context.trace_id != int(CLIENT_TRACE, 16)


async def test_traceparent_can_be_ignored(traced):
    extension, exporter = await traced(honour_traceparent=False)
    extension.request_finished(chat_record(trace_parent=TRACEPARENT))
    server, _ = by_kind(exporter)
    assert server.parent is None
    assert server.context.trace_id != int(CLIENT_TRACE, 16)


# -- sampling ------------------------------------------------------------------------------------


async def test_sample_ratio_zero_makes_no_spans(traced):
    extension, exporter = await traced(sample_ratio=0.0)
    for _ in range(50):
        extension.request_finished(chat_record())
    assert exporter.get_finished_spans() == ()


async def test_a_client_decides_sampling_for_its_own_trace(traced):
    extension, exporter = await traced(sample_ratio=0.0)
    extension.request_finished(chat_record(trace_parent=TRACEPARENT))  # sampled flag set
    assert len(exporter.get_finished_spans()) == 3
    kept, dropped = await traced(sample_ratio=1.0)
    kept.request_finished(chat_record(trace_parent=TRACEPARENT[:-2] + "00"))  # not sampled
    assert dropped.get_finished_spans() == ()


async def test_a_partial_sample_ratio_keeps_about_that_share(traced):
    extension, exporter = await traced(sample_ratio=0.25)
    for _ in range(2000):
        extension.request_finished(chat_record(attempts=[]))
    assert 350 < len(exporter.get_finished_spans()) < 650


# -- other routes --------------------------------------------------------------------------------


def health_record(route: str = "/health", status: int = 200) -> RequestRecord:
    return RequestRecord("req_h", "GET", "/health", M0, T0, route=route, status=status, latency=0.001)


async def test_non_api_requests_are_skipped_by_default(traced):
    extension, exporter = await traced()
    extension.request_finished(health_record())
    assert exporter.get_finished_spans() == ()


async def test_all_routes_traces_them_with_http_names(traced):
    extension, exporter = await traced(all_routes=True)
    extension.request_finished(health_record())
    extension.request_finished(health_record(route="unmatched", status=404))
    health, unknown = exporter.get_finished_spans()
    assert (health.name, health.kind) == ("GET /health", SpanKind.SERVER)
    assert dict(health.attributes) == {"http.request.method": "GET", "http.route": "/health",
                                       "http.response.status_code": 200, "sluicegate.request_id": "req_h"}
    assert unknown.name == "GET"
    assert "http.route" not in unknown.attributes
    assert unknown.attributes["error.type"] == "404"
