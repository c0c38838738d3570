"""``POST /admin/api/add-model``: a vendor's provider (when new) and an alias to one of its models,
in one validated change of gateway.toml.

The provider's ``type`` comes from the preset, never from the body: the type's adapter sends the
vendor's auth and version headers, so they cannot be typed wrong. Keys of the type's own (a
region, a project) come under ``options``, only those the preset declares. Every refusal names
the body field it is about (``param``; ``options.<name>`` for those), so the dialog can show it
beside that field; a literal key is never shown back, in an answer or an error.
"""

from __future__ import annotations

import tomllib
from collections.abc import Collection
from typing import Any
from urllib.parse import urlsplit

from attrs import define, field

from sluicegate.errors import GatewayError, InvalidRequest
from sluicegate_admin import toml_edit
from sluicegate_admin.body import ALIAS, PROVIDER_ID, api_key_value, check_name
from sluicegate_admin.preset_fields import BODY_FIELD, check_options, param_of
from sluicegate_admin.presets import BY_ID, Preset, env_name_for, unavailable_reason

#: The body fields this route reads; anything else (a "type", "headers") is refused.
FIELDS = frozenset({"preset", "provider_id", "base_url", "model", "alias", "api_key", "api_key_env", BODY_FIELD})
MAX_MODEL = 200
MAX_URL = 2048


@define(frozen=True, kw_only=True)
class NewModel:
    """A checked add-model request."""

    preset: Preset
    provider_id: str
    base_url: str | None  # None: the type derives it (no base_url line)
    model: str
    alias: str
    # The preset's own keys as given (region, project, ...), in the preset's order.
    options: dict[str, str] = field(factory=dict)
    # The api_key TOML value ("${VAR}" or the literal, "$" doubled); None writes no key line.
    api_key: str | None = field(repr=False)
    key_param: str  # the body field the key came from, for errors about it

    @property
    def target(self) -> str:
        return f"{self.provider_id}/{self.model}"

    def provider_values(self) -> dict[str, Any]:
        values: dict[str, Any] = {"type": self.preset.type}
        if self.base_url is not None:
            values["base_url"] = self.base_url
        values.update(self.options)
        if self.api_key is not None:
            values["api_key"] = self.api_key
        return values

    def model_values(self) -> dict[str, Any]:
        return {"targets": [self.target]}


def _invalid(param: str, message: str) -> InvalidRequest:
    return InvalidRequest(message, param=param, code="invalid_value")


def _preset(value: Any, installed_types: Collection[str]) -> Preset:
    preset = BY_ID.get(value) if isinstance(value, str) else None
    if preset is None:
        raise _invalid("preset", f"preset must be one of: {', '.join(BY_ID)}.")
    why = unavailable_reason(preset, installed_types)
    if why is not None:
        raise _invalid("preset", f"{preset.label} cannot be added here: {why}")
    return preset


