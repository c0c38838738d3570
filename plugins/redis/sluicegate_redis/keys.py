"""Redis key formats, each with a per-key Redis Cluster hash tag so keys spread across slots."""

from __future__ import annotations

import hashlib

# The prefix the cache feature's keys already carry (sluicegate.features.cache.KEY_PREFIX).
CACHE_PREFIX = "sg:cache:"


def tag(text: str) -> str:
    """``{text}``: the part Redis Cluster hashes; text with braces (or none) is hashed first.

    Cluster hashes only what lies between the first ``{`` and the next ``}``, so a brace inside
    the text would cut the tag short, and ``{}`` is no tag at all.
    """
    if not text or "{" in text or "}" in text:
        return "{#" + hashlib.sha256(text.encode()).hexdigest() + "}"
    return "{" + text + "}"


def cache_key(key: str) -> str:
    """``{sg:cache:<hash>}``: the cache feature's own key (``sg:cache:<sha256>``), whole, as the tag.

    A key without the prefix gets it; one with braces is replaced by its digest.
    """
    name = key if key.startswith(CACHE_PREFIX) else CACHE_PREFIX + key
    if "{" in name or "}" in name:
        name = CACHE_PREFIX + "#" + hashlib.sha256(key.encode()).hexdigest()
    return "{" + name + "}"


def bucket_key(key: str) -> str:
    """``sg:rl:{<key>}``: a GCRA bucket's theoretical arrival time."""
    return "sg:rl:" + tag(key)


def slots_key(key: str) -> str:
    """``sg:rl:{<key>}:inflight``: in-flight slots, beside the bucket in the same slot."""
    return "sg:rl:" + tag(key) + ":inflight"


def breaker_key(target: str) -> str:
    """``sg:br:{<provider/model>}``: "open until" of a target's breaker."""
    return "sg:br:" + tag(target)


def response_key(tenant: str | None, response_id: str) -> str:
    """``sg:resp:{<tenant digest>:<id>}``: one stored response, tagged per response.

    The tenant is hashed (never a client's label or token in a key); ``None`` (an open gateway)
    is ``open``, which no digest can be. Per-response tags spread a tenant's responses across
    a cluster's slots; a chain is then read with one pipeline, not one script.
    """
    owner = "open" if tenant is None else hashlib.sha256(tenant.encode()).hexdigest()[:32]
    return "sg:resp:" + tag(f"{owner}:{response_id}")
