"""sluicegate-otel: OpenTelemetry tracing for sluicegate, a plugin distribution.

Registers the extension ``tracing`` (on when ``[tracing]`` is present): a SERVER span per API
request and a CLIENT child span per upstream attempt (retries, fallbacks, hedges), named and
attributed per the OpenTelemetry GenAI semantic conventions, exported in batches on the SDK's
background thread through a tracer provider of its own (the global one is left alone). Prompts,
completions and secrets never go into a span.
"""

from __future__ import annotations

from typing import Any

from sluicegate import hookimpl
from sluicegate.services import Services
from sluicegate_otel.options import TracingOptions

__all__ = ["TracingOptions", "make_tracing"]

#: After pricing (100), which fills in the cost the request span reports.
ORDER = 800


def make_tracing(*, options: TracingOptions, services: Services) -> Any:
    """The ``tracing`` factory. The OpenTelemetry SDK (~1.5 MB resident) is imported here, when
    a config has ``[tracing]``, not when the gateway loads this plugin to find its hooks."""
    from sluicegate_otel.extension import make_tracing as build

    return build(options=options, services=services)


@hookimpl
def register_extensions(register):
    register("tracing", make_tracing, options=TracingOptions, order=ORDER)
