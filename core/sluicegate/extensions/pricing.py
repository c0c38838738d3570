"""Usage and cost (``[pricing]``): price each answered request from the tokens its vendor reported.

Prices belong to targets, not aliases: an alias may be answered by any of its targets (after a
fallback, by the second one), and what a request costs is what the vendor that answered charges.
A key is ``"provider/model"`` (the model name the gateway sent upstream) or ``"provider/*"``, a
default for every other model of that provider. Prices are per million tokens.

Also the default plugin ``sluicegate.pricing``: the ``pricing`` extension, on when ``[pricing]``
is present, ordered before metrics and logs so they see the cost.
"""

from __future__ import annotations

import math
from typing import Any

from attrs import Factory, define, field
from attrs.validators import optional

from sluicegate.config.converter import join_path, suggest
from sluicegate.errors import ConfigError, ConfigProblem
from sluicegate.hookspecs import hookimpl
from sluicegate.plugin_options import FeatureOptions

#: ``record.cache`` values whose answer came without a vendor call: they cost nothing.
FREE_ANSWERS = frozenset({"hit", "coalesced"})
#: ``record.extras`` key the currency is left under, for the extensions after this one.
CURRENCY = "currency"
WILDCARD = "*"


def _currency(_: Any, attribute: Any, value: str) -> None:
    if not value or len(value) > 16 or not value.isprintable() or " " in value:
        raise ValueError('must be a short currency code without spaces, such as "USD"')


def _per_million(_: Any, attribute: Any, value: float) -> None:
    # Raised inside Price(), where the problem's path stops at the table: name the key here.
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{attribute.name} must be 0 or more (a price per million tokens), got {value:g}")


@define(kw_only=True)
class Price:
    """``[pricing.prices."provider/model"]``: what one target charges per million tokens."""

    # Per million prompt tokens.
    input: float = field(validator=_per_million)
    # Per million completion tokens.
    output: float = field(validator=_per_million)
    # Prompt tokens read from the vendor's prompt cache (OpenAI: half of input, Anthropic: a
    # tenth) and written to it (Anthropic: 1.25 x input); unset means the input price.
    cached_input: float | None = field(default=None, validator=optional(_per_million))
    # Per million prompt tokens written to the vendor's cache; unset: the input price.
    cache_write: float | None = field(default=None, validator=optional(_per_million))
    # Per million prompt tokens written to the cache for an hour (Anthropic: 2 x input, where
    # 5-minute writes are 1.25 x); unset: the cache_write price.
    cache_write_1h: float | None = field(default=None, validator=optional(_per_million))


@define(kw_only=True)
class PricingOptions(FeatureOptions):
    """The ``[pricing]`` table."""

    # A three-letter code, shown beside every cost.
    currency: str = field(default="USD", validator=_currency)
    # Per target, "provider/model" or "provider/*": [pricing.prices.<target>].
    prices: dict[str, Price] = Factory(dict)


class Pricing:
    """Sets ``record.cost`` (and ``extras["currency"]``) when a request finishes."""

    def __init__(self, exact: dict[tuple[str, str], Price], wide: dict[str, Price], currency: str) -> None:
        self.exact = exact
        self.wide = wide
        self.currency = currency

    def price_of(self, provider: str | None, model: str | None) -> Price | None:
        """The price of a target: its own, else its provider's ``"provider/*"``, else None."""
        price = self.exact.get((provider, model))  # type: ignore[arg-type]
        return price if price is not None else self.wide.get(provider)  # type: ignore[arg-type]

    def request_finished(self, record: Any) -> None:
        if record.cache in FREE_ANSWERS:
            # No vendor was called: nothing was spent, whatever the target's price.
            record.cost = 0.0
            record.extras[CURRENCY] = self.currency
            return
        tokens_in, tokens_out = record.tokens_in, record.tokens_out
        if tokens_in is None and tokens_out is None:
            return  # no usage reported: unknown, not free
        price = self.price_of(record.provider, record.upstream_model)
        if price is None:
            return
        prompt = (tokens_in or 0) * price.input
        cached, written = record.tokens_cached, record.tokens_cache_written
        if cached and price.cached_input is not None:
            prompt += cached * (price.cached_input - price.input)
        if written:
            five_minutes = price.cache_write if price.cache_write is not None else price.input
            hour = min(record.tokens_cache_written_1h or 0, written)
            if hour and price.cache_write_1h is not None:
                prompt += hour * (price.cache_write_1h - price.input)
                written -= hour
            prompt += written * (five_minutes - price.input)
        # One division at the end keeps round prices round (0.15 * 1000 / 1e6 == 0.00015).
        record.cost = (prompt + (tokens_out or 0) * price.output) / 1e6
        record.extras[CURRENCY] = self.currency


def _key_problem(key: str, providers: Any, aliases: Any) -> str | None:
    """Why ``key`` is not a "provider/model" or "provider/*" of a configured provider, or None."""
    provider, slash, model = key.partition("/")
    if not slash:
        if key in aliases:
            return (f"{key!r} is an alias; price its targets instead (\"provider/model\" or "
                    "\"provider/*\"): an alias may be answered by any of them")
        return f'{key!r} is not a target: use "provider/model" or "provider/*"'
    if not provider or not model:
        return f'{key!r} is not a target: use "provider/model" or "provider/*"'
    if provider not in providers:
        return f"unknown provider {provider!r}{suggest(provider, providers)}"
    if WILDCARD in model and model != WILDCARD:
        return f'only a whole model may be a wildcard ("{provider}/*"), not {model!r}'
    return None


def make_pricing(*, options: PricingOptions, services: Any) -> Pricing:
    """Factory of the ``pricing`` extension: check every key once and resolve the price table."""
    config = services.config
    providers = getattr(config, "providers", None) or {}
    aliases = getattr(config, "models", None) or {}
    problems = []
    exact: dict[tuple[str, str], Price] = {}
    wide: dict[str, Price] = {}
    for key, price in options.prices.items():
        problem = _key_problem(key, providers, aliases)
        if problem is not None:
            problems.append(ConfigProblem(join_path("prices", key), problem))
            continue
        provider, _, model = key.partition("/")
        if model == WILDCARD:
            wide[provider] = price
        else:
            exact[(provider, model)] = price
    if problems:
        raise ConfigError(problems)
    return Pricing(exact, wide, options.currency)


#: Before metrics and logs, so they see the cost.
ORDER = 100


@hookimpl
def register_extensions(register):
    register("pricing", make_pricing, options=PricingOptions, order=ORDER)
