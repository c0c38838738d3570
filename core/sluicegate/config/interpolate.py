"""``${VAR}`` and ``${VAR:-default}`` interpolation over a parsed TOML tree."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# $$ is a literal dollar; ${NAME} and ${NAME:-default} are substitutions.
_PATTERN = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class Interpolated(str):
    """A config string after interpolation, remembering which variables were unset.

    It is a real ``str`` so validation treats it like any other; the ``missing`` names let the
    gateway say "OPENAI_API_KEY is not set" instead of failing on an empty key.

    Its ``repr`` is the text as written in the file (``'${OPENAI_API_KEY}'``), not the value:
    config errors quote values with ``!r``, and the environment is where secrets come from, so a
    key put in the wrong place (``targets = ["${OPENAI_API_KEY}"]``) is never echoed.
    """

    __slots__ = ("missing", "written")
    missing: tuple[str, ...]
    written: str

    def __repr__(self) -> str:
        return repr(self.written)


def interpolate_string(text: str, env: Mapping[str, str]) -> str:
    if "$" not in text:
        return text
    missing: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        value = env.get(name)
        if value:
            return value
        if default is not None:
            return default
        missing.append(name)
        return ""

    result = Interpolated(_PATTERN.sub(substitute, text))
    result.missing = tuple(missing)
    result.written = text
    return result


def interpolate_tree(node: Any, env: Mapping[str, str]) -> Any:
    """Return a copy of ``node`` with every string interpolated (keys are left alone)."""
    if isinstance(node, str):
        return interpolate_string(node, env)
    if isinstance(node, dict):
        return {key: interpolate_tree(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(value, env) for value in node]
    return node
