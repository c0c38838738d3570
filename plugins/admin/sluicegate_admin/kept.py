"""Header values an edit keeps as the file has them.

The console never receives a header value back (they may be keys), so when an operator edits a
provider's headers it cannot resend the ones left alone. It sends ``{"keep": true}`` for those;
``body.provider_values`` turns that into a ``Kept`` marker, and ``keep_values`` swaps each marker
for the value as written in the file (``${VAR}`` references stay references), read inside the
same locked edit that writes the result, so no other change can slip in between.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from typing import Any

from attrs import define

from sluicegate.errors import InvalidRequest

#: The body value that asks to keep a header's current value.
KEEP = {"keep": True}


@define(frozen=True)
class Kept:
    """A header whose value stays as the file has it."""

    name: str


def is_keep(value: Any) -> bool:
    return isinstance(value, dict) and value == KEEP


def _current_headers(text: str, section: str, name: str) -> Mapping[str, Any]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return {}  # the edit itself reports the file's syntax error, with its line
    table = data.get(section, {}).get(name) if isinstance(data.get(section), dict) else None
    headers = table.get("headers") if isinstance(table, dict) else None
    return headers if isinstance(headers, dict) else {}


def keep_values(text: str, section: str, name: str, values: Mapping[str, Any]) -> Mapping[str, Any]:
    """``values`` with every ``Kept`` header replaced by the file's value; raises
    ``InvalidRequest`` (param ``headers.<name>``) for a header the file does not have."""
    headers = values.get("headers")
    if not isinstance(headers, dict) or not any(isinstance(v, Kept) for v in headers.values()):
        return values
    current = _current_headers(text, section, name)
    resolved: dict[str, Any] = {}
    for header, value in headers.items():
        if isinstance(value, Kept):
            if not isinstance(current.get(header), str):
                raise InvalidRequest(
                    f"headers.{header}: there is no current value to keep; enter one.",
                    param=f"headers.{header}", code="invalid_value")
            value = current[header]
        resolved[header] = value
    return {**values, "headers": resolved}
