"""What plugins registered: components by kind and name, each remembering its plugin."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import attrs
from attrs import define

from sluicegate.config.converter import suggest
from sluicegate.errors import PluginError

# Component kinds, each filled by one register_* hook.
PROVIDER = "provider"
MIDDLEWARE = "middleware"
CACHE_BACKEND = "cache_backend"
RATE_LIMITER = "rate_limiter"
BREAKER_POLICY = "breaker_policy"
EXTENSION = "extension"
RESPONSE_STORE = "response_store"
AUTHENTICATOR = "authenticator"
STORE = "store"

KINDS = {
    PROVIDER: "register_providers",
    MIDDLEWARE: "register_middlewares",
    CACHE_BACKEND: "register_cache_backends",
    RATE_LIMITER: "register_rate_limiters",
    BREAKER_POLICY: "register_breaker_policies",
    EXTENSION: "register_extensions",
    RESPONSE_STORE: "register_response_stores",
    AUTHENTICATOR: "register_authenticators",
    STORE: "register_stores",
}

#: How problems name a component of each kind.
NOUNS = {
    PROVIDER: "provider",
    MIDDLEWARE: "middleware",
    CACHE_BACKEND: "cache backend",
    RATE_LIMITER: "rate-limiter backend",
    BREAKER_POLICY: "breaker policy",
    EXTENSION: "extension",
    RESPONSE_STORE: "response store",
    AUTHENTICATOR: "authenticator",
    STORE: "store",
}

#: Kinds whose components own a top-level config table named after them; they run in ascending
#: ``order`` and are on when their table is present (or ``always``).
TABLE_KINDS = (MIDDLEWARE, EXTENSION, AUTHENTICATOR)

#: Where no ``order`` is given.
DEFAULT_ORDER = 500


@define(frozen=True)
class Choice:
    """A kind whose component a key of a table picks (``[cache] backend = "redis"``).

    The chosen component's ``options`` class, which must subclass the table's own, structures
    the whole table: a backend declares its keys (``url``) there and they are validated with
    their TOML paths like any other; the table owner's factory and the backend's get the same
    options object.
    """

    table: str
    key: str


CHOSEN_BY = {
    CACHE_BACKEND: Choice("cache", "backend"),
    RATE_LIMITER: Choice("ratelimit", "backend"),
    RESPONSE_STORE: Choice("responses", "store"),
    BREAKER_POLICY: Choice("breaker", "policy"),
    # The table is the governance extension's (sluicegate-governance), which builds the store.
    STORE: Choice("store", "backend"),
}


@define(frozen=True)
class PluginInfo:
    """A loaded plugin: its registration name and where it came from."""

    name: str
    distribution: str
    version: str
    module: str

    def describe(self) -> str:
        """How problems name the plugin: ``plugin 'x' (distribution sluicegate-x)``."""
        return f"plugin {self.name!r} (distribution {self.distribution})"


@define(frozen=True)
class Component:
    kind: str
    name: str
    factory: Callable[..., Any]
    options: type | None
    plugin: PluginInfo
    # Table kinds only: position in the chain (ascending) and on-without-a-table.
    order: int = DEFAULT_ORDER
    always: bool = False

    def describe(self) -> str:
        """``extension 'x' from plugin 'p' (distribution d)``, for problems."""
        return f"{NOUNS[self.kind]} {self.name!r} from {self.plugin.describe()}"


class Registry:
    """Components by kind and name; registering a taken name is an error naming both owners."""

    def __init__(self) -> None:
        self._components: dict[str, dict[str, Component]] = {kind: {} for kind in KINDS}

    def register_callback(self, kind: str, plugin: PluginInfo) -> Callable[..., None]:
        """The ``register`` a plugin's ``register_*`` hook receives: explicit keywords only."""
        if kind in TABLE_KINDS:

            def register(
                name: str,
                factory: Callable[..., Any],
                *,
                options: type | None = None,
                order: int = DEFAULT_ORDER,
                always: bool = False,
            ) -> None:
                if type(order) is bool or not isinstance(order, int):
                    raise PluginError(f"{plugin.describe()}: {NOUNS[kind]} {name!r}: order must be an integer")
                if type(always) is not bool:
                    raise PluginError(f"{plugin.describe()}: {NOUNS[kind]} {name!r}: always must be true or false")
                self.add(Component(kind, name, factory, options, plugin, int(order), always))

        else:

            def register(name: str, factory: Callable[..., Any], *, options: type | None = None) -> None:
                self.add(Component(kind, name, factory, options, plugin))

        return _strict(register, KINDS[kind], plugin)

    def add(self, component: Component) -> None:
        where = f"{component.kind} {component.name!r}"
        if not isinstance(component.name, str) or not component.name:
            raise PluginError(f"plugin {component.plugin.name!r} registered a {component.kind} "
                              "with an empty or non-string name")
        if not callable(component.factory):
            raise PluginError(f"{where} from plugin {component.plugin.name!r}: factory is not callable")
        if component.options is not None and not attrs.has(component.options):
            raise PluginError(f"{where} from plugin {component.plugin.name!r}: options must be an attrs class")
        taken = self._components[component.kind].get(component.name)
        if taken is None and component.kind in TABLE_KINDS:
            # Two components of the table kinds may not both own one [table].
            taken = next((c for kind in TABLE_KINDS if (c := self._components[kind].get(component.name))), None)
        if taken is not None:
            raise PluginError(
                f"{where} is registered twice: by plugin {taken.plugin.name!r} "
                f"(distribution {taken.plugin.distribution}) and by plugin "
                f"{component.plugin.name!r} (distribution {component.plugin.distribution})"
            )
        self._components[component.kind][component.name] = component

    def get(self, kind: str, name: str) -> Component | None:
        return self._components[kind].get(name)

    def of_kind(self, kind: str) -> dict[str, Component]:
        return self._components[kind]

    def tables(self) -> dict[str, Component]:
        """Top-level table name -> the component that owns it (the ``TABLE_KINDS``)."""
        owned: dict[str, Component] = {}
        for kind in TABLE_KINDS:
            owned.update(self._components[kind])
        return owned

    def by_plugin(self, plugin_name: str) -> list[Component]:
        return [
            component
            for components in self._components.values()
            for component in components.values()
            if component.plugin.name == plugin_name
        ]


def _strict(register: Callable[..., None], hook: str, plugin: PluginInfo) -> Callable[..., None]:
    """``register`` raising a PluginError that names the plugin for a call it cannot take.

    Python's own TypeError ("unexpected keyword argument 'ordr'") would surface as a failed hook;
    this says which keywords there are and which was meant.
    """
    signature = inspect.signature(register)
    keywords = [p.name for p in signature.parameters.values() if p.kind is p.KEYWORD_ONLY]

    @functools.wraps(register)
    def checked(*args: Any, **kwargs: Any) -> None:
        for key in kwargs:
            if key not in signature.parameters:
                raise PluginError(
                    f"{plugin.describe()} called register() in {hook} with an unknown keyword "
                    f"{key!r}{suggest(key, keywords)}; it takes {', '.join(keywords)}"
                )
        try:
            signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise PluginError(f"{plugin.describe()} called register() in {hook} wrongly: {exc}") from None
        register(*args, **kwargs)

    return checked
