"""The request log's page cursor: the (at, id) of the last row a page showed, as opaque URL-safe
text. The double is packed bit for bit, so the next page starts exactly after that row."""

from __future__ import annotations

import base64
import binascii
import math
import struct

from attrs import define

_LAYOUT = struct.Struct(">dq")  # at (IEEE double), id (signed 64-bit)
_LENGTH = 22  # unpadded base64 of 16 bytes


@define(frozen=True, slots=True)
class Position:
    """Where a page ended: the last row's ``at`` and ``id``."""

    at: float
    id: int


def encode(position: Position) -> str:
    return _text(_LAYOUT.pack(position.at, position.id))


def decode(cursor: str) -> Position:
    """The position a cursor names; ``ValueError`` for anything ``encode`` did not produce."""
    if not isinstance(cursor, str) or len(cursor) != _LENGTH:
        raise ValueError("malformed cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "==")
    except (binascii.Error, ValueError):
        raise ValueError("malformed cursor") from None
    # The decoder skips characters outside the alphabet: only the canonical text is accepted.
    if len(raw) != _LAYOUT.size or _text(raw) != cursor:
        raise ValueError("malformed cursor")
    at, row_id = _LAYOUT.unpack(raw)
    if not math.isfinite(at) or row_id < 0:
        raise ValueError("malformed cursor")
    return Position(at=at, id=row_id)


def _text(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
