"""What plugins registered: components by kind and name, each remembering its plugin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
from attrs import define, field

from sluicegate.errors import PluginError

# Component kinds, each filled by one register_* hook.
PROVIDER = "provider"
MIDDLEWARE = "middleware"
CACHE_BACKEND = "cache_backend"
RATE_LIMITER = "rate_limiter"
BREAKER_POLICY = "breaker_policy"
EXTENSION = "extension"
RESPONSE_STORE = "response_store"

KINDS = {
    PROVIDER: "register_providers",
    MIDDLEWARE: "register_middlewares",
    CACHE_BACKEND: "register_cache_backends",
    RATE_LIMITER: "register_rate_limiters",
    BREAKER_POLICY: "register_breaker_policies",
    EXTENSION: "register_extensions",
    RESPONSE_STORE: "register_response_stores",
}

#: Kinds whose components own a top-level config table named after them.
TABLE_KINDS = (MIDDLEWARE, EXTENSION)


@define(frozen=True)
class PluginInfo:
    """A loaded plugin: its registration name and where it came from."""

    name: str
    distribution: str
    version: str
    module: str


@define(frozen=True)
class Component:
    kind: str
    name: str
    factory: Callable[..., Any]
    options: type | None
    plugin: PluginInfo
    extra: dict[str, Any] = field(factory=dict)


class Registry:
    """Components by kind and name; registering a taken name is an error naming both owners."""

    def __init__(self) -> None:
        self._components: dict[str, dict[str, Component]] = {kind: {} for kind in KINDS}

    def register_callback(self, kind: str, plugin: PluginInfo) -> Callable[..., None]:
        def register(
            name: str,
            factory: Callable[..., Any],
            *,
            options: type | None = None,
            **extra: Any,
        ) -> None:
            self.add(Component(kind, name, factory, options, plugin, extra))

        return register

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
            # A middleware and an extension may not both own one [table].
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
        """Top-level table name -> the component that owns it (middlewares and extensions)."""
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
