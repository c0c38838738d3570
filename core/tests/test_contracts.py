"""The typed plugin contract, checked once per assembly, and the builder's one rule.

Every component a factory returns is checked against its kind's Protocol in
``sluicegate.contracts``; every factory is called one way (``None`` skips, ``ConfigError`` keeps
its problems, anything else is a problem naming the plugin and its distribution), and a refused
assembly closes what it had built.
"""

from __future__ import annotations

import logging
import types

import pytest
from attrs import define

from sluicegate import hookimpl
from sluicegate.builder import AssemblyFailed
from sluicegate.config.loader import load_config_text
from sluicegate.conformance import contract_problems
from sluicegate.contracts import (
    EXTENSION_EVENTS,
    Authenticator,
    BreakerBoard,
    CacheBackend,
    Extension,
    RateLimiter,
    ResponseStore,
)
from sluicegate.errors import ConfigError
from sluicegate.features.cache import CacheOptions
from sluicegate.gateway import assemble
from sluicegate.plugin_options import FeatureOptions
from sluicegate.registry import CACHE_BACKEND, EXTENSION, MIDDLEWARE
from sluicegate.secrets import Secret
from sluicegate.services import Services
from sluicegate.telemetry import EVENTS

MOCK = '[providers.mock]\ntype = "mock"\n[models.echo]\ntargets = ["mock/echo-1"]\n'
WHO = "from plugin 'mine' (distribution (in process))"


def plugin(**hooks) -> types.SimpleNamespace:
    return types.SimpleNamespace(**{name: hookimpl(fn) for name, fn in hooks.items()})


def extension_plugin(factory, name: str = "watch") -> types.SimpleNamespace:
    def register_extensions(register):
        register(name, factory, always=True)

    return plugin(register_extensions=register_extensions)


def problems_of(text: str, *plugins, env=None) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        build(text, *plugins, env=env)
    return [(p.path, p.message) for p in caught.value.problems]


def build(text: str, *plugins, env=None):
    loaded = load_config_text(text, env=env or {}, extra_plugins=[("mine", p) for p in plugins])
    return assemble(loaded, lambda config, registry: Services(http=None, config=config, registry=registry))


# -- method names and shapes, checked at assembly ------------------------------------------------------


class Misspelt:
    def request_finshed(self, record):  # the typo the issue names
        raise AssertionError("never called")


def test_a_misspelt_extension_event_is_a_problem_naming_the_plugin_and_the_event_meant():
    found = problems_of(MOCK, extension_plugin(lambda **_: Misspelt()))
    assert found == [("watch", f"extension 'watch' {WHO} has a method request_finshed() that the core "
                               "never calls: did you mean request_finished?")]


@pytest.mark.parametrize(("method", "meant"), [
    ("request_startd", "request_started"), ("breaker_change", "breaker_changed"),
    ("config_reload", "config_reloaded"), ("acloes", "aclose"), ("close", "aclose"), ("strat", "start"),
])
def test_every_event_and_lifecycle_method_is_guarded(method, meant):
    cls = type("Watcher", (), {method: lambda self, *args: None})
    [(_, message)] = problems_of(MOCK, extension_plugin(lambda **_: cls()))
    assert message.endswith(f"did you mean {meant}?") and WHO in message


def test_methods_of_its_own_far_from_any_event_are_fine_and_nothing_is_checked_per_request():
    class Watcher:
        def request_finished(self, record):
            self.finished = record

        def summary(self):  # its own API, e.g. for a route
            return {}

        def stats(self):  # close to "start" by ratio, two edits away: not a slip
            return {}

    watcher = Watcher()
    assembly = build(MOCK, extension_plugin(lambda **_: watcher))
    assert assembly.extensions["watch"] is watcher


def test_a_correctly_named_event_suppresses_the_near_miss_check_for_it():
    class Watcher:
        def request_finished(self, record): ...

        def request_finish(self, record): ...  # a helper beside the real event: not a slip

    build(MOCK, extension_plugin(lambda **_: Watcher()))


