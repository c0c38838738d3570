"""The ``[tracing]`` table: every problem at once with its TOML path, the missing ``otlp`` extra
named with its fix, and secret headers that never print."""

from __future__ import annotations

import sys

import pytest

from sluicegate.config.loader import load_config_text
from sluicegate.errors import ConfigError
from sluicegate_otel.options import OTLP_MODULE

# A config loads only with a provider; the tables under test come after it.
MOCK = '[providers.m]\ntype = "mock"\n'


def problems(text: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as raised:
        load_config_text(text, env={})
    return {p.path: p.message for p in raised.value.problems}


def test_bad_values_and_unknown_keys_are_reported_together():
    found = problems("""
[tracing]
exporter = "jaeger"
endpoint = "collector:4318"
sample_ratio = 1.5
sample_rate = 0.1
service_name = " "
timeout = 0
headers = { authorization = 42 }
""")
    assert found == {
        "tracing.exporter": "must be one of 'otlp', 'console', 'none'; got 'jaeger'",
        "tracing.endpoint": "must be an http:// or https:// URL",
        "tracing.sample_ratio": "must be between 0 and 1, got 1.5",
        "tracing.sample_rate": 'unknown key (did you mean "sample_ratio"?)',
        "tracing.service_name": "must not be empty",
        "tracing.timeout": "must be greater than 0, got 0",
        "tracing.headers.authorization": "expected a string, got an integer",
    }


def test_a_negative_ratio_and_a_misspelt_table_key():
    found = problems("[tracing]\nexporter = \"none\"\nsample_ratio = -0.1\nhonor_traceparent = false\n")
    assert found == {
        "tracing.sample_ratio": "must be between 0 and 1, got -0.1",
        "tracing.honor_traceparent": 'unknown key (did you mean "honour_traceparent"?)',
    }


def test_otlp_without_the_extra_is_refused_with_the_fix(monkeypatch):
    # As if sluicegate-otel had been installed without [otlp]: the module cannot be found.
    monkeypatch.setitem(sys.modules, OTLP_MODULE, None)
    for text, path in (("[tracing]\n", "tracing"), ("[tracing]\nexporter = \"otlp\"\n", "tracing.exporter")):
        found = problems(text)
        assert list(found) == [path]  # the default is checked too (its problem names the table)
        assert found[path].startswith('exporter = "otlp" (the default) needs the OTLP/HTTP exporter')
        assert "pip install 'sluicegate-otel[otlp]'" in found[path]
    # The other exporters need nothing more.
    assert load_config_text(MOCK + "[tracing]\nexporter = \"console\"\n", env={}).config.features["tracing"]


def test_otlp_with_the_extra_installed_loads():
    loaded = load_config_text(MOCK + "[tracing]\nendpoint = \"https://otel.example.com/v1/traces\"\n", env={})
    options = loaded.config.features["tracing"]
    assert (options.exporter, options.endpoint, options.sample_ratio) == (
        "otlp", "https://otel.example.com/v1/traces", 1.0)
    assert (options.service_name, options.honour_traceparent, options.all_routes) == ("sluicegate", True, False)


def test_header_values_are_secrets():
    loaded = load_config_text(
        MOCK + "[tracing]\nexporter = \"none\"\nheaders = { authorization = \"Bearer ${OTEL_TOKEN}\" }\n",
        env={"OTEL_TOKEN": "collector-secret-123"},
    )
    options = loaded.config.features["tracing"]
    assert options.headers["authorization"].reveal() == "Bearer collector-secret-123"
    assert "collector-secret-123" not in repr(options)
    assert "collector-secret-123" not in f"{options}"


def test_no_table_no_tracing():
    assert "tracing" not in load_config_text("[providers.mock]\ntype = \"mock\"\n", env={}).config.features

