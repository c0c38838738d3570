"""Breaker policy ``[breaker] policy = "redis"``: the consecutive policy, with openings shared through Redis.

A breaker that opens publishes "open until" (``SET sg:br:{provider/model} <epoch ms> PX <ms>``,
in a task of its own, so the request path never waits for Redis). Every ``sync_interval``
seconds the board reads those keys for the targets it knows and holds its own breakers open
until then, so a target one process found broken is skipped by all. The breaker interface stays
synchronous; with Redis away each process simply keeps its own breakers, as ``consecutive`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import weakref
from collections.abc import Callable
from typing import Any

from sluicegate.resilience.breaker import Breaker, BreakerBoard, BreakerState, OnTransition
from sluicegate_redis.keys import breaker_key
from sluicegate_redis.link import RedisLink, Unavailable, redis_url
from sluicegate_redis.options import RedisBreakerOptions
from sluicegate_redis.scripts import OPEN_UNTIL

# An opening read back with less than this left is ignored: it is a process's own opening
# about to end, and forcing it again would only cut that breaker's half-open probe short.
_SLACK = 0.05



class SharedBreaker(Breaker):
    """A consecutive breaker that reports each opening and can be held open from outside."""

    def __init__(self, *args: Any, publish: Callable[[str, float], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._publish = publish

    def _open(self, retry_after: float | None) -> None:
        super()._open(retry_after)
        self._publish(self.key, self._open_until)

    def force_open(self, until: float) -> None:
        """Hold the breaker open until ``until`` (board clock) because another process opened it.

        Not published again (it came from Redis) and not counted in ``opened``; an opening of
        our own that lasts longer is kept.
        """
        if self._state is BreakerState.OPEN and until <= self._open_until + _SLACK:
            return
        self._open_until = until
        self._probes = 0
        if self._window is not None:
            self._window.clear()
        if self._state is not BreakerState.OPEN:
            self._move(BreakerState.OPEN)


class RedisBreakerBoard(BreakerBoard):
    """A ``BreakerBoard`` of ``SharedBreaker``s plus the task that reads other processes' openings."""

    def __init__(
        self,
        options: RedisBreakerOptions,
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
        link: RedisLink,
        log: logging.Logger,
        on_transition: OnTransition | None = None,
    ) -> None:
        super().__init__(options, clock, on_transition)
        self.log = log
        self._wall_clock = wall_clock
        self._link = link
        self._open_until = link.client.register_script(OPEN_UNTIL)
        self._sync_task: asyncio.Task[None] | None = None
        self._sends: set[asyncio.Task[None]] = set()
        self._closed = False

    def get(self, provider: str, model: str) -> Breaker:
        if self._sync_task is None and not self._closed:
            self._start_sync()
        breaker = self._breakers.get((provider, model))
        if breaker is None:
            if len(self._breakers) >= self.max_entries:
                self._forget_a_quiet_one()
            breaker = SharedBreaker(
                self.options, self._clock, self._on_transition, key=f"{provider}/{model}",
                publish=self._publish,
            )
            self._breakers[(provider, model)] = breaker
        return breaker

    async def sync(self) -> None:
        """Hold open every known target that some process published as open (one round trip)."""
        breakers = list(self._breakers.values())
        if not breakers:
            return
        try:
            ttls = await self._link.call(self._read_ttls, [breaker_key(b.key) for b in breakers])
        except Unavailable:
            return
        now = self._clock()
        for breaker, ttl_ms in zip(breakers, ttls, strict=True):
            # PTTL rather than the stored epoch: it is Redis's own countdown, so clocks that
            # differ between hosts do not matter. -2 (no key) and -1 (no expiry) are skipped.
            if ttl_ms > _SLACK * 1000:
                breaker.force_open(now + ttl_ms / 1000)

    async def aclose(self) -> None:
        self._closed = True
        if self._sync_task is not None:
            self._sync_task.cancel()
            # Bounded: the loop also stops by itself at its next turn now that _closed is set.
            await asyncio.wait({self._sync_task}, timeout=self.options.sync_interval + 2 * self._link.timeout)
        # Publications are bounded by the link's timeout; let them land rather than cut them.
        await asyncio.gather(*self._sends, return_exceptions=True)
        await self._link.aclose()

    async def _read_ttls(self, keys: list[str]) -> list[int]:
        async with self._link.client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.pttl(key)
            return await pipe.execute()

    def _start_sync(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # not on a loop yet (built at assembly); the next get() starts it
        # The task holds the board weakly: a board its assembly dropped without closing it
        # is collected, and the task then ends and closes the connections itself.
        self._sync_task = loop.create_task(
            _sync_forever(weakref.ref(self), self._link, self.options.sync_interval)
        )

    def _publish(self, target: str, open_until: float) -> None:
        left = open_until - self._clock()
        if left <= 0 or self._closed:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(self._send(target, left))
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    async def _send(self, target: str, left: float) -> None:
        ttl_ms = max(1, math.ceil(left * 1000))
        until_ms = int(self._wall_clock() * 1000) + ttl_ms
        with contextlib.suppress(Unavailable):
            await self._link.call(self._open_until, keys=[breaker_key(target)], args=[until_ms, ttl_ms])


async def _sync_forever(board_ref: weakref.ref[RedisBreakerBoard], link: RedisLink, interval: float) -> None:
    """Run ``board.sync()`` every ``interval`` seconds for as long as the board exists."""
    while True:
        # Real time on purpose: a test's instant fake sleep would make this loop spin.
        await asyncio.sleep(interval)
        board = board_ref()
        if board is None:
            await link.aclose()
            return
        if board._closed:
            return
        try:
            await board.sync()
        except Exception:  # a bug here must not stop the sharing for good; say it and go on
            board.log.exception("reading shared breaker state failed")
        del board  # hold no strong reference while sleeping


def make_board(*, options: RedisBreakerOptions, services: Any) -> RedisBreakerBoard:
    """Factory for ``[breaker] policy = "redis"``."""
    link = RedisLink(
        redis_url(options, path="breaker.url"), timeout=options.redis_timeout, clock=services.clock,
        log=services.log, what="circuit-breaker state", telemetry=services.telemetry, feature="breaker",
    )
    return RedisBreakerBoard(options, services.clock, services.wall_clock, link, services.log,
                             services.telemetry.breaker_changed)
