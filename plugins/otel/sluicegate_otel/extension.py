"""The ``tracing`` extension: turns each finished request's record into spans."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import TracerProvider

import sluicegate
from sluicegate.services import Services
from sluicegate.telemetry import RequestRecord
from sluicegate_otel.options import TracingOptions
from sluicegate_otel.providers import LASTING_KEY, ProviderPool
from sluicegate_otel.spans import SpanMaker

#: The instrumentation scope of every span.
SCOPE = "sluicegate"


class TracingExtension:
    """One per assembly. Its tracer provider comes from a pool that outlives config reloads, so
    a reload with the same ``[tracing]`` settings keeps the same provider and export queue; new
    settings get a new provider, and the old one is flushed when its last assembly retires.

    ``provider`` is the SDK ``TracerProvider`` once the assembly serves (tests add their own
    span processor to it).
    """

    def __init__(self, options: TracingOptions, services: Services, pool: ProviderPool) -> None:
        self.options = options
        self.provider: TracerProvider | None = None
        self._key = options.export_key()
        self._pool = pool
        self._config = services.config
        self._make: SpanMaker | None = None
        self._closed = False

    async def start(self) -> None:
        if self.provider is not None or self._closed:
            return
        provider = await self._pool.lease(self._key, self.options)
        if self.provider is not None or self._closed:
            # Bound by an early request, or retired, while the provider was being built: one
            # lease per extension, so give this one back.
            await self._pool.release(self._key)
            return
        self._bind(provider)

    def _bind(self, provider: TracerProvider) -> None:
        tracer = provider.get_tracer(SCOPE, sluicegate.__version__)
        self._make = SpanMaker(tracer, self._config, honour_traceparent=self.options.honour_traceparent,
                               all_routes=self.options.all_routes)
        self.provider = provider

    def request_finished(self, record: RequestRecord) -> None:
        make = self._make
        if make is None:
            if self._closed:
                return
            # Served before start() ran (a reload swaps the assembly in first): share the
            # provider if one with these settings is already up; else this record goes untraced.
            provider = self._pool.lease_existing(self._key)
            if provider is None:
                return
            self._bind(provider)
            make = self._make
        elif self._closed and not self._pool.serving(self._key, self.provider):
            # Retired, and the provider it shared has since been shut down too.
            self.provider, self._make = None, None
            return
        make(record)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.provider is None:
            return
        if not await self._pool.release(self._key):
            # Shut down. A stream that outlives the reload grace ends untraced; while another
            # assembly still uses the provider, its spans go out through it.
            self.provider, self._make = None, None


def make_tracing(*, options: TracingOptions, services: Services) -> Any:
    """The ``tracing`` factory: validation is the options' (at config load); nothing is built
    here, so a config refused later leaves no provider or export thread behind."""
    pool = services.lasting.setdefault(LASTING_KEY, ProviderPool())
    return TracingExtension(options, services, pool)
