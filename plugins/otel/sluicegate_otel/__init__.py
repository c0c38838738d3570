"""sluicegate-otel: OpenTelemetry tracing for sluicegate, a plugin distribution.

Registers the extension ``tracing`` (on when ``[tracing]`` is present): a SERVER span per API
request and a CLIENT child span per upstream attempt (retries, fallbacks, hedges), named and
attributed per the OpenTelemetry GenAI semantic conventions, exported in batches on the SDK's
background thread through a tracer provider of its own (the global one is left alone). Prompts,
completions and secrets never go into a span.
"""

from __future__ import annotations

from sluicegate import hookimpl
from sluicegate_otel.extension import TracingExtension, make_tracing
from sluicegate_otel.options import TracingOptions
from sluicegate_otel.providers import ProviderPool, build_provider
from sluicegate_otel.spans import SpanMaker, parent_context

__all__ = ["ProviderPool", "SpanMaker", "TracingExtension", "TracingOptions", "build_provider", "parent_context"]

#: After pricing (100), which fills in the cost the request span reports.
ORDER = 800


@hookimpl
def register_extensions(register):
    register("tracing", make_tracing, options=TracingOptions, order=ORDER)
