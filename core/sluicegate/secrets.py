"""Secret strings (vendor keys, client tokens) that never print themselves."""

from __future__ import annotations

import re

# Vendor-style keys (OpenAI "sk-...", Anthropic "sk-ant-...") a vendor may echo, even partly masked.
_KEY_LIKE = re.compile(r"\b(?:sk|rk|pk)-[A-Za-z0-9_\-*.]{6,}")


class Secret:
    """A string that masks itself in every repr, str and format.

    ``missing`` names the environment variables that were unset when the value was
    interpolated, so the gateway can report "OPENAI_API_KEY is not set" without ever holding
    or showing a real key in its messages.
    """

    __slots__ = ("_value", "missing")

    def __init__(self, value: str, missing: tuple[str, ...] = ()) -> None:
        self._value = value
        self.missing = missing

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self):
        # Pickling would write the value to disk or a pipe; refuse rather than leak.
        raise TypeError("Secret values cannot be pickled")


def scrub(text: str, secrets: list[str] | tuple[str, ...]) -> str:
    """Replace every secret value, and anything shaped like a vendor key, with ``***``."""
    for value in secrets:
        if value and value in text:
            text = text.replace(value, "***")
    return _KEY_LIKE.sub("***", text)
