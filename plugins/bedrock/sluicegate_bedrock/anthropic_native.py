"""Claude's own Messages API on Bedrock (``InvokeModel`` and ``InvokeModelWithResponseStream``):
the request body and the stream's events. Pure, no I/O.

Bedrock takes the Messages body as Anthropic defines it, less ``model`` (in the path) and
``stream`` (the operation says it), plus ``anthropic_version: "bedrock-2023-05-31"``; the betas
a client names in its ``anthropic-beta`` header go in the body's ``anthropic_beta`` list, and
only those Bedrock knows: it refuses the whole request for one it does not ("invalid beta
flag"), and Claude Code names several only Anthropic's own API has. Everything else (thinking,
``cache_control``, tools and server tools, ``metadata``) passes untouched: Bedrock judges it.

The answer is Anthropic's message JSON as it is. The stream is Bedrock's event stream whose
``chunk`` events carry, base64-encoded in ``bytes``, one Anthropic stream event each; they are
re-emitted as Anthropic's SSE events.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from sluicegate.exchange import SSEEvent

BEDROCK_VERSION = "bedrock-2023-05-31"

#: The ``anthropic-beta`` values Bedrock's Claude models take (from Bedrock's Claude
#: documentation: computer use, tool efficiency and search, thinking, long context, context
#: management, effort, compaction); an operator adds new ones with ``betas_allowed``.
DEFAULT_BETAS = (
    "computer-use-2024-10-22",
    "computer-use-2025-01-24",
    "computer-use-2025-11-24",
    "token-efficient-tools-2025-02-19",
    "fine-grained-tool-streaming-2025-05-14",
    "interleaved-thinking-2025-05-14",
    "dev-full-thinking-2025-05-14",
    "output-128k-2025-02-19",
    "context-1m-2025-08-07",
    "context-management-2025-06-27",
    "effort-2025-11-24",
    "tool-search-tool-2025-10-19",
    "tool-examples-2025-10-29",
    "compact-2026-01-12",
)

#: Betas Anthropic's own API and Bedrock name differently (Claude Code, believing it talks to
#: Anthropic, sends the first): the client's name is sent as Bedrock's.
BETA_RENAMES = {"advanced-tool-use-2025-11-20": "tool-search-tool-2025-10-19"}

# Decided by the operation (and the path), not the body.
_NOT_IN_BODY = ("model", "stream")


def accepted_betas(header_values: Iterable[str], allowed: frozenset[str]) -> list[str]:
    """The betas of a client's ``anthropic-beta`` header values (comma-separated, possibly
    repeated) that Bedrock accepts, renamed where Bedrock names them otherwise, each once."""
    out: list[str] = []
    for value in header_values:
        for name in value.split(","):
            name = BETA_RENAMES.get(name.strip(), name.strip())
            if name in allowed and name not in out:
                out.append(name)
    return out


def invoke_body(body: Mapping[str, Any], betas: list[str], allowed: frozenset[str]) -> bytes:
    """The InvokeModel body for a Messages request ``body`` and the client's accepted betas.

    A ``anthropic_beta`` the client put in the body itself is filtered like the header's; no
    list is sent when none is left (Bedrock refuses even an empty one for some models)."""
    out = {name: value for name, value in body.items() if name not in _NOT_IN_BODY}
    out.setdefault("anthropic_version", BEDROCK_VERSION)
    own = out.pop("anthropic_beta", None)
    if isinstance(own, list):
        betas = [*betas, *(name for name in accepted_betas([b for b in own if isinstance(b, str)], allowed)
                           if name not in betas)]
    if betas:
        out["anthropic_beta"] = betas
    return orjson.dumps(out)


def chunk_event(payload: bytes) -> SSEEvent:
    """The Anthropic SSE event a ``chunk`` event's payload (``{"bytes": <base64>}``) carries;
    ValueError (or KeyError, TypeError) for a payload that is not one."""
    raw = base64.b64decode(orjson.loads(payload)["bytes"], validate=True)
    event = orjson.loads(raw)
    kind = event["type"]
    if not isinstance(kind, str):
        raise TypeError("an Anthropic event without a type")
    return SSEEvent(raw, kind)


#: What ``chunk_event`` raises for a payload that is not a chunk.
CHUNK_FAILURES = (ValueError, KeyError, TypeError, binascii.Error)
