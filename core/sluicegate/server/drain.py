"""Shutdown as a request sees it: the phases after SIGTERM and what each means for a request.

The runner moves one ``Drain`` (shared with the app) through the phases; the edge, the stream
writer and the server read it:

- ``NOTICE`` (``[server] drain_delay`` seconds, SIGTERM only): the listener still accepts and
  requests are served, but ``/health/ready`` answers 503 and every response says
  ``Connection: close``, so load balancers and clients move elsewhere.
- ``DRAINING``: the listener is closed; in-flight requests run on. A request that arrives on an
  open keep-alive connection gets 503 + ``Connection: close`` rather than silence.
- ``CUTTING``: the grace is (nearly) over. Handlers still running are cancelled; a stream ends
  with an in-band error event, a request with nothing sent yet gets a 503.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator
from typing import Any

from attrs import define

from sluicegate.errors import GatewayError


class Phase(enum.IntEnum):
    SERVING = 0
    NOTICE = 1
    DRAINING = 2
    CUTTING = 3


#: The end of the grace kept for ending what still runs (a tenth of the grace when shorter), so
#: the whole shutdown fits in the grace.
CUT_MARGIN = 1.0


@define
class Drain:
    """Where one server is in its shutdown; times are on the runner's clock."""

    phase: Phase = Phase.SERVING
    # When everything must be closed, and when what still runs is cut (a little before).
    deadline: float | None = None
    cut_at: float | None = None

    def begin(self, now: float, grace: float) -> tuple[float, float]:
        """Start the grace now, unless it started already; the (cut_at, deadline) that hold."""
        if self.deadline is None or self.cut_at is None:
            self.deadline = now + grace
            self.cut_at = self.deadline - min(CUT_MARGIN, grace / 10)
        return self.cut_at, self.deadline


class ShuttingDown(GatewayError):
    status = 503
    type = "server_error"
    code = "shutting_down"


def refused_while_draining() -> ShuttingDown:
    # Connection: close makes the client open a new connection, which reaches another instance.
    return ShuttingDown(
        "The gateway is shutting down and takes no new requests; send the request again.",
        retryable=True,
        retry_after=1.0,  # rendered as Retry-After (sluicegate.retry_hints)
        headers={"Connection": "close"},
    )


def cut_at_shutdown() -> ShuttingDown:
    return ShuttingDown(
        "The gateway shut down before the answer was complete.", retryable=True, headers={"Connection": "close"}
    )


def is_cut(drain: Drain) -> bool:
    """A CancelledError seen now is the shutdown cutting the request (not the client leaving)."""
    return drain.phase is Phase.CUTTING


def cut_instead(drain: Drain) -> ShuttingDown | None:
    """Called where a stream's CancelledError was caught: when it is the shutdown's cut, the
    task is un-cancelled and the error to end the stream with is returned (None: the client
    left, re-raise). ``EndAtCut`` does this per event; the API stream writer inline."""
    if not is_cut(drain):
        return None
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()  # handled: the writer goes on to send the error event
    return cut_at_shutdown()


class EndAtCut:
    """A stream's events, ending with ``ShuttingDown`` when the shutdown cuts the handler.

    The cut cancels the handler task; here, where a stream waits for its next event, the
    cancellation becomes a gateway error, so the stream writer ends the stream with the in-band
    error event each API's SDK recognises instead of a bare connection close.
    """

    __slots__ = ("_events", "_drain")

    def __init__(self, events: AsyncIterator[Any], drain: Drain) -> None:
        self._events = events.__aiter__()
        self._drain = drain

    def __aiter__(self) -> EndAtCut:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self._events.__anext__()
        except asyncio.CancelledError as cancelled:
            raise (cut_instead(self._drain) or cancelled) from None
