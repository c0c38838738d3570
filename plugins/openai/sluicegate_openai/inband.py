"""Telling a vendor error from a result in a body the adapter otherwise relays unparsed.

OpenAI-compatible servers may report an error with a 200 status or as a stream event, and
not all of them write it compactly: pretty-printed JSON (``{\\n  "error": ...``) and
``data: { "error": ... }`` are both seen. A byte-prefix check alone would let those through as
completions (relayed with whatever they echo, cached, counted as successes).
"""

from __future__ import annotations

import orjson

_COMPACT = b'{"error"'
_KEY = b'"error"'
# A body carrying any of these is a result (a completion, chunk, embedding or listing), even
# with an "error" field beside them (some servers add "error": null to every answer).
_RESULT_FIELDS = ("choices", "data", "object")


def is_vendor_error(data: bytes) -> bool:
    """True when ``data`` (a body or one event's data) is a JSON object reporting an error.

    The compact prefix decides the common case without parsing. Only a body containing
    ``"error"`` is parsed, which results almost never do: quotes inside JSON strings are
    escaped, so ``"error"`` appears only as a key or a whole string value.
    """
    if data.startswith(_COMPACT):
        return True
    if data.find(_KEY) == -1:  # find, not `in`: bytes `in` first tries the needle as an int
        return False
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return type(parsed) is dict and "error" in parsed and not any(name in parsed for name in _RESULT_FIELDS)
