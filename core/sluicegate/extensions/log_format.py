"""Access-log lines: the fields of a request record, as one JSON line or one readable text line."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson

#: Client-chosen strings are cut to this many characters: a log line must stay a line.
MAX_MODEL = 128
MAX_PATH = 256
MAX_CODE = 64  # error codes may come from a vendor


class UtcStamp:
    """ISO 8601 UTC times with milliseconds; the part up to the second is made once per second."""

    __slots__ = ("_second", "_prefix")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, when: float) -> str:
        second = int(when)
        if second != self._second:
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._prefix}.{int((when - second) * 1000):03d}Z"


def _cut(value: str | None, limit: int) -> str | None:
    if value is None or len(value) <= limit:
        return value
    return value[:limit] + "…"


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def record_fields(record: Any, stamp: UtcStamp) -> dict[str, Any]:
    """The access-log fields of a request record (the JSON line, and what the text line shows)."""
    attempts = record.attempts
    # One call or none (most requests) repeats nothing and falls back nowhere: skip the walks.
    many = len(attempts) > 1
    # _cut and _ms written out for the values that need nothing (nearly all): this runs for
    # every request.
    path, model, upstream_model, code = record.path, record.model, record.upstream_model, record.error_code
    latency, ttft = record.latency, record.ttft
    return {
        "time": stamp(record.started_at),
        "request_id": record.request_id,
        "client": record.client,
        "method": record.method,
        "path": path if len(path) <= MAX_PATH else _cut(path, MAX_PATH),
        "route": record.route,
        "status": record.status,
        "model": model if model is None or len(model) <= MAX_MODEL else _cut(model, MAX_MODEL),
        "provider": record.provider,
        "upstream_model": (upstream_model if upstream_model is None or len(upstream_model) <= MAX_MODEL
                           else _cut(upstream_model, MAX_MODEL)),
        "stream": record.stream,
        "attempts": len(attempts),
        "retries": record.retries if many else 0,
        "fallback": record.fallback if many else False,
        "hedged": record.hedged,
        "cache": record.cache,
        "limited": record.limited,
        "error_code": code if code is None or len(code) <= MAX_CODE else _cut(code, MAX_CODE),
        "error_class": record.error_class,
        "tokens_in": record.tokens_in,
        "tokens_out": record.tokens_out,
        "tokens_cached": record.tokens_cached,
        "tokens_cache_written": record.tokens_cache_written,
        "cost": record.cost,
        "currency": record.extras.get("currency"),
        "latency_ms": None if latency is None else round(latency * 1000, 3),
        "ttft_ms": None if ttft is None else round(ttft * 1000, 3),
    }


def _dumps(fields: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(fields, option=orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError:
        # A lone surrogate in a client's path or model: keep the line, escape what UTF-8 can't hold.
        clean = {k: v.encode("utf-8", "backslashreplace").decode() if isinstance(v, str) else v
                 for k, v in fields.items()}
        return orjson.dumps(clean, option=orjson.OPT_APPEND_NEWLINE)


def json_formatter() -> Callable[[Any], bytes]:
    stamp = UtcStamp()

    def format_json(record: Any) -> bytes:
        return _dumps(record_fields(record, stamp))

    return format_json


def _word(value: Any) -> str:
    """One space-free, printable word; anything else is quoted and escaped as JSON."""
    text = str(value)
    if text and text.isprintable() and " " not in text and '"' not in text:
        return text
    try:
        return orjson.dumps(text).decode()
    except orjson.JSONEncodeError:
        return orjson.dumps(text.encode("utf-8", "backslashreplace").decode()).decode()


def _number(value: float) -> str:
    return f"{value:.8f}".rstrip("0").rstrip(".") if value else "0"


def text_formatter() -> Callable[[Any], bytes]:
    """Lines for a terminal: time, status, method, path, model→target, latency, then what applies."""
    stamp = UtcStamp()

    def format_text(record: Any) -> bytes:
        f = record_fields(record, stamp)
        parts = [f["time"], str(f["status"]), f["method"], _word(f["path"])]
        if f["model"] is not None:
            target = f"{f['provider']}/{f['upstream_model']}" if f["provider"] else "-"
            parts.append(f"{_word(f['model'])}→{_word(target)}")
        if f["latency_ms"] is not None:
            parts.append(f"{f['latency_ms']:.1f}ms")
        if f["ttft_ms"] is not None:
            parts.append(f"ttft={f['ttft_ms']:.1f}ms")
        if f["tokens_in"] is not None or f["tokens_out"] is not None:
            parts.append(f"tokens={_or_dash(f['tokens_in'])}/{_or_dash(f['tokens_out'])}")
        if f["cost"] is not None:
            parts.append(f"cost={_number(f['cost'])}" + (f" {_word(f['currency'])}" if f["currency"] else ""))
        if f["cache"]:
            parts.append(f"cache={f['cache']}")
        if f["attempts"]:
            parts.append(f"attempts={f['attempts']}")
        for flag in ("fallback", "hedged"):
            if f[flag]:
                parts.append(flag)
        if f["limited"]:
            parts.append(f"limited={f['limited']}")
        if f["error_code"] or f["error_class"]:
            parts.append(f"error={_word(f['error_code'] or '-')}/{_word(f['error_class'] or '-')}")
        if f["client"]:
            parts.append(f"client={_word(f['client'])}")
        parts.append(f["request_id"])
        return (" ".join(parts) + "\n").encode("utf-8", "backslashreplace")

    return format_text


def _or_dash(value: int | None) -> str:
    return "-" if value is None else str(value)


FORMATTERS = {"json": json_formatter, "text": text_formatter}
