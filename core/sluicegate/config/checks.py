"""attrs validators whose messages read well in a config problem list (values of secrets never shown)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# RFC 7230 "token": what an HTTP header name may be made of.
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# Control characters (CR, LF and NUL among them) other than horizontal tab: a value holding one
# would split or corrupt the request aiohttp writes, so every call through it would fail.
_HEADER_VALUE_BAD = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def positive(_: Any, attribute: Any, value: float) -> None:
    if value <= 0:
        raise ValueError(f"must be greater than 0, got {value}")


def non_negative(_: Any, attribute: Any, value: float) -> None:
    if value < 0:
        raise ValueError(f"must be 0 or more, got {value}")


def port_number(_: Any, attribute: Any, value: int) -> None:
    if not 0 <= value <= 65535:
        raise ValueError(f"must be a TCP port between 0 and 65535, got {value}")


def at_least_one(_: Any, attribute: Any, value: int) -> None:
    if value < 1:
        raise ValueError(f"must be at least 1, got {value}")


def optional_at_least_one(instance: Any, attribute: Any, value: int | None) -> None:
    if value is not None:
        at_least_one(instance, attribute, value)


def http_url(_: Any, attribute: Any, value: str | None) -> None:
    if value is None:
        return
    missing = getattr(value, "missing", ())
    if missing and not value:
        raise ValueError(f"is empty because {', '.join(missing)} is not set")
    if not value.startswith(("http://", "https://")):
        # The value is not echoed: it may carry a key interpolated from the environment.
        raise ValueError("must be an http:// or https:// URL")


def probability(_: Any, attribute: Any, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"must be between 0 and 1, got {value}")


def optional_positive(instance: Any, attribute: Any, value: float | None) -> None:
    if value is not None:
        positive(instance, attribute, value)


def http_headers(_: Any, attribute: Any, value: Mapping[str, Any]) -> None:
    """Header names are RFC 7230 tokens; values hold no CR, LF, NUL or other control characters.

    A value is never shown (it may be a key); the name is, so the operator knows which to fix.
    """
    for name, item in value.items():
        shown = repr(name[:64])
        if not _HEADER_NAME.match(name):
            raise ValueError(f"header name {shown} is not a valid HTTP header name "
                             "(letters, digits and !#$%&'*+-.^_`|~ only; no spaces or line breaks)")
        text = item.reveal() if hasattr(item, "reveal") else item
        if isinstance(text, str) and _HEADER_VALUE_BAD.search(text):
            raise ValueError(f"header {shown} has a line break or control character in its value")
