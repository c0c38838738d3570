"""Telling a vendor error from a result in an answer or stream event sent with a 200.

Anthropic reports errors inside a stream as ``{"type": "error", "error": {...}}`` (under
``event: error``), and Anthropic-compatible servers sometimes answer a non-streaming call
that way with a 200, or in OpenAI's ``{"error": {...}}`` envelope, or without the ``event:``
line. The pass-through relays bodies unparsed, so each must be recognised before it is.
"""

from __future__ import annotations

from typing import Any

import orjson

_KEY = b'"error"'


def is_error_object(data: dict[str, Any]) -> bool:
    """A parsed answer or event that reports an error: Anthropic's ``"type": "error"``, or an
    ``"error"`` field on an object with no ``type`` (every message and stream event has one)."""
    kind = data.get("type")
    return kind == "error" or (kind is None and "error" in data)


def is_vendor_error(raw: bytes) -> bool:
    """``is_error_object`` for bytes relayed unparsed; only bytes containing ``"error"`` (as a
    key or a whole string value: quotes inside strings are escaped) are parsed at all."""
    if _KEY not in raw:
        return False
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    return type(data) is dict and is_error_object(data)
