"""Stored responses for the Responses API: the store's errors, the null store, its assembly.

The stored item (``StoredResponse``) and the store interface (``ResponseStore``) are part of the
plugin contract, in ``sluicegate.contracts``; they are importable from here too.

The Responses entrance stores each answer (unless the client sent ``store: false``) and replays
a conversation for ``previous_response_id`` by walking ``history``. Stores are components
(``register_response_stores``) chosen by ``[responses] store``; the built-in ``memory`` store is
the default, ``redis`` comes with ``sluicegate-redis``.

Every method is scoped by tenant (``RequestContext.tenant``: a digest label of the client's
token, ``None`` on an open gateway), so one client can never read, replay or delete another's
responses: to a store, another tenant's id is simply unknown.
"""

from __future__ import annotations

from typing import Any

import orjson

from sluicegate.config.converter import suggest
from sluicegate.config.responses import ResponsesConfig
from sluicegate.contracts import ResponseStore, StoredResponse
from sluicegate.errors import ConfigError, ConfigProblem, GatewayError
from sluicegate.registry import RESPONSE_STORE
from sluicegate.services import Services

#: Longest response id a store keeps or looks up. Ids come from the gateway or a vendor (about
#: 50 characters); a longer one is never stored, so looking it up needs no storage call.
MAX_ID_CHARS = 256

_NO_RETRY = {"x-should-retry": "false"}

__all__ = [
    "MAX_ID_CHARS", "BrokenChain", "ChainTooLong", "NullResponseStore", "ResponseNotFound", "ResponseStore",
    "StoreUnavailable", "StoredResponse", "build_response_store", "chain_limit", "checked_id", "decode_stored",
    "usable_id",
]


def decode_stored(data: Any) -> StoredResponse | None:
    """A stored form back as a ``StoredResponse``; None for anything unreadable (a missing entry)."""
    if not isinstance(data, bytes | bytearray | memoryview | str):
        return None
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if type(value) is not dict:
        return None
    response, items, previous = value.get("response"), value.get("input_items"), value.get("previous_response_id")
    if type(response) is not dict or type(response.get("id")) is not str or type(items) is not list:
        return None
    if previous is not None and type(previous) is not str:
        return None
    return StoredResponse(response, items, previous)


def checked_id(item: StoredResponse) -> str:
    """The item's response id; ValueError for an item no store can key (a caller's bug)."""
    response_id = item.response.get("id") if isinstance(item.response, dict) else None
    if type(response_id) is not str or not response_id or len(response_id) > MAX_ID_CHARS:
        raise ValueError(f"a stored response needs a string id of 1 to {MAX_ID_CHARS} characters")
    if item.previous_response_id == response_id:
        raise ValueError("a response cannot follow itself")
    return response_id


def usable_id(response_id: Any) -> bool:
    """Whether ``response_id`` could name a stored response (others are unknown without asking)."""
    return type(response_id) is str and 0 < len(response_id) <= MAX_ID_CHARS


def chain_limit(max_links: int | None, configured: int) -> int:
    """The links one ``history`` call may return: the caller's bound, never above the configured one."""
    return configured if max_links is None else max(1, min(max_links, configured))


class ResponseNotFound(GatewayError):
    """404 for a response id this client has no stored response for (unknown, expired, another's)."""

    status = 404
    type = "invalid_request_error"
    code = "not_found"

    def __init__(self, message: str, **kwargs: Any) -> None:
        kwargs.setdefault("headers", dict(_NO_RETRY))
        super().__init__(message, **kwargs)


class BrokenChain(ResponseNotFound):
    """The named response is stored, but a turn before it has expired or was deleted.

    A 404 like an unknown ``previous_response_id`` (OpenAI's ``previous_response_not_found``):
    the conversation cannot be replayed as it was, and retrying cannot bring the turn back.
    """

    code = "previous_response_not_found"

    def __init__(self, response_id: str, missing: str) -> None:
        super().__init__(
            f"Previous response with id '{missing}' not found: it is an earlier turn of the "
            f"conversation of '{response_id}' and has expired or was deleted. Start a new "
            "conversation, or send the whole history as input.",
            param="previous_response_id",
        )
        self.missing = missing


class ChainTooLong(GatewayError):
    """400: replaying this conversation would pass the ``[responses] max_chain`` bound."""

    status = 400
    type = "invalid_request_error"
    code = "previous_response_chain_too_long"

    def __init__(self, response_id: str, limit: int) -> None:
        super().__init__(
            f"The conversation of previous response '{response_id}' has more than {limit} "
            "responses, more than this gateway replays. Start a new conversation, or send the "
            "history as input.",
            param="previous_response_id",
            headers=dict(_NO_RETRY),
        )
        self.limit = limit


class StoreUnavailable(GatewayError):
    """503: the store (Redis) cannot answer now; the client may retry, after ``Retry-After``."""

    status = 503
    type = "server_error"
    code = "store_unavailable"

    def __init__(self, retry_after: float | None = None) -> None:
        # ``retry_after`` is rendered as the Retry-After header where every error's hints are
        # (sluicegate.retry_hints).
        super().__init__(
            "Stored responses cannot be read right now (the response store is unavailable); "
            "retry shortly.",
            retryable=True,
            headers={"x-should-retry": "true"},
            retry_after=retry_after,
        )


class NullResponseStore:
    """The store of ``[responses] enabled = false``: keeps nothing, so every id is unknown."""

    async def put(self, tenant: str | None, item: StoredResponse) -> None:
        checked_id(item)

    async def get(self, tenant: str | None, response_id: str) -> StoredResponse | None:
        return None

    async def delete(self, tenant: str | None, response_id: str) -> bool:
        return False

    async def history(
        self, tenant: str | None, response_id: str, *, max_links: int | None = None
    ) -> list[StoredResponse] | None:
        return None

    async def aclose(self) -> None:
        return None


def build_response_store(options: ResponsesConfig, services: Services) -> ResponseStore:
    """The store ``[responses]`` names, made once per assembly by ``services.build`` (the
    caller owns it); ConfigError paths are relative to the table (``store``, ``url``)."""
    if not options.enabled:
        return NullResponseStore()
    registry = services.registry
    component = registry.get(RESPONSE_STORE, options.store) if registry is not None else None
    if component is None:
        installed = sorted(registry.of_kind(RESPONSE_STORE)) if registry is not None else []
        hint = ' (the "redis" store comes with sluicegate-redis)' if options.store == "redis" else ""
        raise ConfigError([ConfigProblem(
            "store",
            f"unknown response store {options.store!r}{suggest(options.store, installed)}{hint}; "
            f"installed: {', '.join(installed) or 'none'}",
        )])
    store = services.build(component, options)
    return store if store is not None else NullResponseStore()
