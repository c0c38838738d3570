"""Plugin discovery and the per-gateway plugin manager (no globals)."""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
from collections.abc import Iterable
from typing import Any

import pluggy
from attrs import define, field

from sluicegate import __version__, hookspecs
from sluicegate.errors import GatewayError, PluginError
from sluicegate.registry import KINDS, PluginInfo, Registry

ENTRY_POINT_GROUP = "sluicegate"

log = logging.getLogger("sluicegate")

# The defaults are ordinary plugins living in the core, each one module with its registration
# beside its code; [plugins] disabled can turn any off.
DEFAULT_PLUGINS: tuple[tuple[str, str], ...] = (
    ("sluicegate.openai_errors", "sluicegate.defaults.openai_errors"),
    ("sluicegate.anthropic_errors", "sluicegate.defaults.anthropic_errors"),
    ("sluicegate.gemini_errors", "sluicegate.defaults.gemini_errors"),
    ("sluicegate.auth", "sluicegate.auth"),
    ("sluicegate.breakers", "sluicegate.resilience.breaker"),
    ("sluicegate.ratelimit", "sluicegate.features.ratelimit"),
    ("sluicegate.memory_limiter", "sluicegate.features.memory_limiter"),
    ("sluicegate.cache", "sluicegate.features.cache"),
    ("sluicegate.memory_cache", "sluicegate.features.memory_cache"),
    ("sluicegate.response_stores", "sluicegate.features.memory_response_store"),
    ("sluicegate.pricing", "sluicegate.extensions.pricing"),
    ("sluicegate.metrics", "sluicegate.extensions.metrics"),
    ("sluicegate.access_log", "sluicegate.extensions.access_log"),
    ("sluicegate.health_checks", "sluicegate.extensions.health_checks"),
)

#: The default plugin shaping each API's error bodies (``gateway_error_body``).
ERROR_BODY_DEFAULTS = {"openai": "sluicegate.openai_errors", "anthropic": "sluicegate.anthropic_errors",
                       "gemini": "sluicegate.gemini_errors"}


@define
class PluginHost:
    """A plugin manager with its plugins loaded and their components registered."""

    pm: pluggy.PluginManager
    plugins: list[PluginInfo]
    registry: Registry
    # Every plugin name that could have been loaded, disabled ones included.
    available: frozenset[str] = frozenset()
    # The gateway_error_body implementations as one plain function (made in __attrs_post_init__).
    error_body: ErrorBodies = field(init=False)

    def __attrs_post_init__(self) -> None:
        self.error_body = ErrorBodies(self.pm)

    def info(self, name: str) -> PluginInfo | None:
        return next((p for p in self.plugins if p.name == name), None)


