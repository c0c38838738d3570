"""The access log (``[access_log]``): one line per finished request, as JSON or readable text.

Lines are formatted on the event loop (a few microseconds) and written by a thread of their own,
so a slow disk or a blocked terminal never holds a request up. The writer of a destination lives
in ``Services.lasting`` and is shared by the assemblies that name it, so a config reload neither
loses a line nor writes one twice, and a file is closed once nothing writes to it any more.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import select
import sys
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import orjson
from attrs import define, field

from sluicegate.config.converter import suggest
from sluicegate.errors import ConfigError, ConfigProblem
from sluicegate.plugin_options import FeatureOptions

FORMATS = ("json", "text")
STDIO = ("stderr", "stdout")
DEFAULT_SKIP = ("/health", "/health/live", "/health/ready", "/metrics")
#: Client-chosen strings are cut to this many characters: a log line must stay a line.
MAX_MODEL = 128
MAX_PATH = 256
MAX_CODE = 64  # error codes may come from a vendor
#: Where the writer thread reports its own trouble (a full disk): the gateway's log, not this one.
log = logging.getLogger("sluicegate")


def _one_of_formats(_: Any, attribute: Any, value: str) -> None:
    if value not in FORMATS:
        raise ValueError(f'must be "json" or "text", got {value!r}{suggest(value, FORMATS)}')


def _destination(_: Any, attribute: Any, value: str) -> None:
    if not value.strip():
        raise ValueError('must be "stderr", "stdout" or a file path')


def _paths(_: Any, attribute: Any, value: list[str]) -> None:
    wrong = [path for path in value if not path.startswith("/")]
    if wrong:
        # The core names only the table for an array's problem: say which key it is.
        raise ValueError(f"{attribute.name} must start with '/': {', '.join(map(repr, wrong))}")


@define(kw_only=True)
class AccessLogOptions(FeatureOptions):
    """The ``[access_log]`` table (on without one; ``enabled = false`` turns it off)."""

    format: str = field(default="json", validator=_one_of_formats)
    # "stderr", "stdout", or a file (relative paths are taken from the config file's directory).
    destination: str = field(default="stderr", validator=_destination)
    # Requests for these exact paths are not logged (health probes and scrapes would flood it).
    skip_paths: list[str] = field(factory=lambda: list(DEFAULT_SKIP), validator=_paths)


# -- formatting ---------------------------------------------------------------------------------


class UtcStamp:
    """ISO 8601 UTC times with milliseconds; the part up to the second is made once per second."""

    __slots__ = ("_second", "_prefix")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, when: float) -> str:
        second = int(when)
        if second != self._second:
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._prefix}.{int((when - second) * 1000):03d}Z"


def _cut(value: str | None, limit: int) -> str | None:
    if value is None or len(value) <= limit:
        return value
    return value[:limit] + "…"


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def record_fields(record: Any, stamp: UtcStamp) -> dict[str, Any]:
    """The access-log fields of a request record (the JSON line, and what the text line shows)."""
    attempts = record.attempts
    # One call or none (most requests) repeats nothing and falls back nowhere: skip the walks.
    many = len(attempts) > 1
    return {
        "time": stamp(record.started_at),
        "request_id": record.request_id,
        "client": record.client,
        "method": record.method,
        "path": _cut(record.path, MAX_PATH),
        "route": record.route,
        "status": record.status,
        "model": _cut(record.model, MAX_MODEL),
        "provider": record.provider,
        "upstream_model": _cut(record.upstream_model, MAX_MODEL),
        "stream": record.stream,
        "attempts": len(attempts),
        "retries": record.retries if many else 0,
        "fallback": record.fallback if many else False,
        "hedged": record.hedged,
        "cache": record.cache,
        "limited": record.limited,
        "error_code": _cut(record.error_code, MAX_CODE),
        "error_class": record.error_class,
        "tokens_in": record.tokens_in,
        "tokens_out": record.tokens_out,
        "tokens_cached": record.tokens_cached,
        "tokens_cache_written": record.tokens_cache_written,
        "cost": record.cost,
        "currency": record.extras.get("currency"),
        "latency_ms": _ms(record.latency),
        "ttft_ms": _ms(record.ttft),
    }


def _dumps(fields: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(fields, option=orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError:
        # A lone surrogate in a client's path or model: keep the line, escape what UTF-8 can't hold.
        clean = {k: v.encode("utf-8", "backslashreplace").decode() if isinstance(v, str) else v
                 for k, v in fields.items()}
        return orjson.dumps(clean, option=orjson.OPT_APPEND_NEWLINE)


def json_formatter() -> Callable[[Any], bytes]:
    stamp = UtcStamp()

    def format_json(record: Any) -> bytes:
        return _dumps(record_fields(record, stamp))

    return format_json


def _word(value: Any) -> str:
    """One space-free, printable word; anything else is quoted and escaped as JSON."""
    text = str(value)
    if text and text.isprintable() and " " not in text and '"' not in text:
        return text
    try:
        return orjson.dumps(text).decode()
    except orjson.JSONEncodeError:
        return orjson.dumps(text.encode("utf-8", "backslashreplace").decode()).decode()


def _number(value: float) -> str:
    return f"{value:.8f}".rstrip("0").rstrip(".") if value else "0"


def text_formatter() -> Callable[[Any], bytes]:
    """Lines for a terminal: time, status, method, path, model→target, latency, then what applies."""
    stamp = UtcStamp()

    def format_text(record: Any) -> bytes:
        f = record_fields(record, stamp)
        parts = [f["time"], str(f["status"]), f["method"], _word(f["path"])]
        if f["model"] is not None:
            target = f"{f['provider']}/{f['upstream_model']}" if f["provider"] else "-"
            parts.append(f"{_word(f['model'])}→{_word(target)}")
        if f["latency_ms"] is not None:
            parts.append(f"{f['latency_ms']:.1f}ms")
        if f["ttft_ms"] is not None:
            parts.append(f"ttft={f['ttft_ms']:.1f}ms")
        if f["tokens_in"] is not None or f["tokens_out"] is not None:
            parts.append(f"tokens={_or_dash(f['tokens_in'])}/{_or_dash(f['tokens_out'])}")
        if f["cost"] is not None:
            parts.append(f"cost={_number(f['cost'])}" + (f" {_word(f['currency'])}" if f["currency"] else ""))
        if f["cache"]:
            parts.append(f"cache={f['cache']}")
        if f["attempts"]:
            parts.append(f"attempts={f['attempts']}")
        for flag in ("fallback", "hedged"):
            if f[flag]:
                parts.append(flag)
        if f["limited"]:
            parts.append(f"limited={f['limited']}")
        if f["error_code"] or f["error_class"]:
            parts.append(f"error={_word(f['error_code'] or '-')}/{_word(f['error_class'] or '-')}")
        if f["client"]:
            parts.append(f"client={_word(f['client'])}")
        parts.append(f["request_id"])
        return (" ".join(parts) + "\n").encode("utf-8", "backslashreplace")

    return format_text


def _or_dash(value: int | None) -> str:
    return "-" if value is None else str(value)


FORMATTERS = {"json": json_formatter, "text": text_formatter}


# -- writing ------------------------------------------------------------------------------------

_REOPEN = object()
_STOP = object()
#: Lines per write: bounded, so a backlog never becomes one huge write (or one huge buffer).
MAX_BATCH = 1024
#: How long the writer waits after a first line for others to join it (bounds how late a line is).
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
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
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
        self._thread.start()

    def put(self, line: bytes) -> None:
        self._queue.put(line)  # a SimpleQueue never blocks and never refuses

    def reopen(self) -> None:
        """Open the file again by name after the lines queued so far (log rotation)."""
        self._queue.put(_REOPEN)

    def stop(self) -> None:
        """Write what is queued, close, and end the thread; returns at once."""
        self._queue.put(_STOP)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        get, get_nowait = self._queue.get, self._queue.get_nowait
        while True:
            batch: list[bytes] = []
            item = get()
            if item is not _STOP and item is not _REOPEN:
                # Let lines gather: one wake-up per interval instead of one per request keeps
                # this thread from taking the GIL from the event loop at every line.
                time.sleep(GATHER_SECONDS)
            while True:
                if item is _STOP or item is _REOPEN:
                    break
                batch.append(item)
                if len(batch) >= MAX_BATCH:
                    item = None
                    break
                try:
                    item = get_nowait()
                except queue.Empty:
                    item = None
                    break
            if batch:
                self._write(b"".join(batch), len(batch))
            if item is _REOPEN:
                self._reopen()
            elif item is _STOP:
                self._close()
                return

    def _write(self, data: bytes, lines: int) -> None:
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
            self.dropped += lines
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


class AccessLog:
    """The ``access_log`` extension: formats each finished request and queues its line.

    The writer is taken in ``start()``, once the assembly serves, so a config refused after this
    factory ran holds nothing open; the few lines of requests finished before that wait in a list.
    """

    def __init__(self, pool: WriterPool, key: str, format_line: Callable[[Any], bytes],
                 skip_paths: frozenset[str]) -> None:
        self.key = key
        self.writer: LineWriter | None = None
        self._pool = pool
        self._pending: list[bytes] = []
        self._put: Callable[[bytes], None] = self._pending.append
        self._format = format_line
        self._skip = skip_paths
        self._finalizer: weakref.finalize | None = None
        self.dropped = 0

    def request_finished(self, record: Any) -> None:
        if record.path in self._skip:
            return
        self._put(self._format(record))

    async def start(self) -> None:
        try:
            writer = self._pool.acquire(self.key)
        except OSError as exc:  # checked by the factory; the file went away since
            log.error("access log: cannot open %s (%s); requests are not logged", self.key, exc.strerror or exc)
            self.dropped += len(self._pending)
            self._pending.clear()
            self._put = self._drop
            return
        self.writer = writer
        for line in self._pending:
            writer.put(line)
        self._pending.clear()
        self._put = writer.put
        # Gives the writer back if this object is dropped without aclose(): an assembly still
        # retiring when the gateway closes, or the process ending.
        self._finalizer = weakref.finalize(self, _release_now, self._pool, writer)

    def _drop(self, line: bytes) -> None:
        self.dropped += 1

    async def aclose(self) -> None:
        finalizer, self._finalizer = self._finalizer, None
        self._put = self._drop  # a request outliving its assembly's grace period
        if finalizer is None or not finalizer.detach():
            return
        writer = self.writer
        if writer is not None and self._pool.release(writer):
            await asyncio.to_thread(writer.join, WriterPool.JOIN_TIMEOUT)


def destination_key(destination: str, config_source: str | None) -> str:
    """"stderr", "stdout", or the absolute path of the file (relative to the config file)."""
    if destination in STDIO:
        return destination
    path = os.path.expanduser(destination)
    if not os.path.isabs(path):
        base = os.path.dirname(os.path.abspath(config_source or "gateway.toml"))
        path = os.path.join(base, path)
    return os.path.normpath(path)


def make_access_log(*, options: AccessLogOptions, services: Any) -> AccessLog:
    """Factory of the ``access_log`` extension; a file that cannot be opened refuses the config."""
    pool = services.lasting.setdefault("access_log", WriterPool())
    key = destination_key(options.destination, getattr(services.config, "source", None))
    if key not in STDIO and key not in pool.writers:
        try:
            # Open and close at once: a bad path refuses the config with a message instead of
            # losing every line later. A local file opens in microseconds, once per (re)load.
            os.close(_open_append(key))
        except OSError as exc:
            raise ConfigError([ConfigProblem("destination", f"cannot open {key} for appending: "
                                                            f"{exc.strerror or exc}")]) from None
    return AccessLog(pool, key, FORMATTERS[options.format](), frozenset(options.skip_paths))


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
