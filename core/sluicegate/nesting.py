"""How deeply nested a JSON value the gateway accepts: no deeper than it can encode again.

orjson parses 1,024 levels of arrays and objects but encodes only 254. The gateway encodes
what a client sent more than once: a renamed model, the stream-usage option, the cache key
(which wraps the body in one more object), and every translation to another vendor's format
(which can move a part two levels deeper, e.g. an OpenAI tool message's content into an
Anthropic ``tool_result`` block). A body that parsed but cannot be encoded again would fail
halfway through a request, after limits were charged and maybe after a vendor was called; it
is refused when it is read instead. ``MAX_DEPTH`` leaves room for every such re-wrapping and
is far beyond anything a real request needs.
"""

from __future__ import annotations

from typing import Any

#: The deepest nesting accepted: the body object itself is level 1.
MAX_DEPTH = 200

_CONTAINERS = (dict, list)


def may_exceed(raw: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether ``raw`` has enough brackets to nest deeper than ``limit``.

    Two counts in C: the common request has far fewer brackets than the limit and never pays
    for walking its parsed value.
    """
    return raw.count(b"{") + raw.count(b"[") > limit


def exceeds(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether a parsed JSON ``value`` nests deeper than ``limit`` levels.

    Walks level by level rather than recursing, so a value nested as deeply as orjson allows
    cannot exhaust Python's stack, and stops as soon as a level has no containers.
    """
    level = [value] if type(value) in _CONTAINERS else []
    for _ in range(limit):
        deeper = []
        for node in level:
            for child in node.values() if type(node) is dict else node:
                if type(child) in _CONTAINERS:
                    deeper.append(child)
        if not deeper:
            return False
        level = deeper
    return bool(level)
