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
