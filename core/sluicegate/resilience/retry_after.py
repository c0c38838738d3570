"""How long a vendor asked us to wait, from whichever of its headers says so most precisely."""

from __future__ import annotations

import datetime
import email.utils
import math
import re
from collections.abc import Mapping

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
# One "<number><unit>" step of a Go duration ("6m0s", "1h2m3.5s", "20ms"); "ms" and the other
# two-letter units come before "m" and "s" so the longer unit wins.
_DURATION_STEP = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|h|m|s)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
# OpenAI sends these on every answer; on a 429 they say when the exhausted bucket refills.
_RESET_HEADERS = ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens")


def retry_after_seconds(headers: Mapping[str, str], now: float, *, status: int | None = None) -> float | None:
    """Seconds to wait before calling again, or None when the headers do not say.

    In order of precision: ``retry-after-ms`` (milliseconds), ``retry-after`` (seconds or an
    HTTP-date, measured from ``now``, wall-clock epoch seconds), and, only for a 429
    (``status``), the later of OpenAI's ``x-ratelimit-reset-requests``/``-tokens`` (Go
    durations). A value that does not parse is skipped; one in the past counts as 0.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    milliseconds = _number(lowered.get("retry-after-ms"))
    if milliseconds is not None:
        return _not_negative(milliseconds / 1000)
    value = lowered.get("retry-after")
    if value is not None:
        seconds = _number(value)
        if seconds is None:
            seconds = _http_date(value, now)
        if seconds is not None:
            return _not_negative(seconds)
    if status == 429:
        resets = [seconds for name in _RESET_HEADERS if (seconds := go_duration(lowered.get(name))) is not None]
        if resets:
            return max(resets)
    return None


def go_duration(text: str | None) -> float | None:
    """Seconds in a Go duration such as "1s", "6m0s", "20ms" or "1h2m3.5s"; None if it is not one."""
    if text is None:
        return None
    text = text.strip()
    negative = text.startswith("-")
    text = text[1:] if text[:1] in ("+", "-") else text
    if text == "0":
        return 0.0  # Go writes a zero duration without a unit
    total = 0.0
    position = 0
    for step in _DURATION_STEP.finditer(text):
        if step.start() != position:
            return None
        total += float(step.group(1)) * _UNIT_SECONDS[step.group(2)]
        position = step.end()
    if position == 0 or position != len(text):
        return None
    return 0.0 if negative else total  # a reset in the past: no wait


def _number(text: str | None) -> float | None:
    if text is None or not _NUMBER.fullmatch(text := text.strip()):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def _http_date(text: str, now: float) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        # RFC 9110 dates are always GMT; "-0000" parses as naive.
        when = when.replace(tzinfo=datetime.UTC)
    return when.timestamp() - now


def _not_negative(seconds: float) -> float:
    return max(seconds, 0.0)
