"""What a client may write about a key or a team: admin API bodies (and the CLI's flags, given as
the same fields) checked into the values of ``VirtualKey`` and ``Team``.

Every refusal is an ``InvalidRequest`` (400) naming the field; the id, secret, digest and prefix
are the gateway's to set and never taken from a body.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

import attrs
import orjson

from sluicegate.errors import InvalidRequest
from sluicegate_governance.model import Budget, Limits, Period, Team, VirtualKey

MAX_NAME = 200
MAX_PATTERNS = 1000
MAX_PATTERN = 200
#: Bytes of a record's metadata as JSON: notes for operators, not a document store.
MAX_METADATA = 16 * 1024
#: 9999-12-31T23:59:59Z: the last moment ISO 8601 (and every database) can spell.
LAST_TIME = 253402300799.0

KEY_FIELDS = ("name", "team_id", "models", "blocked_models", "limits", "budget", "expires_at", "metadata", "enabled")
TEAM_FIELDS = ("name", "budget", "limits", "metadata")
LIMIT_FIELDS = ("rpm", "tpm", "concurrency")
BUDGET_FIELDS = ("amount", "period")

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _invalid(field: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{field}: {message}", param=field, code="invalid_value")


def _check_fields(body: dict[str, Any], allowed: tuple[str, ...], where: str = "") -> None:
    for name in body:
        if name not in allowed:
            shown = name if len(name) <= 64 and not _CONTROL.search(name) else "(a long or unprintable name)"
            raise InvalidRequest(
                f"{where}{shown}: unknown field; the fields are {', '.join(allowed)}.",
                param=f"{where}{shown}", code="unknown_field")


def check_name(value: Any, field: str = "name") -> str:
    if not isinstance(value, str) or not value.strip():
        raise _invalid(field, "must be a non-empty string.")
    value = value.strip()
    if len(value) > MAX_NAME:
        raise _invalid(field, f"must be at most {MAX_NAME} characters.")
    if _CONTROL.search(value):
        raise _invalid(field, "must not contain control characters.")
    return value


def _patterns(value: Any, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise _invalid(field, 'must be a list of model names or globs, e.g. ["gpt-4o*", "claude-*"].')
    if len(value) > MAX_PATTERNS:
        raise _invalid(field, f"at most {MAX_PATTERNS} entries.")
    if any(len(item) > MAX_PATTERN or _CONTROL.search(item) for item in value):
        raise _invalid(field, f"each entry must be at most {MAX_PATTERN} printable characters.")
    return tuple(dict.fromkeys(value))  # repeated entries once, in the order given


def _count(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if type(value) is not int or value < 1:
        raise _invalid(field, "must be a whole number, 1 or more (null: no limit).")
    return value


def limits_of(value: Any, current: Limits, field: str = "limits") -> Limits:
    """``current`` with the limits given changed (null removes one; absent ones stay)."""
    if value is None:
        return Limits()
    if not isinstance(value, dict):
        raise _invalid(field, "must be an object with rpm, tpm and concurrency (each a whole number or null).")
    _check_fields(value, LIMIT_FIELDS, f"{field}.")
    return attrs.evolve(current, **{name: _count(given, f"{field}.{name}") for name, given in value.items()})


def budget_of(value: Any, field: str = "budget") -> Budget | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _invalid(field, 'must be an object such as {"amount": 50, "period": "month"}, or null.')
    _check_fields(value, BUDGET_FIELDS, f"{field}.")
    amount = value.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, int | float) or not math.isfinite(amount) or amount < 0:
        raise _invalid(f"{field}.amount", "must be a number, 0 or more (in the [pricing] currency).")
    period = value.get("period", Period.MONTH.value)
    if period not in {p.value for p in Period}:
        raise _invalid(f"{field}.period", f"must be one of {', '.join(p.value for p in Period)}.")
    return Budget(amount=float(amount), period=Period(period))


def parse_time(value: Any, field: str) -> float:
    """Wall-clock seconds from ISO 8601 (UTC unless it names an offset) or unix seconds."""
    if isinstance(value, bool):
        raise _invalid(field, "must be an ISO 8601 time or unix seconds.")
    if isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                shown = repr(text) if len(text) <= 40 else "the value given"
                raise _invalid(field, f"{shown} is not an ISO 8601 time (2025-01-31T12:00:00Z) "
                                      "or unix seconds.") from None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            seconds = moment.timestamp()
    elif isinstance(value, int | float):
        seconds = float(value)
    else:
        raise _invalid(field, "must be an ISO 8601 time or unix seconds.")
    if not math.isfinite(seconds) or not 0 <= seconds <= LAST_TIME:
        raise _invalid(field, "is out of range (1970 to 9999).")
    return seconds


def _metadata(value: Any, field: str = "metadata") -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid(field, "must be an object.")
    if len(orjson.dumps(value)) > MAX_METADATA:
        raise _invalid(field, f"must be at most {MAX_METADATA // 1024} KiB as JSON.")
    return value


def _team_id(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_NAME or _CONTROL.search(value):
        raise _invalid("team_id", "must be a team's id (team_...) or null.")
    return value


def _enabled(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _invalid("enabled", "must be true or false.")
    return value


def key_values(body: dict[str, Any], current: VirtualKey | None) -> dict[str, Any]:
    """The ``VirtualKey`` fields a create (``current`` None: name required) or a change sets."""
    _check_fields(body, KEY_FIELDS)
    if current is None and "name" not in body:
        raise _invalid("name", "is required.")
    values: dict[str, Any] = {}
    for field, given in body.items():
        if field == "name":
            values["name"] = check_name(given)
        elif field == "team_id":
            values["team_id"] = _team_id(given)
        elif field in ("models", "blocked_models"):
            values[field] = _patterns(given, field)
        elif field == "limits":
            values["limits"] = limits_of(given, current.limits if current is not None else Limits())
        elif field == "budget":
            values["budget"] = budget_of(given)
        elif field == "expires_at":
            values["expires_at"] = None if given is None else parse_time(given, "expires_at")
        elif field == "metadata":
            values["metadata"] = _metadata(given)
        elif field == "enabled":
            values["enabled"] = _enabled(given)
    return values


def team_values(body: dict[str, Any], current: Team | None) -> dict[str, Any]:
    """The ``Team`` fields a create (``current`` None: name required) or a change sets."""
    _check_fields(body, TEAM_FIELDS)
    if current is None and "name" not in body:
        raise _invalid("name", "is required.")
    values: dict[str, Any] = {}
    for field, given in body.items():
        if field == "name":
            values["name"] = check_name(given)
        elif field == "limits":
            values["limits"] = limits_of(given, current.limits if current is not None else Limits())
        elif field == "budget":
            values["budget"] = budget_of(given)
        elif field == "metadata":
            values["metadata"] = _metadata(given)
    return values
