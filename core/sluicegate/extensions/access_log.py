"""The access log (``[access_log]``): one line per finished request, as JSON or readable text.

The lines are made in ``log_format``, written by ``log_writer``; this module holds the table,
the extension and its factory.

Lines are formatted on the event loop (a few microseconds) and written by a thread of their own,
so a slow disk or a blocked terminal never holds a request up. The writer of a destination lives
in ``Services.lasting`` and is shared by the assemblies that name it, so a config reload neither
loses a line nor writes one twice, and a file is closed once nothing writes to it any more.

Also the default plugin ``sluicegate.access_log``: the ``access_log`` extension, on unless
``[access_log] enabled = false``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from collections.abc import Callable
from typing import Any

from attrs import define, field

from sluicegate.config.converter import suggest
from sluicegate.errors import ConfigError, ConfigProblem
from sluicegate.extensions.log_format import FORMATTERS
from sluicegate.extensions.log_writer import STDIO, LineWriter, WriterPool, _open_append, _release_now
from sluicegate.hookspecs import hookimpl
from sluicegate.plugin_options import FeatureOptions

FORMATS = ("json", "text")
DEFAULT_SKIP = ("/health", "/health/live", "/health/ready", "/metrics")
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

    # "json" (one object a line) or "text" (a readable line for terminals).
    format: str = field(default="json", validator=_one_of_formats)
    # "stderr", "stdout", or a file (relative paths are taken from the config file's directory).
    destination: str = field(default="stderr", validator=_destination)
    # Requests for these exact paths are not logged (health probes and scrapes would flood it).
    skip_paths: list[str] = field(factory=lambda: list(DEFAULT_SKIP), validator=_paths)


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


#: After every other extension, so the line holds what they added (the cost, for one).
ORDER = 1000


@hookimpl
def register_extensions(register):
    register("access_log", make_access_log, options=AccessLogOptions, order=ORDER, always=True)
