"""``GET /v1/models`` and ``GET /v1/models/{id}`` answers, in OpenAI's shape or Anthropic's.

Both APIs list models on the same path. The anthropic SDK (and Claude Code) sends
``anthropic-version`` on every call and parses ``{"data": [{"type": "model", "id",
"display_name", "created_at"}], "has_more", "first_id", "last_id"}`` with cursor paging
(``limit``, ``after_id``, ``before_id``); the openai SDK parses ``{"object": "list", "data":
[{"id", "object": "model", "created", "owned_by"}]}``. The header decides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sluicegate.errors import InvalidRequest

#: The path both APIs list their models on.
MODELS_PATH = "/v1/models"
#: Anthropic's page size when ``limit`` is absent, and its largest.
DEFAULT_LIMIT, MAX_LIMIT = 20, 1000
#: The gateway does not know when a model was released; Anthropic documents the epoch for that.
UNKNOWN_RELEASE = "1970-01-01T00:00:00Z"


def wants_anthropic(headers: Mapping[str, str]) -> bool:
    """Whether the client speaks the Anthropic API (its SDK always sends this header)."""
    return "anthropic-version" in headers


def openai_model(model_id: str, owner: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": owner}


def openai_list(listing: Sequence[tuple[str, str]]) -> dict[str, Any]:
    return {"object": "list", "data": [openai_model(model_id, owner) for model_id, owner in listing]}


def anthropic_model(model_id: str) -> dict[str, Any]:
    return {
        "type": "model",
        "id": model_id,
        "display_name": model_id,
        "created_at": UNKNOWN_RELEASE,
        "lifecycle": "active",
    }


def anthropic_page(ids: Sequence[str], query: Mapping[str, str]) -> dict[str, Any]:
    """One page of ``ids`` as Anthropic's list endpoint returns it."""
    limit = _limit(query.get("limit"))
    after, before = query.get("after_id"), query.get("before_id")
    if after is not None and before is not None:
        raise InvalidRequest("Send after_id or before_id, not both.", param="after_id")
    if before is not None:
        end = _position(ids, before, "before_id")
        start = max(0, end - limit)
        more = start > 0
    else:
        start = _position(ids, after, "after_id") + 1 if after is not None else 0
        end = min(len(ids), start + limit)
        more = end < len(ids)
    page = ids[start:end]
    return {
        "data": [anthropic_model(model_id) for model_id in page],
        "has_more": more,
        "first_id": page[0] if page else None,
        "last_id": page[-1] if page else None,
    }


def _limit(value: str | None) -> int:
    if value is None:
        return DEFAULT_LIMIT
    if not (value.isascii() and value.isdigit() and len(value) <= 4) or not 1 <= int(value) <= MAX_LIMIT:
        raise InvalidRequest(f"limit must be an integer from 1 to {MAX_LIMIT}.", param="limit")
    return int(value)


def _position(ids: Sequence[str], cursor: str, name: str) -> int:
    try:
        return ids.index(cursor)
    except ValueError:
        raise InvalidRequest(f"{name} does not name a model of this list.", param=name) from None
