"""Turn gateway.toml text into a validated GatewayConfig, or a ConfigError listing every problem."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs
from attrs import define

from sluicegate.config.converter import (
    describe_type,
    make_converter,
    problems_from,
    suggest,
    validator_problems,
)
from sluicegate.config.interpolate import interpolate_tree
from sluicegate.config.providers import ProviderOptions
from sluicegate.config.resilience import BreakerOptions
from sluicegate.config.schema import CORE_TABLES, GatewayConfig, ModelConfig
from sluicegate.errors import ConfigError, ConfigProblem
from sluicegate.plugins import ERROR_BODY_DEFAULTS, PluginHost, load_plugins, unshaped_apis
from sluicegate.registry import BREAKER_POLICY, CHOSEN_BY, PROVIDER, Registry

_PROVIDER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@define
class LoadedConfig:
    """A validated config and the plugin host it was validated against."""

    config: GatewayConfig
    host: PluginHost


def load_config(
    path: str | os.PathLike[str],
    *,
    env: Mapping[str, str] | None = None,
    extra_plugins: Iterable[tuple[str, Any]] = (),
    use_entry_points: bool = True,
) -> LoadedConfig:
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem("", f"config file {source} does not exist")], source) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigProblem("", f"cannot read {source}: {exc}")], source) from None
    return load_config_text(
        text, source=source, env=env, extra_plugins=extra_plugins, use_entry_points=use_entry_points
    )


def load_config_text(
    text: str,
    *,
    source: str = "gateway.toml",
    env: Mapping[str, str] | None = None,
    extra_plugins: Iterable[tuple[str, Any]] = (),
    use_entry_points: bool = True,
) -> LoadedConfig:
    """Parse, interpolate and validate; plugins are loaded in between because they own tables."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([ConfigProblem("", f"invalid TOML: {exc}")], source) from None
    raw = interpolate_tree(raw, os.environ if env is None else env)
    disabled = _disabled_plugins(raw)
    host = load_plugins(disabled, extra_plugins, use_entry_points)
    problems = [_unshaped(api, disabled) for api in unshaped_apis(host)]
    return LoadedConfig(structure_config(raw, host.registry, source, host.available, problems), host)


def _unshaped(api: str, disabled: list[str]) -> ConfigProblem:
    # The default error-body plugins are the only implementation: no hidden fallback shape.
    default = ERROR_BODY_DEFAULTS[api]
    why = f"{default} is disabled" if default in disabled else f"{default} is not loaded"
    return ConfigProblem(
        "plugins.disabled" if default in disabled else "plugins",
        f"no plugin shapes the error bodies of the {api} API ({why} and no other plugin implements "
        f"gateway_error_body); enable {default} or install a plugin that shapes api={api!r} errors",
    )


def _disabled_plugins(raw: dict[str, Any]) -> list[str]:
    # Read leniently: the full validation of [plugins] happens with everything else.
    table = raw.get("plugins")
    disabled = table.get("disabled") if isinstance(table, dict) else None
    if isinstance(disabled, list):
        return [name for name in disabled if isinstance(name, str)]
    return []


