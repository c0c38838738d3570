"""Secrets of issued keys: made, recognised and digested; only the digest is ever stored."""

from __future__ import annotations

import hashlib
import secrets

#: Every issued key starts so: recognisable in a leak scan and routed to this authenticator.
PREFIX = "sk-sg-"
#: Hex digits of a key's digest shown in lists to tell keys apart: never a part of the key
#: itself (no secret is shown, not even in part), and the digest of 256 random bits gives
#: nothing away.
SHOWN = 6


def new_secret() -> str:
    """A fresh key: the prefix and 256 bits of randomness (43 URL-safe characters)."""
    return PREFIX + secrets.token_urlsafe(32)


def new_id(kind: str) -> str:
    """A stable public id, ``key_…`` or ``team_…``: shown in URLs, logs and the ledger."""
    return f"{kind}_{secrets.token_hex(8)}"


def digest(secret: str) -> str:
    """What the store keeps: SHA-256 of the whole key. A key has 256 random bits, so a fast
    hash is enough (a slow one would cost every request on a cache miss and buy nothing)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def shown_prefix(secret: str) -> str:
    """What lists show of a key: ``sk-sg-…`` and the end of its digest (``sk-sg-…3fa9c1``)."""
    return f"{PREFIX}…{digest(secret)[-SHOWN:]}"


def is_issued(token: str) -> bool:
    return token.startswith(PREFIX)