def load_plugins(
    disabled: Iterable[str] = (),
    extra: Iterable[tuple[str, Any]] = (),
    use_entry_points: bool = True,
) -> PluginHost:
    """Build a fresh plugin manager: defaults, then entry points, then ``extra`` objects.

    ``extra`` is ``(name, plugin_object)`` pairs, for tests and embedding. Raises ``PluginError``
    naming the plugin when one fails to import or registers something invalid.
    """
    disabled = set(disabled)
    available: set[str] = set()
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    loaded: list[PluginInfo] = []

    def add(name: str, obj: Any, info: PluginInfo) -> None:
        try:
            pm.register(obj, name=name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin {name!r} ({info.distribution}) is invalid: {exc}") from None
        except ValueError as exc:
            raise PluginError(f"plugin {name!r} ({info.distribution}): {exc}") from None
        loaded.append(info)

    for name, module_name in DEFAULT_PLUGINS:
        available.add(name)
        if name in disabled:
            continue
        module = importlib.import_module(module_name)
        add(name, module, PluginInfo(name, "sluicegate", __version__, module_name))

    if use_entry_points:
        seen: dict[str, str] = {}
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist.name if ep.dist else "unknown"
            version = ep.dist.version if ep.dist else "unknown"
            if ep.name in seen and seen[ep.name] != dist:
                raise PluginError(
                    f"plugin name {ep.name!r} is claimed by two distributions: "
                    f"{seen[ep.name]} and {dist}"
                )
            if ep.name in seen:
                continue
            seen[ep.name] = dist
            available.add(ep.name)
            if ep.name in disabled:
                continue
            try:
                module = ep.load()
            except Exception as exc:  # any import-time failure is the plugin's, name it
                raise PluginError(
                    f"plugin {ep.name!r} from distribution {dist} {version} failed to load "
                    f"({ep.value}): {exc.__class__.__name__}: {exc}"
                ) from exc
            add(ep.name, module, PluginInfo(ep.name, dist, version, ep.value))

    for name, obj in extra:
        available.add(name)
        if name in disabled:
            continue
        module_name = getattr(obj, "__name__", type(obj).__name__)
        add(name, obj, PluginInfo(name, "(in process)", "-", module_name))

    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        # A hook function whose name matches no hookspec (a typo) would otherwise never run.
        name = pm.get_name(exc.plugin) if exc.plugin is not None else "?"
        raise PluginError(f"plugin {name!r} implements an unknown hook: {exc}") from None
    return PluginHost(pm, loaded, collect_components(pm, loaded), frozenset(available))


def collect_components(pm: pluggy.PluginManager, plugins: list[PluginInfo]) -> Registry:
    """Run every register_* hook once, attributing each component to the plugin that made it."""
    registry = Registry()
    by_name = {p.name: p for p in plugins}
    for kind, hook_name in KINDS.items():
        caller = getattr(pm.hook, hook_name)
        for impl in caller.get_hookimpls():
            info = by_name[impl.plugin_name]
            register = registry.register_callback(kind, info)
            try:
                impl.function(**({"register": register} if "register" in impl.argnames else {}))
            except PluginError:
                raise
            except Exception as exc:
                raise PluginError(
                    f"plugin {info.name!r} ({info.distribution}) failed in {hook_name}: "
                    f"{exc.__class__.__name__}: {exc}"
                ) from exc
    return registry


def first_result(pm: pluggy.PluginManager, hook_name: str):
    """Compile a firstresult hook into a plain function (no pluggy on the request path).

    Implementations are tried in pluggy's calling order; one that raises counts as ``None``.
    """
    impls = [
        (impl.function, impl.argnames)
        for impl in reversed(getattr(pm.hook, hook_name).get_hookimpls())
    ]

    def call(**kwargs: Any) -> Any:
        for function, argnames in impls:
            try:
                result = function(**{name: kwargs[name] for name in argnames})
            except Exception:
                continue
            if result is not None:
                return result
        return None

    return call


class ErrorBodies:
    """Every ``gateway_error_body`` implementation compiled once into a plain function.

    There is no built-in fallback: the default plugins (``sluicegate.openai_errors``,
    ``sluicegate.anthropic_errors``) are the implementation, and the config loader refuses a
    plugin set that leaves an API without one (``unshaped_apis``). Should every implementation
    still decline a real error (a replacement that shapes only some), the body is ``{}`` (the
    status, headers and request id still tell the client what happened) and that is logged
    once.
    """

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._call = first_result(pm, "gateway_error_body")
        self._warned = False

    def __call__(self, error: GatewayError, request_id: str, api: str = "openai") -> Any:
        body = self._call(error=error, request_id=request_id, api=api)
        if body is None:
            if not self._warned:
                self._warned = True
                log.error("no gateway_error_body implementation shaped a %s error for the %r API; "
                          "the client got an empty JSON object", error.status, api)
            return {}
        return body


def unshaped_apis(host: PluginHost) -> list[str]:
    """The APIs left without a shape: their default plugin is not loaded and no other plugin
    implements the hook. Decided from what is loaded: no plugin code runs for it (a plugin
    counting the errors it shapes sees only real ones)."""
    defaults = set(ERROR_BODY_DEFAULTS.values())
    if any(impl.plugin_name not in defaults for impl in host.pm.hook.gateway_error_body.get_hookimpls()):
        return []
    return [api for api, name in ERROR_BODY_DEFAULTS.items() if host.info(name) is None]
