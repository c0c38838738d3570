"""Claude on Vertex: the Messages API body as Vertex takes it, and the beta features it accepts.
Pure functions, no I/O.

Vertex's Claude endpoints take Anthropic's Messages body with two differences: the model is
named in the URL, not the body, and ``anthropic_version`` (``vertex-2023-10-16``) travels in the
body instead of the ``anthropic-version`` header. Everything else (``cache_control``,
``thinking``, tools, ``metadata``) is Anthropic's and passes untouched. Answers and stream events
are Anthropic's own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sluicegate_anthropic.translate import to_anthropic_request

VERSION = "vertex-2023-10-16"

#: ``anthropic-beta`` values Vertex accepts for Claude. Vertex refuses a whole request that names
#: any other ("Unexpected value(s) ... for the anthropic-beta header"), and Claude Code names
#: several Anthropic's own API has and Vertex has not, so a client's values are filtered to
#: these (the ``betas_allowed`` option replaces the list as Vertex adds features).
DEFAULT_BETAS_ALLOWED = (
    "interleaved-thinking-2025-05-14",
    "context-1m-2025-08-07",
    "context-management-2025-06-27",
    "computer-use-2025-01-24",
    "computer-use-2025-11-24",
    "tool-search-tool-2025-10-19",
    "web-search-2025-03-05",
    "compact-2026-01-12",
)


def vertex_body(body: dict[str, Any], version: str) -> dict[str, Any]:
    """A Messages body (the client's or a translation's) as Vertex's ``rawPredict`` takes it:
    without ``model``, with ``anthropic_version`` (the client's own, if it set one)."""
    out = {name: value for name, value in body.items() if name != "model"}
    out.setdefault("anthropic_version", version)
    return out


def count_body(body: dict[str, Any], model: str, version: str) -> dict[str, Any]:
    """A ``count_tokens`` body for Vertex's ``count-tokens`` pseudo-model: there the model is
    named in the body."""
    out = {**body, "model": model}
    out.setdefault("anthropic_version", version)
    return out


def chat_body(openai_body: dict[str, Any], model: str, default_max_tokens: int, version: str) -> dict[str, Any]:
    """The Vertex body for an OpenAI chat request to a Claude model (Anthropic's translation);
    ``InvalidRequest`` for what Claude cannot be asked."""
    return vertex_body(to_anthropic_request(openai_body, model, default_max_tokens), version)


def beta_header(client_values: Iterable[str], fixed: Iterable[str], allowed: frozenset[str]) -> str | None:
    """The ``anthropic-beta`` value for one call: the configured betas, then the client's that
    Vertex accepts, each once, in order; None when there are none."""
    names: list[str] = []
    for name in fixed:
        if name not in names:
            names.append(name)
    for value in client_values:
        for name in value.split(","):
            name = name.strip()
            if name in allowed and name not in names:
                names.append(name)
    return ",".join(names) if names else None
