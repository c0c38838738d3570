"""The ``pricing`` extension fed request records: prices by target with provider-wide defaults, no
cost without usage or a price, nothing for cache hits; and ``[pricing]`` validated strictly."""

from __future__ import annotations

import pytest

from sluicegate.errors import ConfigError
from sluicegate.telemetry import AttemptRecord, RequestRecord

PROVIDERS = """
[providers.openai]
type = "mock"

[providers.deepseek]
type = "mock"

[models.chat]
targets = ["openai/gpt-4o-mini", "deepseek/deepseek-chat"]

[access_log]
enabled = false
"""

PRICES = """
[pricing]
currency = "USD"

[pricing.prices."openai/gpt-4o-mini"]
input = 0.15
output = 0.60

[pricing.prices."openai/*"]
input = 5
output = 15

[pricing.prices."deepseek/*"]
input = 0.27
output = 1.10

[pricing.prices."deepseek/free-model"]
input = 0
output = 0
"""


@pytest.fixture
def pricing(build):
    return build(PROVIDERS + PRICES).extensions["pricing"]


def record(provider: str | None = "openai", model: str | None = "gpt-4o-mini", tokens_in: int | None = 1000,
           tokens_out: int | None = 500, cache: str | None = None) -> RequestRecord:
    rec = RequestRecord("req_1", "POST", "/v1/chat/completions", 0.0, 0.0, route="/v1/chat/completions",
                        model="chat", provider=provider, upstream_model=model, status=200, cache=cache)
    rec.tokens_in, rec.tokens_out = tokens_in, tokens_out
    return rec


def priced(pricing, rec: RequestRecord) -> RequestRecord:
    pricing.request_finished(rec)
    return rec


def test_cost_is_tokens_times_the_targets_price_per_million(pricing):
    rec = priced(pricing, record(tokens_in=1000, tokens_out=500))
    assert rec.cost == pytest.approx((1000 * 0.15 + 500 * 0.60) / 1e6, rel=1e-12)
    assert rec.extras["currency"] == "USD"


def test_round_prices_give_round_costs(pricing):
    # One division at the end: 1000 tokens at 0.15 are 0.00015 exactly, not 0.00015000000000000001.
    assert priced(pricing, record(tokens_in=1000, tokens_out=0)).cost == 0.00015


def test_a_model_without_its_own_price_takes_its_providers_default(pricing):
    rec = priced(pricing, record(model="gpt-4o", tokens_in=2_000_000, tokens_out=1_000_000))
    assert rec.cost == pytest.approx(2 * 5 + 15)
    assert priced(pricing, record("deepseek", "deepseek-chat", 1_000_000, 1_000_000)).cost == pytest.approx(1.37)


def test_an_exact_price_beats_the_providers_default_even_when_free(pricing):
    rec = priced(pricing, record("deepseek", "free-model", 1000, 1000))
    assert rec.cost == 0.0
    assert rec.extras["currency"] == "USD"


def test_the_target_that_answered_is_priced_not_the_first_one_tried(pricing):
    rec = record("deepseek", "deepseek-chat", 1_000_000, 0)
    rec.attempts = [AttemptRecord("openai", "gpt-4o-mini", "openai/gpt-4o-mini", 0.0, 0.1, "server_error", 500),
                    AttemptRecord("deepseek", "deepseek-chat", "deepseek/deepseek-chat", 0.1, 0.2)]
    assert priced(pricing, rec).cost == pytest.approx(0.27)


def test_no_price_means_no_cost(build):
    pricing = build(PROVIDERS + '[pricing.prices."openai/gpt-4o-mini"]\ninput = 1\noutput = 1\n').extensions["pricing"]
    rec = priced(pricing, record("deepseek", "deepseek-chat"))
    assert rec.cost is None
    assert "currency" not in rec.extras


def test_no_usage_means_no_cost_not_zero(pricing):
    rec = priced(pricing, record(tokens_in=None, tokens_out=None))
    assert rec.cost is None
    assert "currency" not in rec.extras


