"""Bedrock's binary event stream (``application/vnd.amazon.eventstream``) cut into events.

Each message is framed (a prelude with lengths and a CRC, typed headers, the payload, a CRC over
it all); botocore's ``EventStreamBuffer`` checks and parses the framing. A message's headers say
what it is: ``:message-type`` ``event`` with ``:event-type`` naming it (``contentBlockDelta``,
``chunk``), ``exception`` with ``:exception-type`` (``throttlingException``), or ``error`` with
``:error-code`` and ``:error-message``. Events come out as ``SSEEvent`` values, the shape the
gateway's stream plumbing reads: ``event`` the event type, ``data`` the payload; an exception or
error is ``event="error"`` with data ``{"__type": <its type>, "message": ...}``, Bedrock's own
error body shape, which ``sluicegate_bedrock.errors`` reads.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import orjson
from botocore.eventstream import EventStreamBuffer, ParserError

from sluicegate.exchange import SSEEvent

ERROR_EVENT = "error"


class FramingError(ValueError):
    """The bytes are not a well-framed event stream (a length beyond the limits, a bad CRC)."""


async def iter_events(chunks: AsyncIterable[bytes]) -> AsyncIterator[SSEEvent]:
    """The messages of an event stream as they arrive; ``FramingError`` for broken framing.

    A stream that stops inside a message just ends: whoever reads the events knows whether
    the answer was whole (and reports a cut-off stream if not)."""
    buffer = EventStreamBuffer()
    async for chunk in chunks:
        buffer.add_data(chunk)
        try:
            for message in buffer:
                yield to_event(message.headers, message.payload)
        except ParserError as exc:
            raise FramingError(f"broken event stream: {exc.__class__.__name__}") from None


def to_event(headers: dict[str, Any], payload: bytes) -> SSEEvent:
    """One decoded message as an ``SSEEvent`` (see the module docstring)."""
    kind = headers.get(":message-type", "event")
    if kind == "event":
        return SSEEvent(payload, str(headers.get(":event-type") or ""))
    if kind == "exception":
        return SSEEvent(_error_body(str(headers.get(":exception-type") or "exception"), payload), ERROR_EVENT)
    message = headers.get(":error-message") or "the event stream reported an error"
    body = {"__type": str(headers.get(":error-code") or "error"), "message": str(message)}
    return SSEEvent(orjson.dumps(body), ERROR_EVENT)


def _error_body(kind: str, payload: bytes) -> bytes:
    """``payload`` (an exception's JSON, usually ``{"message": ...}``) with its type added."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        text = payload.decode("utf-8", "replace").strip()[:500]
        data = {"message": text or "no error message"}
    return orjson.dumps({**data, "__type": kind})
