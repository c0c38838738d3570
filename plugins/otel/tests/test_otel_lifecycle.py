"""Where tracer providers live: none before an assembly serves, one shared by equal settings
across reloads, flushed and shut down when the last assembly using it is retired."""

from __future__ import annotations

import asyncio

from opentelemetry.sdk.trace import SpanProcessor

from sluicegate.secrets import Secret
from sluicegate.services import Services
from sluicegate.telemetry import RequestRecord
from sluicegate_otel import TracingOptions, make_tracing
from sluicegate_otel.providers import LASTING_KEY, ProviderPool
from sluicegate_otel.spans import parent_context


class Watch(SpanProcessor):
    """Counts the spans that end and whether the provider was shut down."""

    def __init__(self) -> None:
        self.ended = 0
        self.shut = False

    def on_end(self, span) -> None:
        self.ended += 1

    def shutdown(self) -> None:
        self.shut = True


def make(config, lasting, **options):
    return make_tracing(options=TracingOptions(exporter="none", **options),
                        services=Services(http=None, config=config, lasting=lasting))


def record() -> RequestRecord:
    return RequestRecord("req_1", "POST", "/v1/chat/completions", 1.0, 1_700_000_000.0,
                         route="/v1/chat/completions", api="openai", model="m", status=200, latency=0.1)


async def test_the_factory_builds_nothing_until_the_assembly_serves(config):
    lasting: dict = {}
    extension = make(config, lasting)
    # A config refused after this factory ran leaves no provider or export thread behind.
    assert extension.provider is None
    assert len(lasting[LASTING_KEY]) == 0
    extension.request_finished(record())  # served before start(), nothing to share: untraced
    assert extension.provider is None


async def test_equal_settings_share_one_provider_until_the_last_retires(config):
    lasting: dict = {}
    old, new = make(config, lasting), make(config, lasting)
    await old.start()
    await new.start()  # a reload that kept [tracing] as it was
    assert new.provider is old.provider
    watch = Watch()
    new.provider.add_span_processor(watch)
    await old.aclose()  # the old assembly retires: the provider serves on
    assert not watch.shut
    new.request_finished(record())
    assert watch.ended == 1
    await new.aclose()
    assert watch.shut
    assert len(lasting[LASTING_KEY]) == 0


async def test_new_settings_get_a_new_provider_and_the_old_one_is_flushed(config):
    lasting: dict = {}
    old, new = make(config, lasting), make(config, lasting, sample_ratio=0.5)
    await old.start()
    await new.start()
    assert new.provider is not old.provider
    watch_old, watch_new = Watch(), Watch()
    old.provider.add_span_processor(watch_old)
    new.provider.add_span_processor(watch_new)
    await old.aclose()
    assert (watch_old.shut, watch_new.shut) == (True, False)
    await new.aclose()
    assert watch_new.shut


async def test_headers_are_part_of_the_settings(config):
    lasting: dict = {}
    one = make(config, lasting, headers={"authorization": Secret("Bearer one-000000")})
    two = make(config, lasting, headers={"authorization": Secret("Bearer two-000000")})
    await one.start()
    await two.start()
    assert one.provider is not two.provider
    await one.aclose()
    await two.aclose()


async def test_a_record_served_before_start_uses_a_provider_already_up(config):
    lasting: dict = {}
    old = make(config, lasting)
    await old.start()
    watch = Watch()
    old.provider.add_span_processor(watch)
    new = make(config, lasting)
    new.request_finished(record())  # the reloaded assembly serves before its start() ran
    assert new.provider is old.provider
    assert watch.ended == 1
    await new.start()  # already bound: no second lease
    await old.aclose()
    assert not watch.shut
    await new.aclose()
    assert watch.shut


async def test_closing_twice_or_unstarted_is_harmless(config):
    pool = ProviderPool()
    await pool.release(("nothing",))
    extension = make(config, {})
    await extension.aclose()
    await extension.start()
    await extension.aclose()
    await extension.aclose()
    assert extension.provider is None


def test_parent_context_reads_only_valid_headers():
    context = parent_context("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
    assert context is not None
    assert parent_context("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0") is None
    assert parent_context("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x") is None


async def test_a_request_outliving_its_retired_assembly_never_leaks_a_lease(config):
    lasting: dict = {}
    old, new = make(config, lasting), make(config, lasting)
    await old.start()
    await new.start()
    watch = Watch()
    new.provider.add_span_processor(watch)
    await old.aclose()  # retired after the grace while one of its streams still runs
    old.request_finished(record())  # that stream ends: its spans go out through the shared provider
    assert watch.ended == 1
    await new.aclose()
    assert watch.shut  # the late record took no lease that would keep the provider alive
    old.request_finished(record())  # and after the provider is gone, nothing (and no error)
    assert watch.ended == 1
    assert len(lasting[LASTING_KEY]) == 0


async def test_an_extension_retired_while_its_provider_is_built_gives_it_back(config):
    lasting: dict = {}
    extension = make(config, lasting)
    starting = asyncio.ensure_future(extension.start())
    await asyncio.sleep(0)  # start() is now waiting on the executor
    await extension.aclose()
    await starting
    assert extension.provider is None
    assert len(lasting[LASTING_KEY]) == 0  # built, and shut down at once: no lease left behind