def test_a_missing_side_of_the_usage_counts_as_zero(pricing):
    # Embeddings report prompt tokens only.
    assert priced(pricing, record(tokens_in=4000, tokens_out=None)).cost == pytest.approx(4000 * 0.15 / 1e6)
    assert priced(pricing, record(tokens_in=None, tokens_out=100)).cost == pytest.approx(100 * 0.60 / 1e6)


@pytest.mark.parametrize("cache", ["hit", "coalesced"])
def test_answers_without_a_vendor_call_cost_nothing(pricing, cache):
    rec = priced(pricing, record(cache=cache))
    assert rec.cost == 0.0
    assert rec.extras["currency"] == "USD"
    # Even when nothing names the target (the cache answered before any routing).
    assert priced(pricing, record(provider=None, model=None, tokens_in=None, cache=cache)).cost == 0.0


@pytest.mark.parametrize("cache", ["miss", "bypass", None])
def test_other_cache_outcomes_are_priced(pricing, cache):
    assert priced(pricing, record(cache=cache)).cost == pytest.approx((1000 * 0.15 + 500 * 0.60) / 1e6)


def test_the_currency_is_configurable(build):
    pricing = build(PROVIDERS + '[pricing]\ncurrency = "EUR"\n[pricing.prices."openai/*"]\ninput = 1\noutput = 2\n')
    rec = priced(pricing.extensions["pricing"], record())
    assert rec.extras["currency"] == "EUR"


def test_no_table_no_extension_and_enabled_false_turns_it_off(build):
    assert "pricing" not in build(PROVIDERS).extensions
    off = PRICES.replace('currency = "USD"', 'currency = "USD"\nenabled = false')
    assert "pricing" not in build(PROVIDERS + off).extensions
    assert "pricing" in build(PROVIDERS + PRICES).extensions


def test_pricing_runs_before_the_access_log_and_metrics(build):
    names = list(build(PROVIDERS.replace("enabled = false", "destination = \"stdout\"") + PRICES).extensions)
    assert names.index("pricing") < names.index("access_log")


# -- validation -------------------------------------------------------------------------------------


