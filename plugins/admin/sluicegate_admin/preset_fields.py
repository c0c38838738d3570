"""The vendor-specific keys a preset asks for (a region, a project, a credentials file), and the
check of the values the "Add model" dialog sends for them.

The check here is only a first gate: a short string of the characters such a value is made of,
so nothing odd reaches gateway.toml and the error names the field at once. Whether the value is
right (an AWS region that exists, a file that is there) is the provider type's own options check,
run by the config validation every change goes through.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from attrs import define

from sluicegate.errors import InvalidRequest

#: The body field the values come in (``{"options": {"region": "us-east-1"}}``); a refusal about
#: one of them names ``options.<name>``.
BODY_FIELD = "options"


@define(frozen=True)
class Rule:
    """What a value of one kind may look like: a pattern, a length cap, and the words for both."""

    pattern: re.Pattern[str]
    expects: str  # completes "options.region must be ..."
    max_length: int = 64


# A cloud region (us-east-1, europe-west4, global): it ends up in a host name.
REGION = Rule(re.compile(r"^[a-z0-9-]{2,32}$"), "a region name of 2 to 32 lowercase letters, digits and '-'")
# Google's rule for project ids (6 to 30 lowercase letters, digits and '-', starting with a
# letter, not ending with '-'), with the domain-scoped form of old projects (example.com:my-project).
GCP_PROJECT = Rule(
    re.compile(r"^(?:[a-z0-9][a-z0-9.-]{0,61}[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$"),
    "a Google Cloud project id: 6 to 30 lowercase letters, digits and '-', starting with a letter",
    max_length=94,
)
# The gateway may run anywhere: only an absolute path means the same file wherever it starts.
# "$" is left out because the loader reads "${...}" as a variable.
ABSOLUTE_PATH = Rule(
    re.compile(r"^/[^\x00-\x1f\x7f$]*$"),
    "an absolute path (starting with /), without '$' or control characters",
    max_length=1024,
)
# A dated Azure OpenAI API version (2024-10-21, 2025-04-01-preview).
AZURE_API_VERSION = Rule(re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$"), "an API version such as 2024-10-21")


@define(frozen=True, kw_only=True)
class PresetField:
    """One ``[providers.<id>]`` key a preset asks for, as the dialog shows it."""

    name: str  # the provider-table key, and the key under "options" in the body
    label: str
    rule: Rule
    required: bool = False
    default: str = ""  # what the dialog fills in; the API never supplies it
    hint: str | None = None

    def view(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "required": self.required, "default": self.default,
                "hint": self.hint}


def param_of(name: str) -> str:
    return f"{BODY_FIELD}.{name}"


def _invalid(name: str, message: str, code: str = "invalid_value") -> InvalidRequest:
    return InvalidRequest(message, param=param_of(name), code=code)


def _value(field: PresetField, value: Any) -> str | None:
    """The checked value, or None when an optional field was left empty."""
    param = param_of(field.name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if field.required:
            raise _invalid(field.name, f"{param} ({field.label}) is required: {field.rule.expects}.")
        return None
    if not isinstance(value, str):
        raise _invalid(field.name, f"{param} must be a string.")
    # A pasted value often brings spaces or a newline along at its ends.
    value = value.strip()
    if len(value) > field.rule.max_length or not field.rule.pattern.match(value):
        # The value is not echoed: the message says what it should be, the dialog shows what it is.
        raise _invalid(field.name, f"{param} must be {field.rule.expects} "
                                   f"(at most {field.rule.max_length} characters).")
    return value


def check_options(value: Any, fields: Sequence[PresetField], preset_label: str) -> dict[str, str]:
    """The body's ``options``, checked against the preset's ``fields``: the values to write, in
    the fields' order, empty optional ones left out. Raises ``InvalidRequest`` naming the field."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise InvalidRequest(f"{BODY_FIELD} must be an object of the preset's fields.", param=BODY_FIELD,
                             code="invalid_value")
    declared = {field.name for field in fields}
    for name in value:
        if name not in declared:
            shown = name[:64] if name.isprintable() else "(a field)"
            takes = (f"it takes {', '.join(field.name for field in fields)}" if fields
                     else "it takes none")
            raise InvalidRequest(f"{shown!r} is not an option of the {preset_label} preset: {takes}.",
                                 param=param_of(shown), code="unknown_field")
    checked: dict[str, str] = {}
    for field in fields:
        found = _value(field, value.get(field.name))
        if found is not None:
            checked[field.name] = found
    return checked
