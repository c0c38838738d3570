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


class SSEDecoder:
    """Cuts a body into events as its bytes arrive: ``feed`` each read, ``end`` once it closes.

    Synchronous, so a reader that already loops over the reads (``HttpProvider.events``) decodes
    in its own frame: one async generator fewer for every event of every stream."""

    __slots__ = ("_buffer", "_after_cr")

    def __init__(self) -> None:
        self._buffer = b""
        self._after_cr = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """The events ``chunk`` completes (each whose blank-line terminator has arrived); all but
        the last are marked ``more``: they arrived in one read with the ones after them."""
        if self._after_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]  # the LF of a CRLF split across chunks; the CR already ended the line
        if chunk:
            self._after_cr = chunk.endswith(b"\r")
        # find, not `in`: bytes `in` first tries the needle as an int, making and dropping a
        # TypeError each time (per chunk here; the gateway's other hot searches do the same).
        if chunk.find(b"\r") != -1:
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buffer = self._buffer + chunk if self._buffer else chunk
        # One split a read, not a search or two per event: on Python 3.11 find and startswith
        # parse their arguments as a tuple and take a buffer of the needle, ~100 ns a call
        # before searching anything, and a stream has an event every few hundred bytes.
        lines = buffer.split(b"\n")
        single = len(lines) % 2 and not any(lines[1::2]) and all(lines[0:-1:2])
        if single:
            # The common case: one-line events ("data: ...", a comment), each followed by its
            # blank line, then what is still arriving (no newline in it yet).
            blocks = lines[0:-1:2]
            self._buffer = lines[-1]
        else:
            blocks = buffer.split(b"\n\n")
            self._buffer = blocks.pop()  # after the last blank line: an event still arriving
        ready: list[SSEEvent] = []
        for block in blocks:
            if single and block[:6] == b"data: ":
                # parse_block's common case, without its call; its frame is what arrived.
                event = SSEEvent(block[6:], None, False, False, block + b"\n\n")
            else:
                event = parse_block(block)
            if event is not None:
                if ready:
                    ready[-1].more = True  # the rest of this read follows at once
                ready.append(event)
        return ready

    def end(self) -> list[SSEEvent]:
        """The last event, when the body ended without its blank line."""
        buffer = self._buffer.rstrip(b"\r\n")
        self._buffer = b""
        event = parse_block(buffer) if buffer else None
        return [event] if event is not None else []


async def iter_sse(chunks: AsyncIterable[bytes]) -> AsyncIterator[SSEEvent]:
    """Yield events as soon as their blank-line terminator arrives."""
    decoder = SSEDecoder()
    async for chunk in chunks:
        for event in decoder.feed(chunk):
            yield event
    for event in decoder.end():
        yield event
