"""The access log's writer: a thread per destination that writes queued lines in batches."""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import select
import sys
import threading
import time
from typing import Any

#: Where the writer thread reports its own trouble (a full disk): the gateway's log.
log = logging.getLogger("sluicegate")

STDIO = ("stderr", "stdout")

_REOPEN = object()
_STOP = object()
#: Bytes per write at most: a backlog never becomes one huge write.
MAX_WRITE = 1 << 20
#: Bytes of lines gathered on the event loop before they go to the thread at once.
HANDOFF_BYTES = 64 * 1024
#: How long a line gathers with others on the event loop before going to the thread (bounds how
#: late a line is).
GATHER_SECONDS = 0.02
#: Seconds between two warnings about lines that could not be written.
WARN_EVERY = 60.0


class LineWriter:
    """Writes queued lines to one destination from a thread of its own.

    Lines are written in batches, one ``write`` per batch (to a file opened with O_APPEND, so
    several worker processes sharing it never split a line), and flushed at once, so
    ``tail -f`` shows a request as soon as it ends.
    """

    def __init__(self, key: str, fd: int | None, stream: Any = None) -> None:
        self.key = key
        self.users = 0
        self.dropped = 0
        self._fd = fd
        self._stream = stream
        # Chunks of lines (bytearrays the event loop hands over whole) and the markers.
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # Lines gather here, on the event loop, and go to the thread as one chunk. A line's own
        # object then dies with its request: queued one by one, lines lived on until the thread
        # ran and kept the allocator's pools of the requests around them in use (~2 MB resident
        # at 64 connections), and each put could wake the thread.
        self._buffer = bytearray()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._warned_at = -WARN_EVERY
        self._thread = threading.Thread(target=self._run, name="sluicegate-access-log", daemon=True)

    @classmethod
    def open(cls, key: str) -> LineWriter:
        """A writer for "stderr", "stdout" or an absolute file path; raises OSError."""
        if key in STDIO:
            return cls(key, None, getattr(sys, key))
        return cls(key, _open_append(key))

    @property
    def is_file(self) -> bool:
        return self._fd is not None

    def start(self) -> None:
        """Start the thread; lines put from then on gather on the running event loop (without
        one, each goes to the thread at once)."""
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._thread.start()

    def put(self, line: bytes) -> None:
        """Queue ``line`` (whole, ending in a newline); never blocks. Called on the event loop."""
        buffer = self._buffer
        buffer += line
        if len(buffer) >= HANDOFF_BYTES or self._loop is None:
            self._handoff()
        elif self._timer is None:
            self._timer = self._loop.call_later(GATHER_SECONDS, self._handoff)

    def _handoff(self) -> None:
        """Give the gathered lines to the thread (a SimpleQueue never blocks and never refuses)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._buffer:
            self._queue.put(self._buffer)
            self._buffer = bytearray()

    def reopen(self) -> None:
        """Open the file again by name after the lines queued so far (log rotation)."""
        self._handoff()
        self._queue.put(_REOPEN)

    def stop(self) -> None:
        """Write what is queued, close, and end the thread; returns at once."""
        self._handoff()
        self._queue.put(_STOP)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        get, get_nowait = self._queue.get, self._queue.get_nowait
        while True:
            item = get()
            chunks: list[bytearray] = []
            size = 0
            while item is not _STOP and item is not _REOPEN:
                chunks.append(item)
                size += len(item)
                if size >= MAX_WRITE:
                    item = None
                    break
                try:
                    item = get_nowait()
                except queue.Empty:
                    item = None
                    break
            if chunks:
                self._write(chunks[0] if len(chunks) == 1 else b"".join(chunks))
            if item is _REOPEN:
                self._reopen()
            elif item is _STOP:
                self._close()
                return

    def _write(self, data: bytes | bytearray) -> None:
        try:
            if self._fd is not None:
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view):]
            else:
                stream = self._stream
                buffer = getattr(stream, "buffer", None)
                if buffer is not None:
                    # stderr and stdout are often pipes shared by --workers processes: a write
                    # of at most PIPE_BUF bytes is atomic there, so lines never interleave.
                    buffer.flush()
                    for piece in _pieces(data, PIPE_BUF):
                        buffer.write(piece)
                        buffer.flush()
                else:
                    stream.write(data.decode("utf-8"))
                    stream.flush()
        except Exception as exc:  # OSError (disk full), ValueError (a closed stream): keep serving
            self.dropped += data.count(b"\n")
            now = time.monotonic()
            if now - self._warned_at >= WARN_EVERY:
                self._warned_at = now
                log.warning("access log: cannot write to %s (%s); %d line(s) lost so far",
                            self.key, exc, self.dropped)

    def _reopen(self) -> None:
        if self._fd is None:
            return
        try:
            fresh = _open_append(self.key)
        except OSError as exc:
            log.warning("access log: cannot reopen %s (%s); writing on to the file already open", self.key, exc)
            return
        old, self._fd = self._fd, fresh
        os.close(old)

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _open_append(path: str) -> int:
    # Owner and group only: the log names clients and models.
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o640)


class WriterPool:
    """The writers of one gateway by destination; kept in ``Services.lasting`` across reloads."""

    #: Seconds a retiring writer gets to write what it holds.
    JOIN_TIMEOUT = 5.0

    def __init__(self) -> None:
        self.writers: dict[str, LineWriter] = {}

    def acquire(self, key: str) -> LineWriter:
        """The writer of ``key``, opened if no assembly uses it yet; raises OSError.

        A file already open is reopened by name (after the lines queued before), so the reload
        that follows a log rotation (``kill -HUP``) moves to the new file.
        """
        writer = self.writers.get(key)
        if writer is None:
            writer = LineWriter.open(key)
            writer.start()
            self.writers[key] = writer
        elif writer.is_file:
            writer.reopen()
        writer.users += 1
        return writer

    def release(self, writer: LineWriter) -> bool:
        """One user fewer; the last one stops the writer (True: join it)."""
        writer.users -= 1
        if writer.users > 0:
            return False
        if self.writers.get(writer.key) is writer:
            del self.writers[writer.key]
        writer.stop()
        return True


def _release_now(pool: WriterPool, writer: LineWriter) -> None:
    """For an access log dropped without ``aclose`` (an assembly still retiring when the process
    ends): the thread has at most a few lines left to write, so waiting here is short."""
    if pool.release(writer):
        writer.join(WriterPool.JOIN_TIMEOUT)


#: The most bytes a pipe takes in one atomic write (POSIX guarantees at least 512; Linux has 4096).
PIPE_BUF = getattr(select, "PIPE_BUF", 512)


def _pieces(data: bytes, limit: int) -> list[bytes]:
    """``data`` (whole lines) cut at line ends into pieces of at most ``limit`` bytes where it can
    be (a single longer line stays whole)."""
    if len(data) <= limit:
        return [data]
    pieces: list[bytes] = []
    start = 0
    while start < len(data):
        end = data.rfind(b"\n", start, start + limit)
        if end < 0:  # one line longer than the limit
            end = data.find(b"\n", start + limit)
            if end < 0:
                end = len(data) - 1
        pieces.append(data[start:end + 1])
        start = end + 1
    return pieces
