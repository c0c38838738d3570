"""What GET /admin/api/config shows: the file's providers and aliases, masked, beside the live state.

Entries come from the config file as written (it is what the API edits), so a key shows as the
variable it names (``{"env": "OPENAI_API_KEY", "set": true}``) or as ``{"literal": true}``, never
as a value. Live facts (configured, breaker states) come from the assembly serving now.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from typing import Any

from sluicegate.gateway import Gateway, ReloadResult
from sluicegate.registry import PROVIDER
from sluicegate.resilience.balance import STRATEGIES
from sluicegate.secrets import Secret, mask_url
from sluicegate.server.health import provider_summary, target_states

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}")
# Option names whose values are credentials even where the schema does not say Secret.
_SECRET_NAME = re.compile(r"key|token|secret|password|credential|auth|^headers$", re.IGNORECASE)
_SHOWN = ("type", "base_url", "models")


def secret_state(value: Any, env: Mapping[str, str]) -> dict[str, Any]:
    """How a credential is given, without its value."""
    if not isinstance(value, str):
        return {"literal": True}
    names = _REFERENCE.findall(value)
    if not names:
        return {"literal": True}
    return {"env": ", ".join(names), "set": all(env.get(name) for name in names)}


def _is_secret(name: str, live_value: Any) -> bool:
    if isinstance(live_value, Secret) or _SECRET_NAME.search(name):
        return True
    if isinstance(live_value, Mapping):
        return any(isinstance(v, Secret) for v in live_value.values())
    if isinstance(live_value, list):
        return any(isinstance(v, Secret) for v in live_value)
    return False


def _mask(name: str, value: Any, live_value: Any, env: Mapping[str, str]) -> Any:
    if not _is_secret(name, live_value):
        return mask_url(value) if name.endswith("url") else value
    if isinstance(value, Mapping):
        return {key: secret_state(inner, env) for key, inner in value.items()}
    if isinstance(value, list):
        return [secret_state(inner, env) for inner in value]
    return secret_state(value, env)


def provider_entry(provider_id: str, raw: Mapping[str, Any], live_options: Any,
                   env: Mapping[str, str]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": provider_id,
        "type": raw.get("type"),
        "base_url": mask_url(raw.get("base_url")),
        "models": raw.get("models", []),
        "key": secret_state(raw["api_key"], env) if "api_key" in raw else None,
    }
    entry["options"] = {
        name: _mask(name, value, getattr(live_options, name, None), env)
        for name, value in raw.items()
        if name not in _SHOWN and name != "api_key"
    }
    return entry


def _live_provider(gateway: Gateway, provider_id: str, targets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    assembly = gateway.current
    provider = assembly.providers.get(provider_id) if assembly is not None else None
    if provider is None:
        return {"serving": False, "configured": None, "reason": None, "targets": {}, "traffic": None}
    prefix = provider_id + "/"
    return {
        "serving": True,
        "configured": provider.configured,
        "reason": provider.unconfigured_reason,
        # Configured targets by name, the models clients named besides as one "<id>/*" entry.
        "targets": {label: row["breaker"] for label, row in targets.items() if label.startswith(prefix)},
        # The same numbers as /health: upstream calls and errors of the last minute, latency.
        "traffic": provider_summary(provider_id, targets),
    }


def live_targets(gateway: Gateway) -> dict[str, dict[str, Any]]:
    assembly = gateway.current
    if assembly is None:
        return {}
    try:
        return target_states(assembly)
    except Exception:  # a shared breaker board may be unreachable; the page must still load
        return {}


def problem_dicts(problems: list[str]) -> list[dict[str, str]]:
    """ReloadResult keeps "path: message" strings; split them back where a path leads."""
    items = []
    for text in problems:
        path, sep, message = text.partition(": ")
        if sep and path and " " not in path:
            items.append({"path": path, "message": message})
        else:
            items.append({"path": "", "message": text})
    return items


def reload_state(result: ReloadResult) -> dict[str, Any]:
    return {"ok": result.ok, "at": result.at, "source": result.source,
            "problems": problem_dicts(result.problems)}


def parse_raw(text: str | None) -> tuple[dict[str, Any] | None, str | None]:
    """The file's tables before interpolation, or the reason it cannot be read."""
    if text is None:
        return None, "the config file could not be read"
    try:
        return tomllib.loads(text), None
    except tomllib.TOMLDecodeError as exc:
        return None, f"the config file is not valid TOML: {exc}"


def config_view(gateway: Gateway, raw: dict[str, Any] | None, file_problem: str | None,
                env: Mapping[str, str]) -> dict[str, Any]:
    assembly = gateway.current
    config = assembly.config if assembly is not None else gateway.config
    if raw is None:  # the file is unreadable: show what is serving
        raw = {"providers": {}, "models": {}}
        for provider_id, options in config.providers.items():
            raw["providers"][provider_id] = {"type": options.type, "base_url": options.base_url,
                                             "models": list(options.models)}
        for alias, model in config.models.items():
            raw["models"][alias] = {"targets": list(model.targets), "strategy": model.strategy}
    targets = live_targets(gateway)
    providers = []
    for provider_id, table in (raw.get("providers") or {}).items():
        if not isinstance(table, dict):
            continue
        live_options = config.providers.get(provider_id)
        entry = provider_entry(provider_id, table, live_options, env)
        if file_problem is not None and getattr(live_options, "api_key", None) is not None:
            entry["key"] = {"set": bool(live_options.api_key)}  # how it was given is in the file
        providers.append({**entry, **_live_provider(gateway, provider_id, targets)})
    models = []
    for alias, table in (raw.get("models") or {}).items():
        if isinstance(table, dict):
            models.append({"alias": alias, **table, "serving": alias in config.models})
    registry = assembly.host.registry if assembly is not None else gateway.loaded.host.registry
    return {
        "path": gateway.source.path if gateway.source.text is None else None,
        "editable": gateway.source.text is None,
        "file_problem": file_problem,
        "last_reload": reload_state(gateway.last_reload),
        "providers": providers,
        "models": models,
        "provider_types": sorted(registry.of_kind(PROVIDER)),
        "strategies": list(STRATEGIES),
    }
