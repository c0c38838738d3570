"""Client connections: how many may be open (overall and per client address), and saying so.

Every open connection holds a file descriptor. Without a cap, one client opening idle connections
until the process runs out of descriptors stops all service; with one, the excess is refused at
once (with an answer that says why) and the log says connections are being shed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from attrs import define, frozen

try:
    import resource
except ImportError:  # not on Windows; the caps then fall back to FALLBACK_FILE_LIMIT
    resource = None  # type: ignore[assignment]

log = logging.getLogger("sluicegate")

#: The open-file limit assumed where the process cannot tell its own.
FALLBACK_FILE_LIMIT = 1024
#: The automatic cap never goes below this, however low the file limit.
MIN_AUTO_CONNECTIONS = 64
#: Seconds between two log lines about the same kind of shedding; events in between are summed.
LOG_EVERY = 10.0


def open_file_limit() -> int:
    if resource is None:
        return FALLBACK_FILE_LIMIT
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return FALLBACK_FILE_LIMIT if soft == resource.RLIM_INFINITY else soft


@frozen
class ConnectionCaps:
    """Resolved caps: ``per_client`` 0 means no per-client cap."""

    total: int
    per_client: int

    @classmethod
    def resolve(cls, max_connections: int | None, max_per_client: int | None, file_limit: int) -> ConnectionCaps:
        # Half the descriptors for clients: the other half is for upstream connections, Redis,
        # the store and log files.
        total = max_connections if max_connections is not None else max(MIN_AUTO_CONNECTIONS, file_limit // 2)
        # A quarter of the total per address: one client can never take the whole gateway.
        per_client = max_per_client if max_per_client is not None else max(1, total // 4)
        return cls(total, per_client)


class LogTally:
    """Logs a kind of event at most once per ``every`` seconds: the first at once, later ones
    summed into the next line, so a flood of them cannot flood the log."""

    __slots__ = ("_write", "_clock", "_every", "_pending", "_next", "_latest")

    def __init__(self, write: Callable[[int, str], None], clock: Callable[[], float], every: float = LOG_EVERY) -> None:
        self._write = write
        self._clock = clock
        self._every = every
        self._pending = 0
        self._next = float("-inf")
        self._latest = ""

    def note(self, detail: str) -> None:
        self._pending += 1
        self._latest = detail
        self.flush_due()

    def flush_due(self) -> None:
        if self._pending and self._clock() >= self._next:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._write(self._pending, self._latest)
            self._pending = 0
            self._next = self._clock() + self._every


@define
class Refusal:
    """Why a connection was refused: the answer it gets and the line the log gets."""

    status: int
    code: str
    message: str
    detail: str


class ConnectionGuard:
    """Counts open client connections overall and per address; refuses those over the caps."""

    __slots__ = ("caps", "open", "_per_client", "_shed")

    def __init__(self, caps: ConnectionCaps, clock: Callable[[], float]) -> None:
        self.caps = caps
        self.open = 0
        self._per_client: dict[str, int] = {}
        self._shed = LogTally(self._log_shed, clock)

    def admit(self, client: str) -> Refusal | None:
        """Count a new connection from ``client``, or say why it is refused (it is not counted)."""
        caps = self.caps
        if self.open >= caps.total:
            return self._refuse(Refusal(
                503, "too_many_connections",
                "The gateway has as many open connections as it accepts; retry shortly.",
                f"max_connections = {caps.total} reached",
            ))
        held = self._per_client.get(client, 0)
        if caps.per_client and held >= caps.per_client:
            return self._refuse(Refusal(
                429, "too_many_connections",
                f"Your address has {held} connections open, the most the gateway accepts from one "
                "address; reuse them (keep-alive) or close some.",
                f"{client} holds max_connections_per_client = {caps.per_client}",
            ))
        self.open += 1
        self._per_client[client] = held + 1
        return None

    def release(self, client: str) -> None:
        self.open -= 1
        held = self._per_client[client] - 1
        if held:
            self._per_client[client] = held
        else:
            del self._per_client[client]
        self._shed.flush_due()

    def held_by(self, client: str) -> int:
        return self._per_client.get(client, 0)

    def close(self) -> None:
        """Log what was shed since the last line (the server is stopping)."""
        self._shed.flush()

    def _refuse(self, refusal: Refusal) -> Refusal:
        self._shed.note(refusal.detail)
        return refusal

    def _log_shed(self, count: int, latest: str) -> None:
        log.warning("shedding connections: refused %d over the connection caps (latest: %s); %d open",
                    count, latest, self.open)
