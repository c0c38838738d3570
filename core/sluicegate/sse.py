"""Server-sent events read from an upstream body, event by event, without waiting for the end."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

from sluicegate.exchange import SSEEvent


def parse_block(block: bytes) -> SSEEvent | None:
    """One event block (lines without the blank separator); None for comments-only blocks."""
    if block.startswith(b"data: ") and b"\n" not in block:
        return SSEEvent(block[6:])
    data: list[bytes] = []
    event: str | None = None
    for line in block.split(b"\n"):
        if not line or line.startswith(b":"):
            continue
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            data.append(value)
        elif name == b"event":
            event = value.decode("utf-8", "replace")
    if not data and event is None:
        return None
    return SSEEvent(b"\n".join(data), event)


async def iter_sse(chunks: AsyncIterable[bytes]) -> AsyncIterator[SSEEvent]:
    """Yield events as soon as their blank-line terminator arrives."""
    buffer = b""
    after_cr = False
    async for chunk in chunks:
        if after_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]  # the LF of a CRLF split across chunks; the CR already ended the line
        if chunk:
            after_cr = chunk.endswith(b"\r")
        # find, not `in`: bytes `in` first tries the needle as an int, making and dropping a
        # TypeError each time (per chunk here; the gateway's other hot searches do the same).
        if chunk.find(b"\r") != -1:
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buffer += chunk
        start = 0
        ready: list[SSEEvent] = []
        while True:
            end = buffer.find(b"\n\n", start)
            if end < 0:
                break
            event = parse_block(buffer[start:end])
            start = end + 2
            if event is not None:
                ready.append(event)
        if start:
            buffer = buffer[start:]
        if ready:
            for event in ready[:-1]:
                event.more = True  # the rest of this read follows at once
                yield event
            yield ready[-1]
    buffer = buffer.rstrip(b"\r\n")
    if buffer:
        event = parse_block(buffer)
        if event is not None:
            yield event