def structure_config(
    raw: dict[str, Any],
    registry: Registry,
    source: str,
    available_plugins: frozenset[str] | None = None,
    problems: list[ConfigProblem] | None = None,
) -> GatewayConfig:
    """Structure every table; ``problems`` (found before, e.g. about plugins) are reported with
    the tables' own."""
    converter = make_converter()
    problems = list(problems or ())
    features = registry.tables()
    known_tables = [*CORE_TABLES, "providers", "models", "breaker", *features]
    values: dict[str, Any] = {}

    def structure(value: Any, cls: type, path: str) -> Any:
        if not isinstance(value, dict):
            problems.append(ConfigProblem(path, f"expected a table, got {describe_type(value)}"))
            return None
        try:
            return converter.structure(value, cls)
        except Exception as exc:  # cattrs groups every problem; flatten them with paths
            found = problems_from(exc, path, cls)
            by_key = validator_problems(value, cls, path)
            if by_key:
                # A validator raising inside __init__ reaches cattrs without a key (at the table's
                # own path); the per-key re-run names the key, so keep only that copy.
                found = [p for p in found if p.path != path]
            seen = {problem.path for problem in found}
            found += [p for p in by_key if p.path not in seen]
            problems.extend(found)
            return None

    for key, value in raw.items():
        if key in CORE_TABLES:
            cls, value = _chosen_options(key, value, CORE_TABLES[key], registry, problems)
            values[key] = structure(value, cls, key)
        elif key in ("providers", "models"):
            continue
        elif key == "breaker":
            values[key] = _structure_breaker(value, registry, structure, problems)
        elif key in features:
            if isinstance(value, dict) and value.get("enabled") is False:
                values.setdefault("switched_off", set()).add(key)
            option = _structure_feature(key, value, features[key].options, registry, structure, problems)
            if option is not None:
                values.setdefault("features", {})[key] = option
        else:
            kind = "table" if isinstance(value, dict) else "key"
            problems.append(ConfigProblem(key, f"unknown {kind}" + suggest(key, known_tables)))

    providers = _structure_providers(raw.get("providers", {}), registry, structure, problems)
    provider_table = raw.get("providers", {})
    declared = set(provider_table) if isinstance(provider_table, dict) else set()
    models = _structure_models(raw.get("models", {}), declared, structure, problems)

    plugins = values.get("plugins")
    if plugins is not None and available_plugins is not None:
        for index, name in enumerate(plugins.disabled):
            if name not in available_plugins:
                problems.append(ConfigProblem(
                    f"plugins.disabled[{index}]",
                    f"no plugin is named {name!r}{suggest(name, available_plugins)}",
                ))
    degrade = values.get("degrade")
    if degrade is not None and not degrade.enabled:
        values["degrade"] = None
    if not problems and not providers:
        # Checked once the file is otherwise valid, like the component factories' own checks:
        # a fragment with a typo is refused already, and its typo is the thing to fix first.
        problems.append(_no_providers(raw))
    if problems:
        raise ConfigError(problems, source)
    values = {key: value for key, value in values.items() if value is not None}
    if "switched_off" in values:
        values["switched_off"] = frozenset(values["switched_off"])
    return GatewayConfig(providers=providers, models=models, source=source, **values)


def _no_providers(raw: dict[str, Any]) -> ConfigProblem:
    # A gateway without providers answers every request with 404. Such a file is almost always
    # a mistake caught mid-write (a truncate-then-write seen by the file watch, an empty file
    # and a SIGHUP), so it is refused everywhere, like any other invalid config.
    hint = 'add at least one [providers.<id>] table (e.g. type = "mock")'
    if not raw:
        return ConfigProblem("", f"the config is empty: it has no providers; {hint}")
    return ConfigProblem("providers", f"no providers are configured; {hint}")


def _structure_feature(name, value, options_cls, registry, structure, problems) -> Any:
    if not isinstance(value, dict):
        problems.append(ConfigProblem(name, f"expected a table, got {describe_type(value)}"))
        return None
    if value.get("enabled") is False:
        return None
    options_cls, value = _chosen_options(name, value, options_cls, registry, problems)
    if options_cls is None:
        extra = [key for key in value if key != "enabled"]
        for key in extra:
            problems.append(ConfigProblem(f"{name}.{key}", "unknown key (this table takes no options)"))
        return True if not extra else None
    return structure(value, options_cls, name)


#: Table -> (kind, choice) for the tables a key of which picks a component (registry.CHOSEN_BY).
_CHOOSING = {choice.table: (kind, choice) for kind, choice in CHOSEN_BY.items()}


def _chosen_options(table: str, value: Any, base: type | None, registry: Registry,
                    problems: list[ConfigProblem]) -> tuple[type | None, Any]:
    """The options class a table is structured into, and the table to structure.

    For a table a key of which picks a component (``[cache] backend = "redis"``), that
    component's options class: a subclass of the table's own declaring the component's keys
    (``url``). An unknown component is reported by whoever builds it (with the other problems of
    its factory, at assembly); meanwhile the keys only it could judge are left out.
    """
    entry = _CHOOSING.get(table)
    if entry is None or base is None or not isinstance(value, dict) or table == "breaker":
        return base, value
    kind, choice = entry
    fields = attrs.fields_dict(base)
    if choice.key not in fields:
        return base, value  # another plugin's table under this name: no choice to make
    name = value.get(choice.key, fields[choice.key].default)
    component = registry.get(kind, name) if isinstance(name, str) else None
    if component is None:
        return base, {key: item for key, item in value.items() if key in fields}
    if component.options is None:
        return base, value
    if not issubclass(component.options, base):
        problems.append(ConfigProblem(
            f"{table}.{choice.key}",
            f"{component.describe()} declares options {component.options.__name__}, which must "
            f"subclass {base.__module__}.{base.__name__}"))
        return base, {key: item for key, item in value.items() if key in fields}
    return component.options, value