def test_an_async_event_and_a_sync_aclose_are_problems():
    class Wrong:
        async def request_finished(self, record): ...

        def aclose(self): ...

    assert sorted(problems_of(MOCK, extension_plugin(lambda **_: Wrong()))) == [
        ("watch", f"extension 'watch' {WHO} aclose must be a coroutine (async def): the core awaits it"),
        ("watch", f"extension 'watch' {WHO} request_finished must be a plain def: the core calls it without "
                  "awaiting (an async one never runs)"),
    ]


def test_an_event_that_cannot_take_the_core_arguments_is_a_problem():
    class Wrong:
        def breaker_changed(self, target): ...  # the core passes (target, old, new)

    [(path, message)] = problems_of(MOCK, extension_plugin(lambda **_: Wrong()))
    assert (path, message) == ("watch", f"extension 'watch' {WHO} breaker_changed cannot be called as the "
                                        "core calls it: breaker_changed(target, old, new)")


def test_a_middleware_must_be_callable_and_its_gate_a_coroutine():
    class NotCallable:
        pass

    class SyncGate:
        async def __call__(self, ctx, req, call_next):
            return await call_next(ctx, req)

        def gate_target(self, ctx, req, target): ...

    for made, expected in ((NotCallable(), "must return something called as (ctx, req, call_next)"),
                           (SyncGate(), "gate_target must be a coroutine (async def)")):
        def register_middlewares(register, made=made):
            register("guard", lambda **_: made, always=True)

        [(path, message)] = problems_of(MOCK, plugin(register_middlewares=register_middlewares))
        assert path == "guard" and message.startswith(f"middleware 'guard' {WHO} ") and expected in message


def test_a_cache_backend_missing_a_method_is_a_problem_at_the_cache_table():
    class HalfBackend:
        async def get(self, key): ...

        async def aclose(self): ...

    def register_cache_backends(register):
        register("half", lambda **_: HalfBackend())

    found = problems_of(MOCK + '[cache]\nbackend = "half"\n', plugin(register_cache_backends=register_cache_backends))
    assert found == [("cache", f"cache backend 'half' {WHO} has no method set(key, value, ttl)")]


def test_a_provider_factory_must_return_a_provider():
    from sluicegate.provider import ProviderOptions

    def register_providers(register):
        register("duck", lambda **_: object(), options=ProviderOptions)

    found = problems_of('[providers.d]\ntype = "duck"\n', plugin(register_providers=register_providers))
    assert found == [("providers.d", f"provider 'duck' {WHO} must return a sluicegate.provider.Provider, not object")]


def test_the_built_in_backends_conform():
    # Every default plugin is assembled by the other tests; these name the Protocols explicitly.
    from sluicegate.features.memory_cache import MemoryCache
    from sluicegate.features.memory_limiter import MemoryRateLimiter

    assert isinstance(MemoryCache(1, lambda: 0.0), CacheBackend)
    assert contract_problems(CACHE_BACKEND, MemoryCache(1, lambda: 0.0)) == []
    assert isinstance(MemoryRateLimiter(lambda: 0.0), RateLimiter)


def test_the_protocols_are_runtime_checkable_where_that_is_useful():
    class Store:
        async def put(self, tenant, item): ...
        async def get(self, tenant, response_id): ...
        async def delete(self, tenant, response_id): ...
        async def history(self, tenant, response_id, *, max_links=None): ...
        async def aclose(self): ...

    assert isinstance(Store(), ResponseStore)
    assert not isinstance(Store(), RateLimiter)
    assert not isinstance(object(), Authenticator)
    assert not isinstance(object(), BreakerBoard)
    # The extension events are one list, shared with the hub that calls them.
    assert EXTENSION_EVENTS == EVENTS
    assert set(EVENTS) | {"start", "aclose"} == {n for n in vars(Extension) if not n.startswith("_")}


# -- the one rule ---------------------------------------------------------------------------------------


class Closing:
    closed: list[str] = []

    def __init__(self, name: str) -> None:
        self.name = name

    async def aclose(self) -> None:
        Closing.closed.append(self.name)


@pytest.fixture(autouse=True)
def _forget_closed():
    Closing.closed = []