def _model(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _invalid("model", "model is required: the vendor's model name, such as deepseek-chat.")
    if len(value) > MAX_MODEL or not value.isprintable() or any(ch.isspace() for ch in value):
        raise _invalid("model", f"model must be at most {MAX_MODEL} printable characters without spaces.")
    return value


def _alias(value: Any, model: str) -> str:
    if value is None or value == "":
        if ALIAS.match(model):
            return model
        raise _invalid("alias", "the model name cannot be an alias as it is ('/' or other characters "
                                "aliases cannot hold): give an alias.")
    return check_name(value, ALIAS, "alias", "alias")


def _base_url(value: Any, preset: Preset) -> str | None:
    if value is None or value == "":
        if preset.base_url:
            return preset.base_url
        if preset.base_url_optional:
            return None
        raise _invalid("base_url", "base_url is required. " + (
            preset.base_url_hint or "The vendor's API root, such as https://api.example.com/v1."))
    # The URL is never echoed: it may carry a key in its query.
    if not isinstance(value, str) or len(value) > MAX_URL or any(ch.isspace() for ch in value):
        raise _invalid("base_url", "base_url must be an http:// or https:// URL without spaces.")
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        host, parts = None, None
    if parts is None or parts.scheme not in ("http", "https") or not host:
        raise _invalid("base_url", "base_url must be an http:// or https:// URL with a host, such as "
                                   "https://api.example.com/v1.")
    return value.rstrip("/")


def _key(body: dict[str, Any], preset: Preset, provider_id: str) -> tuple[str | None, str]:
    literal = body.get("api_key")
    if isinstance(literal, str):
        # A pasted key often brings a newline along; one inside it is a mistake, not a key.
        literal = literal.strip()
        if not literal:
            raise _invalid("api_key", "api_key is empty: type the key, or untick \"Enter API key manually\" "
                                      "to use an environment variable.")
        if any(ch.isspace() or not ch.isprintable() for ch in literal):
            raise _invalid("api_key", "api_key must not contain spaces, tabs or line breaks.")
        body = {**body, "api_key": literal}
    value = api_key_value(body)
    param = "api_key" if body.get("api_key") is not None else "api_key_env"
    if value is None and not preset.key_optional:
        env = preset.key_env or env_name_for(provider_id)
        raise _invalid("api_key_env", f"Send api_key_env (the variable that holds the key, e.g. {env}) "
                                      "or api_key (the key itself).")
    return value, param


def parse_new_model(body: dict[str, Any], installed_types: Collection[str]) -> NewModel:
    """Check an add-model body; raises ``InvalidRequest`` naming the field at fault."""
    for name in body:
        if name not in FIELDS:
            shown = name[:64] if name.isprintable() else "(a field)"
            why = (" the provider type and its headers come from the preset" if name in ("type", "headers")
                   else f" expected {', '.join(sorted(FIELDS))}")
            raise InvalidRequest(f"{shown!r} is not a field of add-model:{why}.", param=name[:64],
                                 code="unknown_field")
    preset = _preset(body.get("preset"), installed_types)
    provider_id = check_name(body.get("provider_id"), PROVIDER_ID, "provider_id", "provider_id")
    model = _model(body.get("model"))
    alias = _alias(body.get("alias"), model)
    base_url = _base_url(body.get("base_url"), preset)
    options = check_options(body.get(BODY_FIELD), preset.fields, preset.label)
    api_key, key_param = _key(body, preset, provider_id)
    return NewModel(preset=preset, provider_id=provider_id, base_url=base_url, model=model, alias=alias,
                    options=options, api_key=api_key, key_param=key_param)


@define
class Edit:
    """The text edit of one add-model request; ``created_provider`` tells what it did."""

    new: NewModel
    created_provider: bool = False

    def __call__(self, text: str) -> str:
        new = self.new
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            data = None  # toml_edit reports it, with the line and column
        if data is not None:
            providers = data.get("providers") if isinstance(data.get("providers"), dict) else {}
            models = data.get("models") if isinstance(data.get("models"), dict) else {}
            if new.alias in models:
                raise GatewayError(f"The alias {new.alias!r} already exists: pick another name, or edit it "
                                   "on the Models page.", status=409, type="invalid_request_error",
                                   code="alias_exists", param="alias")
            existing = providers.get(new.provider_id)
            if isinstance(existing, dict) and existing.get("type") != new.preset.type:
                raise GatewayError(
                    f"A provider {new.provider_id!r} exists with type {existing.get('type')!r}, not "
                    f"{new.preset.type!r}: pick another provider id.", status=409,
                    type="invalid_request_error", code="provider_exists", param="provider_id")
            self.created_provider = existing is None
        else:
            self.created_provider = True
        if self.created_provider:
            text = toml_edit.add_entry(text, "providers", new.provider_id, new.provider_values())
        return toml_edit.add_entry(text, "models", new.alias, new.model_values())


def problem_param(path: str, new: NewModel) -> str | None:
    """The body field a config problem (by its TOML path) is about, if one."""
    provider = f"providers.{new.provider_id}"
    if path == provider or path.startswith(provider + "."):
        rest = path[len(provider) + 1:]
        if rest.startswith("base_url"):
            return "base_url"
        if rest.startswith("api_key"):
            return new.key_param
        key = rest.split(".", 1)[0].split("[", 1)[0]
        if any(option.name == key for option in new.preset.fields):
            return param_of(key)
        return "provider_id"
    alias = f"models.{new.alias}"
    if path == alias or path.startswith(alias + "."):
        return "model" if path.startswith(alias + ".targets") else "alias"
    return None