def _structure_breaker(value, registry, structure, problems) -> Any:
    """[breaker] takes the options of the policy it names (``policy``, default "consecutive")."""
    if not isinstance(value, dict):
        problems.append(ConfigProblem("breaker", f"expected a table, got {describe_type(value)}"))
        return None
    name = value.get("policy", "consecutive")
    policies = registry.of_kind(BREAKER_POLICY)
    component = policies.get(name) if isinstance(name, str) else None
    if component is None:
        available = ", ".join(sorted(policies)) or "none installed"
        shown = name if isinstance(name, str) else describe_type(name)
        problems.append(ConfigProblem(
            "breaker.policy",
            f"unknown breaker policy {shown!r}{suggest(str(name), policies)}; installed policies: {available}",
        ))
        return None
    if component.options is not None and not issubclass(component.options, BreakerOptions):
        problems.append(ConfigProblem(
            "breaker.policy",
            f"{component.describe()} declares options {component.options.__name__}, which must "
            "subclass sluicegate.config.resilience.BreakerOptions"))
        return None
    return structure(value, component.options or BreakerOptions, "breaker")


def _structure_providers(table, registry, structure, problems) -> dict[str, Any]:
    if not isinstance(table, dict):
        problems.append(ConfigProblem("providers", f"expected a table, got {describe_type(table)}"))
        return {}
    provider_types = registry.of_kind(PROVIDER)
    providers: dict[str, Any] = {}
    for provider_id, value in table.items():
        path = f"providers.{provider_id}"
        if not _PROVIDER_ID.match(provider_id):
            problems.append(ConfigProblem(
                path, "provider ids may hold only letters, digits, '_', '.' and '-' (no '/')"))
            continue
        if not isinstance(value, dict):
            problems.append(ConfigProblem(path, f"expected a table, got {describe_type(value)}"))
            continue
        type_name = value.get("type")
        if type_name is None:
            problems.append(ConfigProblem(f"{path}.type", "is required (the provider plugin to use)"))
            continue
        if not isinstance(type_name, str):
            problems.append(ConfigProblem(f"{path}.type", f"expected a string, got {describe_type(type_name)}"))
            continue
        component = provider_types.get(type_name)
        if component is None:
            available = ", ".join(sorted(provider_types)) or "none installed"
            problems.append(ConfigProblem(
                f"{path}.type",
                f"unknown provider type {type_name!r}{suggest(type_name, provider_types)}; "
                f"installed types: {available}",
            ))
            continue
        options = structure(value, component.options or ProviderOptions, path)
        if options is not None:
            providers[provider_id] = options
    return providers


def _target_problem(target: str, providers) -> str | None:
    provider_id, slash, upstream = target.partition("/")
    if not slash or not upstream or not provider_id:
        return f"{target!r} must look like 'provider/model'"
    if provider_id not in providers:
        return f"unknown provider {provider_id!r}{suggest(provider_id, providers)}"
    if "*" in upstream and upstream != "*":
        # A target names one model; "provider/*" is the one pattern: the name the client asked for.
        return f"{target!r}: a target's model is one name, or '*' for the model name the client asked for"
    return None


def _structure_models(table, providers, structure, problems) -> dict[str, ModelConfig]:
    if not isinstance(table, dict):
        problems.append(ConfigProblem("models", f"expected a table, got {describe_type(table)}"))
        return {}
    models: dict[str, ModelConfig] = {}
    for alias, value in table.items():
        path = f"models.{alias}"
        model = structure(value, ModelConfig, path)
        if model is None:
            continue
        if not model.targets:
            problems.append(ConfigProblem(f"{path}.targets", "needs at least one target"))
        for key in ("targets", "context_fallbacks"):
            for index, target in enumerate(getattr(model, key)):
                problem = _target_problem(target, providers)
                if problem is not None:
                    problems.append(ConfigProblem(f"{path}.{key}[{index}]", problem))
        if model.weights is not None:
            if model.strategy != "weighted":
                problems.append(ConfigProblem(f"{path}.weights", 'only used with strategy = "weighted"'))
            elif len(model.weights) != len(model.targets):
                problems.append(ConfigProblem(
                    f"{path}.weights", f"needs one weight per target ({len(model.targets)}), got {len(model.weights)}"))
            elif any(weight < 0 for weight in model.weights) or not any(model.weights):
                problems.append(ConfigProblem(f"{path}.weights", "must be non-negative and not all zero"))
        models[alias] = model
    return models