def test_a_factory_that_raises_is_a_config_problem_naming_the_plugin_and_distribution(caplog):
    def explode(**_):
        raise RuntimeError("kaboom")

    with caplog.at_level(logging.DEBUG, logger="sluicegate"):
        found = problems_of(MOCK, extension_plugin(explode))
    assert found == [("watch", f"extension 'watch' {WHO} failed to build: RuntimeError: kaboom")]
    # The traceback is for --log-level debug only.
    [record] = [r for r in caplog.records if r.exc_info]
    assert record.levelno == logging.DEBUG


def test_a_factory_error_never_shows_a_secret_of_its_options():
    @define(kw_only=True)
    class KeyOptions(FeatureOptions):
        key: Secret | None = None

    def explode(*, options, services):
        raise RuntimeError(f"cannot log in with {options.key.reveal()}")

    def register_extensions(register):
        register("keyed", explode, options=KeyOptions)

    found = problems_of(MOCK + '[keyed]\nkey = "${K}"\n', plugin(register_extensions=register_extensions),
                        env={"K": "sk-very-secret-0123"})
    [(path, message)] = found
    assert path == "keyed" and "sk-very-secret-0123" not in message and "RuntimeError: cannot log in" in message


def test_none_skips_a_component_and_config_errors_keep_their_paths():
    def register_extensions(register):
        register("quiet", lambda **_: None, always=True)

    assembly = build(MOCK, plugin(register_extensions=register_extensions))
    assert "quiet" not in assembly.extensions


async def test_a_refused_assembly_closes_what_it_had_built_in_reverse_order():
    def register_extensions(register):
        register("first", lambda **_: Closing("first"), always=True, order=1)
        register("second", lambda **_: Closing("second"), always=True, order=2)

    def boom(**_):
        raise RuntimeError("late failure")

    def register_middlewares(register):
        register("late", boom, always=True)

    mine = plugin(register_extensions=register_extensions, register_middlewares=register_middlewares)
    with pytest.raises(AssemblyFailed) as caught:
        build(MOCK, mine)
    assert Closing.closed == []  # built, not yet closed: the caller awaits that
    await caught.value.aclose()
    assert Closing.closed == ["second", "first"]


async def test_a_backend_built_for_a_feature_that_then_fails_is_closed_by_the_core():
    # The cache asks for its backend through services.build; when the cache's own factory fails
    # after that, nobody owns the backend but the core.
    class Backend(Closing):
        async def get(self, key): ...
        async def set(self, key, value, ttl): ...

    def register_cache_backends(register):
        register("tracked", lambda **_: Backend("backend"))

    def failing_cache(*, options, services):
        component = services.registry.get(CACHE_BACKEND, options.backend)
        services.build(component, options)
        raise RuntimeError("cache broke after its backend was built")

    def register_middlewares(register):
        register("cache2", failing_cache, options=CacheOptions)

    mine = plugin(register_cache_backends=register_cache_backends, register_middlewares=register_middlewares)
    with pytest.raises(AssemblyFailed) as caught:
        build(MOCK + '[cache2]\nbackend = "tracked"\n', mine)
    [problem] = caught.value.problems
    assert problem.path == "cache2" and "RuntimeError: cache broke" in problem.message
    await caught.value.aclose()
    assert Closing.closed == ["backend"]


async def test_a_built_assembly_closes_each_component_once_and_the_owner_closes_its_backend():
    class Backend(Closing):
        async def get(self, key): ...
        async def set(self, key, value, ttl): ...

    def register_cache_backends(register):
        register("tracked", lambda **_: Backend("backend"))

    assembly = build(MOCK + '[cache]\nbackend = "tracked"\n',
                     plugin(register_cache_backends=register_cache_backends))
    assert assembly.middleware_names == ["cache"]
    await assembly.aclose()
    assert Closing.closed == ["backend"]  # by the cache's own aclose, not a second time by the core


def test_kinds_with_a_contract_are_all_covered():
    from sluicegate.conformance import CONTRACTS
    from sluicegate.registry import KINDS

    assert set(CONTRACTS) == set(KINDS)
    assert MIDDLEWARE in CONTRACTS and EXTENSION in CONTRACTS
