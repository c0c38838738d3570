"""The ``[responses]`` table: where the Responses API keeps stored responses for ``previous_response_id``.

A core table that works without being written: the store is on with these defaults. Stores
(``register_response_stores``) receive the whole table, as cache backends receive ``[cache]``;
a store with keys of its own (the Redis store's ``url`` and ``timeout``) registers a subclass of
``ResponsesConfig`` that structures the table when it is the one chosen.
"""

from __future__ import annotations

from attrs import define, field

from sluicegate.config.checks import at_least_one, positive


@define(kw_only=True)
class ResponsesConfig:
    """``[responses]``; ``enabled = false`` stores nothing (every stored id is then unknown)."""

    # false stores nothing: every previous_response_id is then a 404.
    enabled: bool = True
    # The store component by name: "memory" (built in) or "redis" (sluicegate-redis).
    store: str = "memory"
    # Seconds a stored response lives from when it was stored (OpenAI keeps them 30 days:
    # 2592000); a conversation whose oldest turn expired can no longer be continued.
    ttl: float = field(default=86_400.0, validator=positive)
    # Responses one previous_response_id may replay, the named one included: bounds the work
    # and the memory of one replay.
    max_chain: int = field(default=1000, validator=at_least_one)
    # The memory store: least recently used responses are dropped beyond either bound.
    max_entries: int = field(default=10_000, validator=at_least_one)
    # The memory store: MiB of stored JSON kept at most.
    max_mb: float = field(default=128.0, validator=positive)
