"""Tracer providers: built off the event loop, shared by assemblies with equal settings, flushed
when the last assembly using one is retired."""

from __future__ import annotations

import asyncio
import importlib
import logging
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

import sluicegate
from sluicegate_otel.options import OTLP_MODULE, TracingOptions

log = logging.getLogger("sluicegate.tracing")

#: The key of the pool in ``Services.lasting``.
LASTING_KEY = "otel.providers"


def build_provider(options: TracingOptions) -> TracerProvider:
    """A provider of its own (the global one is the application's business), exporting in batches
    on the SDK's background thread. Blocking (imports, a thread start): run it in an executor."""
    resource = Resource.create({"service.name": options.service_name, "service.version": sluicegate.__version__})
    provider = TracerProvider(
        # Parent-based: a client's sampled traceparent is kept whatever the ratio (OTel's default).
        sampler=ParentBased(TraceIdRatioBased(options.sample_ratio)),
        resource=resource,
        # Shutdown is ours (the extension's aclose); an atexit hook would also pin every provider.
        shutdown_on_exit=False,
    )
    exporter = _exporter(options)
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def _exporter(options: TracingOptions) -> Any:
    if options.exporter == "console":
        return ConsoleSpanExporter()
    if options.exporter == "otlp":
        # Imported here, not at module load: protobuf and requests cost ~80 ms nobody else needs.
        otlp = importlib.import_module(OTLP_MODULE)
        headers = {name: value.reveal() for name, value in options.headers.items()} or None
        return otlp.OTLPSpanExporter(endpoint=options.endpoint, headers=headers, timeout=options.timeout)
    return None


class _Entry:
    __slots__ = ("provider", "users")

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.users = 0


class ProviderPool:
    """Providers by settings, kept in ``Services.lasting`` so a config reload that leaves
    ``[tracing]`` as it was keeps exporting through the same provider (and queue).

    Only an assembly that starts serving leases one, so a refused config never builds one, and
    the last lease returned shuts it down. Touched only from the event loop thread.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[Any, ...], _Entry] = {}

    def lease_existing(self, key: tuple[Any, ...]) -> TracerProvider | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        entry.users += 1
        return entry.provider

    def serving(self, key: tuple[Any, ...], provider: TracerProvider | None) -> bool:
        """Whether ``provider`` is still the live one for ``key`` (not shut down)."""
        entry = self._entries.get(key)
        return entry is not None and entry.provider is provider

    async def lease(self, key: tuple[Any, ...], options: TracingOptions) -> TracerProvider:
        provider = self.lease_existing(key)
        if provider is not None:
            return provider
        built = await asyncio.get_running_loop().run_in_executor(None, build_provider, options)
        provider = self.lease_existing(key)
        if provider is not None:  # another assembly built one meanwhile: use that, drop ours
            await _shutdown(built)
            return provider
        entry = self._entries[key] = _Entry(built)
        entry.users = 1
        return built

    async def release(self, key: tuple[Any, ...]) -> bool:
        """Return a lease; False once the provider is shut down (that was the last one)."""
        entry = self._entries.get(key)
        if entry is None:
            return False
        entry.users -= 1
        if entry.users > 0:
            return True
        del self._entries[key]
        await _shutdown(entry.provider)
        return False

    def __len__(self) -> int:
        return len(self._entries)


async def _shutdown(provider: TracerProvider) -> None:
    # Flushes the queue: an export that may wait on the network, so not on the event loop.
    try:
        await asyncio.get_running_loop().run_in_executor(None, provider.shutdown)
    except Exception:  # a collector gone must not keep the gateway from closing
        log.exception("tracing: the span exporter failed to shut down")
