"""The ``[tracing]`` table: where spans go, how many are kept, whose trace they join."""

from __future__ import annotations

import importlib.util
from typing import Any

from attrs import Factory, define, field

from sluicegate.config.checks import http_url, positive, probability
from sluicegate.plugin_options import FeatureOptions
from sluicegate.secrets import Secret

EXPORTERS = ("otlp", "console", "none")
#: The module the ``otlp`` extra brings; checked at config load so ``sluicegate check`` says so too.
OTLP_MODULE = "opentelemetry.exporter.otlp.proto.http.trace_exporter"
OTLP_INSTALL = "pip install 'sluicegate-otel[otlp]'"


def otlp_installed() -> bool:
    try:
        return importlib.util.find_spec(OTLP_MODULE) is not None
    except (ImportError, ValueError):  # a parent package missing, or a broken install
        return False


def _exporter(_: Any, attribute: Any, value: str) -> None:
    if value not in EXPORTERS:
        raise ValueError(f"must be one of {', '.join(repr(e) for e in EXPORTERS)}; got {value!r}")
    if value == "otlp" and not otlp_installed():
        # Also raised for the default, where the problem's path is the table: say which key.
        raise ValueError(
            f"exporter = \"otlp\" (the default) needs the OTLP/HTTP exporter, which is not installed: "
            f"{OTLP_INSTALL} (or set exporter = \"console\" or \"none\")"
        )


def _not_blank(_: Any, attribute: Any, value: str) -> None:
    if not value.strip():
        raise ValueError("must not be empty")


@define(kw_only=True)
class TracingOptions(FeatureOptions):
    """``[tracing]``: a span per API request and a child span per upstream attempt."""

    # "otlp" (OTLP/HTTP protobuf to a collector), "console" (stdout, for a look), "none" (spans
    # are made but go nowhere until a processor is added to the provider: tests).
    exporter: str = field(default="otlp", validator=_exporter)
    # The collector's OTLP/HTTP traces URL. Unset: the standard OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    # else OTEL_EXPORTER_OTLP_ENDPOINT + "/v1/traces", else http://localhost:4318/v1/traces.
    endpoint: str | None = field(default=None, validator=http_url)
    # Sent with every export (collector auth); secrets, never logged. Unset: OTEL_EXPORTER_OTLP_HEADERS.
    headers: dict[str, Secret] = Factory(dict)
    # Seconds one export may take, retries included; it bounds how long shutdown waits too.
    timeout: float = field(default=10.0, validator=positive)
    # service.name of the resource every span carries.
    service_name: str = field(default="sluicegate", validator=_not_blank)
    # Share of traces kept, decided on the trace id; a client's traceparent decides for its own.
    sample_ratio: float = field(default=1.0, validator=probability)
    # Make a request's span a child of the client's W3C traceparent (and follow its sampled flag).
    honour_traceparent: bool = True
    # Also trace non-API requests (/health, /metrics, /admin, 404s); off, only API calls are.
    all_routes: bool = False

    def export_key(self) -> tuple[Any, ...]:
        """What the tracer provider is built from: equal keys can share one provider."""
        headers = tuple(sorted(self.headers.items()))  # Secrets compare by value, print masked
        return (self.exporter, self.endpoint, headers, self.timeout, self.service_name, self.sample_ratio)
