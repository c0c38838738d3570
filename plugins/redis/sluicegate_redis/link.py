"""One Redis client with short timeouts and a circuit of its own: Redis trouble never fails a request.

Every call is bounded by ``timeout`` (connect, pool wait and command together). A failed
connection (refused, reset, an error reply) makes the link *down* for ``cooldown`` seconds;
timeouts do so only when ``STALLED_AFTER`` come in a row with no answer in between, because one
slow call on a healthy Redis is no outage and must not send every caller to local state. While
down, callers get ``CoolingDown`` (an ``Unavailable``) at once and answer from local state. When
the cooldown is over, one call probes Redis while the others stay local, so a dead Redis costs a
few bounded waits per cooldown, not one per request. One warning is logged per cooldown and one
line when Redis is back.

Every call that reached for Redis and failed is reported to the gateway's telemetry
(``backend_failed("redis", feature)``, the ``sluicegate_backend_failures_total`` metric); calls
skipped while cooling down are not failures, so a Redis that stays down adds about one per
cooldown and feature per process, and a burst of requests caught mid-outage adds one each.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisClusterException, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from sluicegate.errors import ConfigError, ConfigProblem
from sluicegate_redis.options import DEFAULT_TIMEOUT

DEFAULT_URL = "redis://127.0.0.1:6379/0"
# Seconds one Redis call may take, connection included: the latency Redis trouble can add.
# Seconds Redis is skipped after a failure before one call probes it again.
COOLDOWN = 5.0
# Timeouts in a row (no answer in between) that make the link cool down: a stall, not a slow call.
STALLED_AFTER = 3
# A request waits for a pooled connection rather than opening sockets without bound.
MAX_CONNECTIONS = 64

Clock = Callable[[], float]

#: URL schemes: one server, or (``+cluster``) any node of a Redis Cluster, whose other nodes
#: are found from it.
SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster")
CLUSTER_SUFFIX = "+cluster"


class Unavailable(Exception):
    """Redis is skipped (cooling down) or the call just failed: answer locally.

    A call that failed may still have reached Redis (a timeout is "no answer", not "not done");
    only ``CoolingDown`` says for sure that Redis was not asked.
    """


class CoolingDown(Unavailable):
    """The link is down: the call was not sent."""


def redis_url(options: Any, path: str = "url") -> str:
    """The URL from ``options.url`` (a Secret, a string or None), checked; a ConfigError at ``path`` if unusable."""
    value = options.url
    if value is None:
        return DEFAULT_URL
    missing = getattr(value, "missing", ())
    url = value.reveal() if hasattr(value, "reveal") else str(value)
    if not url:
        why = f"is empty because {', '.join(missing)} is not set" if missing else "is empty"
        raise ConfigError([ConfigProblem(path, why)])
    if urlsplit(url).scheme not in SCHEMES:
        # The URL is not echoed: it may hold a password.
        raise ConfigError([ConfigProblem(
            path, "must be a redis://, rediss://, unix:// URL, or redis+cluster:// (rediss+cluster://) "
                  "for a Redis Cluster")])
    return url


def make_client(url: str, timeout: float) -> Redis | RedisCluster:
    """A client that never retries by itself: the link decides what a failure means."""
    scheme, sep, rest = url.partition("://")
    if scheme.endswith(CLUSTER_SUFFIX):
        try:
            # Every key the backends use carries a hash tag, so each command and script touches
            # one slot, as a cluster requires.
            return RedisCluster.from_url(
                scheme[: -len(CLUSTER_SUFFIX)] + sep + rest,
                max_connections=MAX_CONNECTIONS,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                # No retries here either (redis-py >= 6 takes cluster retries from this too).
                retry=Retry(NoBackoff(), 0),
            )
        except ValueError as exc:
            raise ConfigError([ConfigProblem("url", f"is not a valid Redis URL: {exc}")]) from None
    try:
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=MAX_CONNECTIONS,
            timeout=timeout,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            # redis-py >= 6 retries three times with backoff by default; that would multiply
            # the latency a dead Redis adds to each request.
            retry=Retry(NoBackoff(), 0),
        )
    except ValueError as exc:
        raise ConfigError([ConfigProblem("url", f"is not a valid Redis URL: {exc}")]) from None
    return Redis(connection_pool=pool)


class RedisLink:
    """A Redis client guarded by a timeout and a cooldown circuit; ``call`` raises ``Unavailable``."""

    def __init__(
        self,
        url: str,
        *,
        clock: Clock,
        log: logging.Logger,
        what: str,
        timeout: float = DEFAULT_TIMEOUT,
        cooldown: float = COOLDOWN,
        telemetry: Any = None,
        feature: str = "",
        meanwhile: str = "answers from local state",
    ) -> None:
        self.client = make_client(url, timeout)
        # What the feature does while Redis is away, for the warning (a store cannot fall back).
        self._meanwhile = meanwhile
        # Where failures are reported (Services.telemetry) and for which feature (cache, ...).
        self._telemetry = telemetry
        self._feature = feature
        self.timeout = timeout
        self.cooldown = cooldown
        self._clock = clock
        self._log = log
        self._what = what
        # Where the log lines say Redis is, without the password a URL may carry.
        self._where = _describe(url)
        self._down_until: float | None = None
        self._probing = False
        # Timeouts since the last answer; STALLED_AFTER of them make the link go down.
        self._slow = 0

    @property
    def up(self) -> bool:
        return self._down_until is None

    def retry_in(self) -> float:
        """Seconds until a call may reach Redis again (0 when up or the cooldown is over)."""
        return 0.0 if self._down_until is None else max(0.0, self._down_until - self._clock())

    async def call(self, fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        """``await fn(*args, **kwargs)`` within the timeout, or ``Unavailable``."""
        probe = self._admit()
        task = asyncio.current_task()
        cancels = task.cancelling() if task is not None else 0
        try:
            async with asyncio.timeout(self.timeout):
                result = await fn(*args, **kwargs)
        except (RedisError, RedisClusterException, OSError, TimeoutError) as exc:
            _raise_if_cancelled(task, cancels)
            self._failed(exc, probe)
            raise Unavailable(str(exc)) from exc
        finally:
            if probe:
                self._probing = False
        _raise_if_cancelled(task, cancels)
        self._slow = 0
        if self._down_until is not None:
            self._down_until = None
            self._log.info("redis at %s is back; %s is shared again", self._where, self._what)
        return result

    def _admit(self) -> bool:
        """Raise ``Unavailable`` while cooling down; True when this call is the one probe."""
        if self._down_until is None:
            return False
        if self._probing or self._clock() < self._down_until:
            raise CoolingDown("cooling down")
        self._probing = True
        return True

    def _failed(self, exc: BaseException, probe: bool) -> None:
        if self._telemetry is not None:
            self._telemetry.backend_failed("redis", self._feature)
        if self._down_until is not None and not probe:
            # Calls already under way when Redis went down: the cooldown is running and warned.
            return
        if not probe and isinstance(exc, (TimeoutError, RedisTimeoutError)):
            self._slow += 1
            if self._slow < STALLED_AFTER:
                return  # one slow answer: the next call asks Redis again
        self._slow = 0
        self._down_until = self._clock() + self.cooldown
        reason = f"{exc.__class__.__name__}: {exc}".rstrip(": ")
        self._log.warning(
            "redis at %s unavailable (%s); %s %s for %g s",
            self._where, reason, self._what, self._meanwhile, self.cooldown,
        )

    async def aclose(self) -> None:
        if isinstance(self.client, RedisCluster):
            await self.client.aclose()  # closes every node's connections
        else:
            await self.client.aclose(close_connection_pool=True)


def _raise_if_cancelled(task: asyncio.Task[Any] | None, cancels: int) -> None:
    """Re-raise a cancellation that arrived during the call but did not come out of it.

    redis-py (seen with 8.1 on Python 3.11, whose ``asyncio.wait_for`` can return a result it
    was cancelled for) sometimes completes a command its task was cancelled in; a cancelled
    task that carried on would, for one, keep a breaker board's sync loop from ever closing.
    """
    if task is not None and task.cancelling() > cancels:
        raise asyncio.CancelledError


def _describe(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname or '127.0.0.1'}:{parts.port or 6379}"