def problems(build, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        build(PROVIDERS + text)
    return [str(problem) for problem in caught.value.problems]


def test_prices_are_checked_with_their_toml_paths(build):
    found = problems(build, """
[pricing]
currency = "US dollars"

[pricing.prices."openai/gpt-4o-mini"]
input = -0.15
output = 0.60

[pricing.prices."openai/gpt-4o"]
input = 1
outptu = 2

[pricing.prices."deepseek/*"]
input = "0.27"
output = nan
""")
    assert found == [
        "pricing.prices.openai/gpt-4o-mini: input must be 0 or more (a price per million tokens), got -0.15",
        "pricing.prices.openai/gpt-4o.output: is required",
        'pricing.prices.openai/gpt-4o.outptu: unknown key (did you mean "output"?)',
        "pricing.prices.deepseek/*.input: expected a number, got a string",
        'pricing.currency: must be a short currency code without spaces, such as "USD"',
    ]


def test_unknown_keys_of_pricing_are_refused(build):
    assert problems(build, "[pricing]\nprice = {}\n") == ['pricing.price: unknown key (did you mean "prices"?)']


def test_keys_must_name_a_configured_provider_and_a_model_or_star(build):
    found = problems(build, """
[pricing.prices.chat]
input = 1
output = 1

[pricing.prices.gpt-4o]
input = 1
output = 1

[pricing.prices."opnai/gpt-4o"]
input = 1
output = 1

[pricing.prices."openai/"]
input = 1
output = 1

[pricing.prices."openai/gpt-4*"]
input = 1
output = 1

[pricing.prices."deepseek/*"]
input = 1
output = 1
""")
    assert found == [
        "pricing.prices.chat: 'chat' is an alias; price its targets instead (\"provider/model\" or "
        "\"provider/*\"): an alias may be answered by any of them",
        "pricing.prices.gpt-4o: 'gpt-4o' is not a target: use \"provider/model\" or \"provider/*\"",
        "pricing.prices.opnai/gpt-4o: unknown provider 'opnai' (did you mean \"openai\"?)",
        "pricing.prices.openai/: 'openai/' is not a target: use \"provider/model\" or \"provider/*\"",
        "pricing.prices.openai/gpt-4*: only a whole model may be a wildcard (\"openai/*\"), not 'gpt-4*'",
    ]


def test_infinite_prices_are_refused(build):
    found = problems(build, '[pricing.prices."openai/*"]\ninput = inf\noutput = 1\n')
    assert found == ["pricing.prices.openai/*: input must be 0 or more (a price per million tokens), got inf"]


def test_cached_prompt_tokens_have_their_own_prices(build):
    pricing = build(PROVIDERS + """
[pricing.prices."openai/gpt-4o-mini"]
input = 3.0
output = 15.0
cached_input = 0.3
cache_write = 3.75

[pricing.prices."deepseek/*"]
input = 0.27
output = 1.10
""").extensions["pricing"]
    # 10,000 prompt tokens of which 6,000 read from the cache and 2,000 written to it.
    rec = record(tokens_in=10_000, tokens_out=1_000)
    rec.tokens_cached, rec.tokens_cache_written = 6_000, 2_000
    pricing.request_finished(rec)
    assert rec.cost == pytest.approx((2_000 * 3.0 + 6_000 * 0.3 + 2_000 * 3.75 + 1_000 * 15.0) / 1e6)
    # Without cache prices, cached tokens cost what any input token costs.
    other = record(provider="deepseek", model="deepseek-chat", tokens_in=10_000, tokens_out=1_000)
    other.tokens_cached = 6_000
    pricing.request_finished(other)
    assert other.cost == pytest.approx((10_000 * 0.27 + 1_000 * 1.10) / 1e6)


def test_hour_long_cache_writes_have_their_own_price(build):
    pricing = build(PROVIDERS + """
[pricing.prices."openai/gpt-4o-mini"]
input = 3.0
output = 15.0
cache_write = 3.75
cache_write_1h = 6.0

[pricing.prices."openai/*"]
input = 3.0
output = 15.0
cache_write = 3.75
""").extensions["pricing"]
    # 2,000 written to the cache, 500 of them for an hour.
    rec = record(tokens_in=10_000, tokens_out=1_000)
    rec.tokens_cache_written, rec.tokens_cache_written_1h = 2_000, 500
    pricing.request_finished(rec)
    assert rec.cost == pytest.approx((8_000 * 3.0 + 1_500 * 3.75 + 500 * 6.0 + 1_000 * 15.0) / 1e6)
    # Without a 1-hour price every write costs cache_write.
    other = record(model="gpt-4o", tokens_in=10_000, tokens_out=1_000)
    other.tokens_cache_written, other.tokens_cache_written_1h = 2_000, 500
    pricing.request_finished(other)
    assert other.cost == pytest.approx((8_000 * 3.0 + 2_000 * 3.75 + 1_000 * 15.0) / 1e6)
    # A vendor reporting more hour-long writes than writes is held to its writes.
    odd = record(tokens_in=10_000, tokens_out=0)
    odd.tokens_cache_written, odd.tokens_cache_written_1h = 100, 900
    pricing.request_finished(odd)
    assert odd.cost == pytest.approx((9_900 * 3.0 + 100 * 6.0) / 1e6)


def test_cache_prices_are_validated(build):
    with pytest.raises(ConfigError) as caught:
        build(PROVIDERS + '[pricing.prices."openai/*"]\ninput = 1\noutput = 1\ncached_input = -1\n')
    assert len(caught.value.problems) == 1
    assert "cached_input" in str(caught.value.problems[0])
    with pytest.raises(ConfigError) as caught:
        build(PROVIDERS + '[pricing.prices."openai/*"]\ninput = 1\noutput = 1\ncache_writes = 2\n')
    assert [str(p) for p in caught.value.problems] == [
        'pricing.prices.openai/*.cache_writes: unknown key (did you mean "cache_write"?)']
