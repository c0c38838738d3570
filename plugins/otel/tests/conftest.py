"""Fixtures for the tracing tests: a real config, and a started extension whose spans land in memory."""

from __future__ import annotations

import pytest
import pytest_asyncio
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sluicegate.config.loader import load_config_text
from sluicegate.services import Services
from sluicegate_otel import TracingOptions, make_tracing

VENDOR_KEY = "sk-unit-vendor-key-000000"

CONFIG = f"""
[providers.up]
type = "openai"
base_url = "https://user:pa55word@api.example.com:8443/v1"
api_key = "{VENDOR_KEY}"
headers = {{ x-extra = "{VENDOR_KEY}" }}

[providers.claude]
type = "anthropic"
api_key = "{VENDOR_KEY}"

[providers.mock]
type = "mock"

[models.smart]
targets = ["up/gpt-4o-mini", "claude/claude-sonnet-4-5"]
"""


@pytest.fixture
def vendor_key() -> str:
    return VENDOR_KEY


@pytest.fixture
def config():
    return load_config_text(CONFIG, env={}).config


@pytest_asyncio.fixture
async def traced(config):
    """``await traced(**options)`` -> (extension, exporter): started, spans kept in memory."""
    started = []

    async def start(**options):
        extension = make_tracing(
            options=TracingOptions(exporter="none", **options),
            services=Services(http=None, config=config, lasting={}),
        )
        await extension.start()
        exporter = InMemorySpanExporter()
        extension.provider.add_span_processor(SimpleSpanProcessor(exporter))
        started.append(extension)
        return extension, exporter

    yield start
    for extension in started:
        await extension.aclose()
