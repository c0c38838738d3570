"""Backends declare their own keys: the options class a backend registers (a subclass of its
feature's table) structures that table when the backend is chosen, so ``url`` and the like are
not core keys, and each is validated with its TOML path."""

from __future__ import annotations

import types

import pytest
from attrs import define, field

from sluicegate import hookimpl
from sluicegate.config.checks import positive
from sluicegate.config.loader import load_config_text
from sluicegate.config.responses import ResponsesConfig
from sluicegate.errors import ConfigError
from sluicegate.features.cache import CacheOptions
from sluicegate.features.ratelimit import RateLimitOptions
from sluicegate.gateway import assemble
from sluicegate.services import Services

MOCK = '[providers.mock]\ntype = "mock"\n[models.echo]\ntargets = ["mock/echo-1"]\n'


@define(kw_only=True)
class RegionOptions(CacheOptions):
    region: str = "eu"
    timeout: float = field(default=1.0, validator=positive)


class RegionBackend:
    made: list[RegionBackend] = []

    def __init__(self, options: RegionOptions) -> None:
        self.options = options
        RegionBackend.made.append(self)

    async def get(self, key):
        return None

    async def set(self, key, value, ttl):
        return None

    async def aclose(self):
        return None


def region_plugin(options=RegionOptions):
    def register_cache_backends(register):
        register("regional", lambda *, options, services: RegionBackend(options), options=options)

    return types.SimpleNamespace(register_cache_backends=hookimpl(register_cache_backends))


def build(text: str, *plugins):
    loaded = load_config_text(text, env={}, extra_plugins=[("regions", p) for p in plugins])
    return assemble(loaded, lambda config, registry: Services(http=None, config=config, registry=registry))


def problems(text: str, *plugins) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, env={}, extra_plugins=[("regions", p) for p in plugins])
    return [(p.path, p.message) for p in caught.value.problems]


@pytest.mark.parametrize(("table", "path"), [
    ('[cache]\nurl = "redis://127.0.0.1:6379/0"\n', "cache.url"),
    ('[ratelimit]\nrequests_per_minute = 5\nurl = "redis://127.0.0.1:6379/0"\n', "ratelimit.url"),
    ('[responses]\nurl = "redis://127.0.0.1:6379/0"\n', "responses.url"),
    ('[responses]\ntimeout = 2\n', "responses.timeout"),
])
def test_url_is_no_core_key_the_memory_backends_refuse_it(table, path):
    # The built-in backends take no URL: a url beside them is a mistake, not silently ignored.
    assert [found for found in problems(MOCK + table) if found[0] == path] == [(path, "unknown key")]


def test_a_chosen_backend_structures_its_features_table_with_its_own_keys():
    RegionBackend.made = []
    assembly = build(MOCK + '[cache]\nbackend = "regional"\nregion = "us"\nttl = 60\n', region_plugin())
    options = assembly.config.features["cache"]
    assert type(options) is RegionOptions and (options.region, options.ttl) == ("us", 60.0)
    # The cache and its backend get the one options object.
    assert assembly.middleware_names == ["cache"] and [b.options for b in RegionBackend.made] == [options]


def test_a_backends_keys_are_validated_with_their_toml_paths():
    found = problems(MOCK + '[cache]\nbackend = "regional"\nregion = 5\nregoin = "x"\ntimeout = -1\n',
                     region_plugin())
    assert sorted(found) == [("cache.region", "expected a string, got an integer"),
                             ("cache.regoin", 'unknown key (did you mean "region"?)'),
                             ("cache.timeout", "must be greater than 0, got -1")]


def test_the_same_keys_are_unknown_when_another_backend_is_chosen():
    found = problems(MOCK + '[cache]\nbackend = "memory"\nregion = "us"\n', region_plugin())
    assert found == [("cache.region", "unknown key")]


def test_an_unknown_backend_is_reported_by_the_feature_with_its_other_problems_and_its_keys_wait():
    with pytest.raises(ConfigError) as caught:
        build(MOCK + '[cache]\nbackend = "regionl"\nregion = "us"\n', region_plugin())
    [(path, message)] = [(p.path, p.message) for p in caught.value.problems]
    assert path == "cache.backend"
    assert message.startswith("unknown cache backend 'regionl' (did you mean \"regional\"?); installed: memory, ")


def test_backend_options_must_extend_the_features_table():
    @define(kw_only=True)
    class Stray:
        region: str = "eu"

    found = problems(MOCK + '[cache]\nbackend = "regional"\nregion = "us"\n', region_plugin(Stray))
    assert found[0] == ("cache.backend", "cache backend 'regional' from plugin 'regions' (distribution (in process)) "
                                         "declares options Stray, which must subclass "
                                         "sluicegate.features.cache.CacheOptions")


def test_rate_limiters_and_response_stores_choose_their_options_the_same_way():
    @define(kw_only=True)
    class LimiterOptions(RateLimitOptions):
        url: str = ""

    @define(kw_only=True)
    class StoreOptions(ResponsesConfig):
        url: str = ""

    class Limiter:
        async def acquire(self, key, cost, rate, burst): ...
        async def enter(self, key, limit, ttl): ...
        async def leave(self, key): ...
        async def aclose(self): ...

    class Store:
        def __init__(self, options):
            self.options = options

        async def put(self, tenant, item): ...
        async def get(self, tenant, response_id): ...
        async def delete(self, tenant, response_id): ...
        async def history(self, tenant, response_id, *, max_links=None): ...
        async def aclose(self): ...

    def register_rate_limiters(register):
        register("far", lambda **_: Limiter(), options=LimiterOptions)

    def register_response_stores(register):
        register("far", lambda *, options, services: Store(options), options=StoreOptions)

    far = types.SimpleNamespace(register_rate_limiters=hookimpl(register_rate_limiters),
                                register_response_stores=hookimpl(register_response_stores))
    assembly = build(MOCK + '[ratelimit]\nbackend = "far"\nurl = "far://l"\nrequests_per_minute = 5\n'
                            '[responses]\nstore = "far"\nurl = "far://s"\n', far)
    assert assembly.config.features["ratelimit"].url == "far://l"
    assert assembly.responses.options.url == "far://s" and type(assembly.responses.options) is StoreOptions
