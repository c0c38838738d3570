"""The resilience tables: [retry], [breaker], [degrade], per-alias strategy, weights, hedging,
context fallbacks and provider timeouts; defaults without tables, every problem with its path."""

from __future__ import annotations

import pytest

from sluicegate.config.loader import load_config_text
from sluicegate.config.resilience import BreakerOptions, RetryConfig
from sluicegate.errors import ConfigError
from sluicegate.plugins import load_plugins
from sluicegate.registry import BREAKER_POLICY

PROVIDERS = """
[providers.a]
type = "mock"
[providers.b]
type = "mock"
"""


def load(text: str):
    return load_config_text(PROVIDERS + text, env={}).config


def problems(text: str) -> set[tuple[str, str]]:
    with pytest.raises(ConfigError) as info:
        load_config_text(PROVIDERS + text, env={})
    return {(p.path, p.message) for p in info.value.problems}


def test_retry_and_breaker_run_with_defaults_without_tables():
    config = load("")
    assert config.retry == RetryConfig()
    assert (config.retry.attempts, config.retry.backoff_base, config.retry.backoff_max) == (3, 0.5, 8.0)
    assert config.retry.max_retry_wait == 30.0 and config.retry.deadline is None
    assert config.breaker == BreakerOptions()
    assert (config.breaker.policy, config.breaker.failure_threshold, config.breaker.cooldown) == ("consecutive", 5, 30.0)
    assert config.degrade is None


def test_tables_structure_into_their_options():
    config = load("""
[retry]
attempts = 2
backoff_base = 0.1
deadline = 20.0
[breaker]
failure_threshold = 3
cooldown = 10.0
failure_rate = 0.5
min_calls = 4
[degrade]
message = "Try later."
[models.chat]
targets = ["a/x", "b/y"]
strategy = "weighted"
weights = [3.0, 1.0]
hedge_after = 0.5
context_fallbacks = ["b/long"]
""")
    assert (config.retry.attempts, config.retry.backoff_base, config.retry.deadline) == (2, 0.1, 20.0)
    assert (config.breaker.failure_threshold, config.breaker.failure_rate, config.breaker.min_calls) == (3, 0.5, 4)
    assert config.degrade.message == "Try later."
    chat = config.models["chat"]
    assert (chat.strategy, chat.weights, chat.hedge_after, chat.context_fallbacks) == (
        "weighted", [3.0, 1.0], 0.5, ["b/long"])


def test_degrade_table_can_be_switched_off():
    assert load('[degrade]\nenabled = false\nmessage = "x"\n').degrade is None


def test_every_resilience_problem_is_listed_with_its_path():
    found = problems("""
[retry]
attempts = 0
backoff_max = -1.0
deadline = 0.0
atempts = 3
[breaker]
failure_threshold = 0
failure_rate = 1.5
[models.chat]
targets = ["a/x", "b/y"]
strategy = "fastest"
hedge_after = 0.0
[models.long]
targets = ["a/x"]
context_fallbacks = ["nope", "c/z"]
[models.w]
targets = ["a/x", "b/y"]
strategy = "weighted"
weights = [1.0]
[models.o]
targets = ["a/x"]
weights = [1.0]
[models.z]
targets = ["a/x", "b/y"]
strategy = "weighted"
weights = [0.0, 0.0]
""")
    assert found == {
        ("retry.attempts", "must be at least 1, got 0"),
        ("retry.backoff_max", "must be 0 or more, got -1.0"),
        ("retry.deadline", "must be greater than 0, got 0.0"),
        ("retry.atempts", 'unknown key (did you mean "attempts"?)'),
        ("breaker.failure_threshold", "must be at least 1, got 0"),
        ("breaker.failure_rate", "must be between 0 and 1, got 1.5"),
        ("models.chat.strategy", "must be one of ordered, weighted, least-busy, latency; got 'fastest'"),
        ("models.chat.hedge_after", "must be greater than 0, got 0.0"),
        ("models.w.weights", "needs one weight per target (2), got 1"),
        ("models.o.weights", 'only used with strategy = "weighted"'),
        ("models.z.weights", "must be non-negative and not all zero"),
        ("models.long.context_fallbacks[0]", "'nope' must look like 'provider/model'"),
        ("models.long.context_fallbacks[1]", "unknown provider 'c'"),
    }


def test_unknown_breaker_policy_names_the_installed_ones():
    installed = ", ".join(sorted(load_plugins().registry.of_kind(BREAKER_POLICY)))
    assert "consecutive" in installed
    assert problems('[breaker]\npolicy = "fancy"\n') == {
        ("breaker.policy", f"unknown breaker policy 'fancy'; installed policies: {installed}"),
    }


def test_provider_timeouts_are_optional_and_positive():
    config = load_config_text(
        '[providers.a]\ntype = "mock"\ntimeout = 30\nconnect_timeout = 2\nfirst_byte_timeout = 5\nidle_timeout = 10\n',
        env={},
    ).config
    options = config.providers["a"]
    assert (options.connect_timeout, options.first_byte_timeout, options.idle_timeout) == (2, 5, 10)
    with pytest.raises(ConfigError) as info:
        load_config_text('[providers.a]\ntype = "mock"\nidle_timeout = 0\n', env={})
    assert [(p.path, p.message) for p in info.value.problems] == [
        ("providers.a.idle_timeout", "must be greater than 0, got 0"),
    ]


def test_an_unknown_upstream_client_is_a_problem_at_its_key():
    assert problems('[server]\nupstream_client = "httpx"\n') == {
        ("server.upstream_client", "must be one of pool, aiohttp; got 'httpx'"),
    }
