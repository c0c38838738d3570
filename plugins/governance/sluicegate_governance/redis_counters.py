"""Budget counters in Redis: every instance sharing the Redis enforces one budget.

Layout, each key under ``prefix`` (default ``sg:gov:{budget}:``):

- ``<prefix><name>:<period_start>``: a hash whose field ``spent`` is what was settled in that
  period. It expires ``GRACE`` after the period ends (late settlements of reservations made
  before the end still land); a total budget's never expires.
- ``<prefix><name>:<period_start>:inflight``: a sorted set of reservation tickets scored by
  their expiry. A ticket ends with its amount (``<id>:<expires>:<amount>``), so the set alone
  says what is in flight; the set expires with its last reservation. A crashed instance's
  reservations therefore free the budget ``ttl`` seconds after they were made.

Each operation is one Lua script over every claim of a request (the key's and its team's):
reserve purges expired tickets, sums what is in flight, checks every claim and only then adds
the ticket to each, so no two instances can both take the last of a budget.

Time is the caller's wall clock (``wall_clock``), passed into every script; Redis's ``TIME`` is
never used. The periods the caller computed and the expiries the scripts test then agree, and
TTLs are set relative to it (``PEXPIRE``). Instances need clocks in step (NTP): a skew of s
seconds moves a reservation's expiry, and the instant a period rolls over, by s.

Redis Cluster: a script may touch keys of one slot only, and a key's and its team's counters
have different names, so every governance counter carries the same hash tag (the ``{budget}``
in the prefix). All budget counters then live on one node: budgets are limited to one node's
throughput and memory (tens of thousands of scripts a second, a few hundred bytes a counter),
which buys the atomic key-and-team check.

Redis away (refused, reset, an error reply, no answer within ``timeout``): the call's caller
gets its answer from a local ``MemoryCounters`` seeded with the spend this instance last saw
for each counter, so every instance still enforces each budget against what it last knew plus
its own spend: no unlimited spend, no failed request, never an exception. Redis is not asked
again for ``cooldown`` seconds (monotonic ``clock``); meanwhile settlements are owed to it
(added up per counter, so the queue is bounded by counters, not requests). A background task
(started when something is owed, ended when nothing is, or by ``aclose``) then sends, in
order: settlements whose answer was lost (replayed so they count once: see ``SETTLE``), the
owed spend with the last-seen values for counters Redis lost (a restart), and the removal of
the reservations settled meanwhile. Only when all arrived are the counters shared again; what
was reserved locally and is still in flight then is not in Redis (at most one cooldown's worth
of requests per instance). One warning a minute at most, on logger ``sluicegate``; no URL in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from attrs import define
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisClusterException, RedisError

from sluicegate.errors import ConfigError, ConfigProblem
from sluicegate_governance.counters import (
    MAX_RESERVATIONS,
    SLACK,
    Clock,
    CounterKey,
    MemoryCounters,
    check_amount,
    check_claims,
    check_ttl,
    counter_key,
    drop_ended,
    verdict,
)
from sluicegate_governance.protocols import Admission, Claim
from sluicegate_redis.link import SCHEMES, make_client

#: Every counter under one Redis Cluster hash tag, so a script may touch a key's and its team's.
DEFAULT_PREFIX = "sg:gov:{budget}:"
# Seconds one Redis call may take (connection included) before the answer comes from memory.
# Generous: budgets are money, and a local answer lets each instance spend what it alone last
# saw; a loaded event loop (not a slow Redis) can take a quarter second to read a reply.
DEFAULT_TIMEOUT = 2.0
# Seconds Redis is left alone after a failure: a dead Redis costs one bounded wait per cooldown.
COOLDOWN = 1.0
# Real seconds between the background task's attempts to send what is owed.
RETRY = 0.5
# Seconds between two warnings of the same kind.
WARN_EVERY = 60.0
# Seconds a period's spent hash outlives the period: settlements of reservations made before
# the end (ttl at most this) still count, and old periods leave Redis by themselves.
GRACE = 3600.0
# Milliseconds a flush batch's marker lives: a retry of a batch whose answer was lost comes
# within seconds; an hour is plenty and the markers are few.
MARKER_TTL_MS = 3_600_000
# Counters (or tickets) per recovery script call: bounded work per call, per slot.
BATCH = 100
# Sends per flush until nothing new is owed (settlements keep coming while it runs).
ROUNDS = 10
# Bounds of what is remembered and owed while Redis is away.
MAX_SEEN = 100_000  # counters whose last spend is remembered
MAX_OWED = 10_000  # counters with spend owed
MAX_REPLAYS = 1_000  # settlements whose answer was lost (each replayed on its own)
MAX_RELEASES = 10_000  # reservations to remove once back (the rest end with their ttl)
# Seconds aclose gives the last flush.
CLOSE_BOUND = 2.0

_FUNCTIONS = r"""
local function fmt(x) return string.format('%.17g', x) end
local function amount(ticket) return tonumber(string.match(ticket, '[^:]*$')) or 0 end
"""

# KEYS: per claim its spent hash and in-flight set. ARGV: now, amount, ticket, its expiry,
# slack, then each claim's limit. Returns {1 admitted | 0, the refusing claim (1-based) or 0,
# then per claim spent and reserved before this reservation}.
RESERVE = _FUNCTIONS + r"""
local now = tonumber(ARGV[1])
local want = tonumber(ARGV[2])
local slack = tonumber(ARGV[5])
local n = #KEYS / 2
local reply = {1, 0}
for i = 1, n do
  local inflight = KEYS[2 * i]
  redis.call('ZREMRANGEBYSCORE', inflight, '-inf', ARGV[1])
  local spent = tonumber(redis.call('HGET', KEYS[2 * i - 1], 'spent') or '0')
  local reserved = 0
  for _, held in ipairs(redis.call('ZRANGE', inflight, 0, -1)) do
    reserved = reserved + amount(held)
  end
  reply[2 * i + 1] = fmt(spent)
  reply[2 * i + 2] = fmt(reserved)
  if reply[1] == 1 and spent + reserved + want > tonumber(ARGV[5 + i]) + slack then
    reply[1] = 0
    reply[2] = i
  end
end
if reply[1] == 1 then
  for i = 1, n do
    local inflight = KEYS[2 * i]
    redis.call('ZADD', inflight, ARGV[4], ARGV[3])
    local last = redis.call('ZRANGE', inflight, -1, -1, 'WITHSCORES')
    redis.call('PEXPIRE', inflight, string.format('%d', math.max(1, math.ceil((tonumber(last[2]) - now) * 1000))))
  end
end
return reply
"""

# KEYS: per claim its spent hash and in-flight set. ARGV: now, ticket, actual, guarded ('1' for
# a replay), the ticket's expiry, then per claim the hash's ttl (ms; -1 for ever; 0 its period
# is over: nothing charged) and the spend to start an absent hash from ('' none). Returns each
# claim's spent.
#
# A replay is of a settlement whose answer was lost: it may have run. If it ran, its ticket is
# gone and its hash exists; a ticket can only be gone otherwise by expiring, or with the whole
# of Redis (then the hash is gone too). So a replay charges when its ticket was still there,
# when the ticket is past its expiry, or when the hash is absent: exactly once either way.
SETTLE = _FUNCTIONS + r"""
local actual = tonumber(ARGV[3])
local guarded = ARGV[4] == '1'
local late = tonumber(ARGV[1]) >= tonumber(ARGV[5])
local reply = {}
for i = 1, #KEYS / 2 do
  local hash, inflight = KEYS[2 * i - 1], KEYS[2 * i]
  local removed = redis.call('ZREM', inflight, ARGV[2])
  redis.call('ZREMRANGEBYSCORE', inflight, '-inf', ARGV[1])
  local ttl = tonumber(ARGV[4 + 2 * i])
  if actual > 0 and ttl ~= 0 then
    local absent = redis.call('EXISTS', hash) == 0
    if not guarded or removed == 1 or late or absent then
      if absent and ARGV[5 + 2 * i] ~= '' then
        redis.call('HSET', hash, 'spent', ARGV[5 + 2 * i])
      end
      redis.call('HINCRBYFLOAT', hash, 'spent', ARGV[3])
      if ttl > 0 then redis.call('PEXPIRE', hash, ARGV[4 + 2 * i]) end
    end
  end
  reply[i] = redis.call('HGET', hash, 'spent') or '0'
end
return reply
"""

# KEYS: spent hashes. ARGV: per hash the spend to set where it is absent, and its ttl (ms; -1
# for ever; 0 its period is over). Returns each hash's spent.
SEED = r"""
local reply = {}
for i = 1, #KEYS do
  local ttl = tonumber(ARGV[2 * i])
  if ttl ~= 0 and redis.call('HSETNX', KEYS[i], 'spent', ARGV[2 * i - 1]) == 1 and ttl > 0 then
    redis.call('PEXPIRE', KEYS[i], ARGV[2 * i])
  end
  reply[i] = redis.call('HGET', KEYS[i], 'spent') or '0'
end
return reply
"""

# KEYS: a spent hash and its in-flight set. ARGV: now. Returns {spent, reserved (live tickets)}.
STATE = _FUNCTIONS + r"""
local reserved = 0
for _, held in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[1], '+inf')) do
  reserved = reserved + amount(held)
end
return {redis.call('HGET', KEYS[1], 'spent') or '0', fmt(reserved)}
"""

# Spend owed since Redis was away, applied once: KEYS[1] marks the batch applied (a retry after
# a lost answer finds it and adds nothing again), then spent hashes. ARGV: the mark's ttl (ms),
# then per hash the spend to start it from where absent ('' none: Redis lost it, this is what
# the instance last saw), the amount to add, and its ttl (ms; -1 for ever; 0 period over).
# Returns each hash's spent.
APPLY = r"""
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  for i = 2, #KEYS do
    local j = 3 * i - 4
    local ttl = tonumber(ARGV[j + 2])
    if ttl ~= 0 then
      if ARGV[j] ~= '' then redis.call('HSETNX', KEYS[i], 'spent', ARGV[j]) end
      if tonumber(ARGV[j + 1]) > 0 then redis.call('HINCRBYFLOAT', KEYS[i], 'spent', ARGV[j + 1]) end
      if ttl > 0 then redis.call('PEXPIRE', KEYS[i], ARGV[j + 2]) end
    end
  end
end
local reply = {}
for i = 2, #KEYS do reply[i - 1] = redis.call('HGET', KEYS[i], 'spent') or '0' end
return reply
"""

# Is Redis back? KEYS[1] is any key in the counters' slot (a cluster node may be down alone).
PROBE = r"""
return redis.call('EXISTS', KEYS[1])
"""

# Reservations settled while Redis was away: KEYS in-flight sets, ARGV the ticket to drop from each.
RELEASE = r"""
for i = 1, #KEYS do redis.call('ZREM', KEYS[i], ARGV[i]) end
return 0
"""


class _Failed(Exception):
    """A Redis call failed (it may still have run: a timeout is no answer, not "not done")."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(cause.__class__.__name__)
        # The class only: a message may carry a host, or worse, from a URL.
        self.reason = "timed out" if isinstance(cause, TimeoutError) else cause.__class__.__name__


@define(slots=True)
class _Seen:
    spent: float
    period_end: float | None


@define(slots=True)
class _Owed:
    claim: Claim
    amount: float = 0.0


@define(frozen=True, slots=True)
class _Replay:
    claims: tuple[Claim, ...]
    ticket: str
    actual: float


@define(frozen=True, slots=True)
class _Apply:
    claim: Claim
    seed: float | None  # set where Redis has no spend for it
    add: float


@define(frozen=True, slots=True)
class _Batch:
    marker: str
    entries: tuple[_Apply, ...]


def check_prefix(prefix: str) -> str:
    start = prefix.find("{")
    end = prefix.find("}", start + 1) if start >= 0 else -1
    if end <= start + 1:
        raise ValueError(
            f"prefix {prefix!r} must hold a Redis Cluster hash tag such as 'sg:gov:{{budget}}:': "
            "a reservation's script touches a key's and its team's counters, which must share a slot")
    return prefix


def _arg(number: float) -> str:
    return repr(float(number))  # the shortest text that reads back as the same double


def _ttl_ms(period_end: float | None, now: float) -> int:
    """A spent hash's TTL from now: -1 for ever (total budget), 0 when its grace is over."""
    if period_end is None:
        return -1
    return max(0, math.ceil((period_end + GRACE - now) * 1000))


def _expiry(ticket: str) -> float:
    """When a ticket's reservation expires (0 for a ticket this module did not make: long past)."""
    try:
        return float(ticket.split(":")[1])
    except (IndexError, ValueError):
        return 0.0


def _raise_if_cancelled(task: asyncio.Task[Any] | None, cancels: int) -> None:
    # redis-py can complete a command its task was cancelled in (Python 3.11's timeout); a
    # cancelled caller must not carry on as if nothing happened.
    if task is not None and task.cancelling() > cancels:
        raise asyncio.CancelledError


class RedisCounters:
    """``SpendCounters`` shared through Redis, answering from memory while Redis is away.

    Owns ``client`` (``aclose`` closes it). Build one from a URL with ``from_url``.
    """

    def __init__(self, client: Any, *, clock: Clock = time.monotonic, wall_clock: Clock = time.time,
                 prefix: str = DEFAULT_PREFIX, timeout: float = DEFAULT_TIMEOUT, cooldown: float = COOLDOWN,
                 retry: float = RETRY, log: logging.Logger | None = None, telemetry: Any = None,
                 max_reservations: int = MAX_RESERVATIONS) -> None:
        if not (timeout > 0 and cooldown >= 0 and retry > 0):
            raise ValueError("timeout and retry must be > 0 seconds, cooldown >= 0")
        self.client = client
        self._prefix = check_prefix(prefix)
        self._clock = clock
        self._wall_clock = wall_clock
        self._timeout = timeout
        self._cooldown = cooldown
        self._retry = retry
        self._log = log if log is not None else logging.getLogger("sluicegate")
        self._telemetry = telemetry
        self._max_reservations = max_reservations
        self._reserve = client.register_script(RESERVE)
        self._settle = client.register_script(SETTLE)
        self._seed = client.register_script(SEED)
        self._state = client.register_script(STATE)
        self._apply = client.register_script(APPLY)
        self._release = client.register_script(RELEASE)
        self._probe = client.register_script(PROBE)
        self._local = self._new_local()
        # The spend Redis last reported per counter: where local enforcement starts, and what
        # Redis is given back if it lost a counter (a restart).
        self._seen: dict[CounterKey, _Seen] = {}
        self._seen_prune = math.inf
        # Owed to Redis: spend per counter, replays, reservations to remove; and sealed batches.
        self._owed: dict[CounterKey, _Owed] = {}
        self._replays: deque[_Replay] = deque()
        self._releases: dict[str, tuple[Claim, ...]] = {}
        self._batches: deque[_Batch] = deque()
        self._degraded = False
        self._down_until = -math.inf
        self._warned: dict[str, float] = {}
        self._outage_told = False
        self._flusher: asyncio.Task[None] | None = None
        self._flushing = False
        self._closed = False

    @classmethod
    def from_url(cls, url: str, *, timeout: float = DEFAULT_TIMEOUT, path: str = "store.redis_url",
                 **kwargs: Any) -> RedisCounters:
        """Counters on the Redis at ``url`` (``redis+cluster://`` for a cluster); a ``ConfigError``
        at ``path`` for a URL that cannot work, which is never echoed (it may hold a password)."""
        if urlsplit(url).scheme not in SCHEMES:
            raise ConfigError([ConfigProblem(
                path, "must be a redis://, rediss://, unix:// URL, or redis+cluster:// "
                      "(rediss+cluster://) for a Redis Cluster")])
        return cls(make_client(url, timeout), timeout=timeout, **kwargs)

    @property
    def shared(self) -> bool:
        """False while answers come from memory (Redis failed and not everything owed arrived)."""
        return not self._degraded

    # -- SpendCounters ------------------------------------------------------------------------------

    async def reserve(self, claims: Sequence[Claim], amount: float, *, ttl: float) -> Admission:
        check_claims(claims)
        amount = check_amount("amount", amount)
        ttl = check_ttl(ttl)
        now = self._wall_clock()
        expires = now + ttl
        ticket = f"{uuid.uuid4().hex}:{_arg(expires)}:{_arg(amount)}"
        if not claims:
            return verdict(claims, (), amount, None, ticket)
        if not self._degraded:
            args = [_arg(now), _arg(amount), ticket, _arg(expires), _arg(SLACK), *(_arg(c.limit) for c in claims)]
            try:
                reply = await self._call(self._reserve, self._keys(claims), args)
            except _Failed as exc:
                # The script may have run: the local reservation keeps the ticket, so its
                # settlement removes it from Redis too (else it ends with its ttl).
                self._went_down(exc)
            else:
                states = [(float(reply[2 + 2 * i]), float(reply[3 + 2 * i])) for i in range(len(claims))]
                self._remember(claims, [spent for spent, _ in states])
                refused = None if int(reply[0]) == 1 else int(reply[1]) - 1
                return verdict(claims, states, amount, refused, ticket)
        await self._seed_local(claims)
        return await self._local.reserve(claims, amount, ttl=ttl, ticket=ticket)

    async def settle(self, claims: Sequence[Claim], ticket: str, actual: float) -> None:
        check_claims(claims)
        actual = check_amount("actual", actual)
        if not isinstance(ticket, str) or not ticket:
            raise ValueError("ticket must be the one reserve gave")
        if not claims:
            return
        if not self._degraded:
            args = self._settle_args(claims, ticket, actual, guarded=False)
            try:
                reply = await self._call(self._settle, self._keys(claims), args)
            except _Failed as exc:
                self._went_down(exc)
                self._replay_later(claims, ticket, actual)
            except asyncio.CancelledError:
                self._replay_later(claims, ticket, actual)
                raise
            else:
                self._remember(claims, [float(spent) for spent in reply])
                return
            await self._seed_local(claims)
            await self._local.settle(claims, ticket, actual)
            return
        await self._seed_local(claims)
        await self._local.settle(claims, ticket, actual)
        self._owe(claims, ticket, actual)

    async def seed(self, claims: Sequence[Claim], spent: Mapping[str, float]) -> None:
        check_claims(claims)
        values = {claim.name: check_amount(f"spent[{claim.name!r}]", spent[claim.name])
                  for claim in claims if claim.name in spent}
        chosen = [claim for claim in claims if claim.name in values]
        if not chosen:
            return
        if not self._degraded:
            now = self._wall_clock()
            args = [text for claim in chosen for text in (_arg(values[claim.name]), str(_ttl_ms(claim.period_end, now)))]
            try:
                reply = await self._call(self._seed, [self._hash_key(claim) for claim in chosen], args)
            except _Failed as exc:
                self._went_down(exc)
            else:
                self._remember(chosen, [float(value) for value in reply])
                return
        # Away: the ledger's figure is all Redis would have had, unless it had told us more.
        best = {}
        for claim in chosen:
            seen = self._seen.get(counter_key(claim))
            best[claim.name] = max(values[claim.name], seen.spent if seen is not None else 0.0)
        self._remember(chosen, [best[claim.name] for claim in chosen], only_new=True)
        await self._local.seed(chosen, best)

    async def state(self, claim: Claim) -> tuple[float, float]:
        check_claims([claim])
        if not self._degraded:
            try:
                reply = await self._call(self._state, self._keys([claim]), [_arg(self._wall_clock())])
            except _Failed as exc:
                self._went_down(exc)
            else:
                spent = float(reply[0])
                self._remember([claim], [spent])
                return (spent, float(reply[1]))
        await self._seed_local([claim])
        return await self._local.state(claim)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        flusher = self._flusher
        if flusher is not None:
            flusher.cancel()
            await asyncio.wait({flusher}, timeout=CLOSE_BOUND)
        if self._owes() and self._clock() >= self._down_until:
            # Last chance for what is owed; what does not arrive is missing from the shared
            # counters (the ledger still has it).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CLOSE_BOUND):
                    await self.flush()
        await self._local.aclose()
        with contextlib.suppress(RedisError, RedisClusterException, OSError):
            if isinstance(self.client, RedisCluster):
                await self.client.aclose()
            else:
                await self.client.aclose(close_connection_pool=True)

    # -- getting back to Redis ----------------------------------------------------------------------

    async def flush(self) -> bool:
        """Send Redis what it is owed, now (the background task calls this once the cooldown is
        over). True when everything arrived and the counters are shared; False when Redis failed
        again, or another flush is under way."""
        if self._flushing:
            return False
        self._flushing = True
        try:
            if self._degraded:
                # Even with nothing owed (only reservations failed), back means Redis answered.
                await self._call(self._probe, [self._prefix + "probe"], [])
            for round_ in range(ROUNDS):
                await self._send_replays()
                await self._send_batches(reseed=self._degraded and round_ == 0)
                await self._send_releases()
                if not self._owes():
                    break
        except _Failed as exc:
            self._went_down(exc)
            return False
        finally:
            self._flushing = False
        if self._owes():
            return False  # still busy receiving settlements: the next attempt goes on
        if self._degraded:
            self._back()
        return True

    def _owes(self) -> bool:
        return bool(self._replays or self._owed or self._batches or self._releases)

    async def _send_replays(self) -> None:
        # Before the owed spend: a replay finding its counter absent starts it from what was
        # last seen; applied after, the owed batch's own start would have made it look present.
        while self._replays:
            replay = self._replays[0]
            args = self._settle_args(replay.claims, replay.ticket, replay.actual, guarded=True)
            reply = await self._call(self._settle, self._keys(replay.claims), args)
            self._replays.popleft()
            self._remember(replay.claims, [float(spent) for spent in reply])

    async def _send_batches(self, *, reseed: bool) -> None:
        if not self._batches:
            self._seal(reseed)
        while self._batches:
            batch = self._batches[0]
            now = self._wall_clock()
            keys = [self._prefix + "batch:" + batch.marker, *(self._hash_key(entry.claim) for entry in batch.entries)]
            args = [str(MARKER_TTL_MS)]
            for entry in batch.entries:
                args += ["" if entry.seed is None else _arg(entry.seed), _arg(entry.add),
                         str(_ttl_ms(entry.claim.period_end, now))]
            reply = await self._call(self._apply, keys, args)
            self._batches.popleft()
            self._remember([entry.claim for entry in batch.entries], [float(spent) for spent in reply])

    def _seal(self, reseed: bool) -> None:
        """Turn the owed spend (and, after an outage, every last-seen spend) into batches with
        fixed ids, so a batch sent again after a lost answer is recognised."""
        entries: dict[CounterKey, _Apply] = {}
        if reseed:
            self._prune_seen(self._wall_clock())
            for key, seen in self._seen.items():
                entries[key] = _Apply(Claim(key[0], key[1], seen.period_end, 0.0), seen.spent, 0.0)
        for key, owed in self._owed.items():
            seen = self._seen.get(key)
            entries[key] = _Apply(owed.claim, seen.spent if seen is not None else None, owed.amount)
        self._owed.clear()
        items = list(entries.values())
        for start in range(0, len(items), BATCH):
            self._batches.append(_Batch(uuid.uuid4().hex, tuple(items[start:start + BATCH])))

    async def _send_releases(self) -> None:
        while self._releases:
            chunk = list(itertools.islice(self._releases.items(), BATCH))
            keys = [self._inflight_key(claim) for _, claims in chunk for claim in claims]
            args = [ticket for ticket, claims in chunk for _ in claims]
            await self._call(self._release, keys, args)
            for ticket, _ in chunk:
                self._releases.pop(ticket, None)

    def _start_flusher(self) -> None:
        if self._closed or (self._flusher is not None and not self._flusher.done()):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a synchronous caller): the next call on a loop starts it
        self._flusher = loop.create_task(self._flush_while_owed(), name="sluicegate-budget-flush")

    async def _flush_while_owed(self) -> None:
        while not self._closed and (self._degraded or self._owes()):
            # Real time, like the rate limiter's keeper: a test's fake clock never moves on its
            # own, and this loop must not spin on it.
            await asyncio.sleep(self._retry)
            if self._clock() < self._down_until:
                continue
            try:
                await self.flush()
            except Exception:  # a bug here must not end the flushing for good; say it, go on
                self._log.exception("governance: sending budget spend to redis failed")

    # -- Redis calls and the outage -----------------------------------------------------------------

    async def _call(self, script: Any, keys: list[str], args: list[str]) -> Any:
        task = asyncio.current_task()
        cancels = task.cancelling() if task is not None else 0
        try:
            async with asyncio.timeout(self._timeout):
                reply = await script(keys=keys, args=args)
        except (RedisError, RedisClusterException, OSError, TimeoutError) as exc:
            _raise_if_cancelled(task, cancels)
            raise _Failed(exc) from exc
        _raise_if_cancelled(task, cancels)
        return reply

    def _went_down(self, exc: _Failed) -> None:
        self._degraded = True
        self._down_until = self._clock() + self._cooldown
        if self._telemetry is not None:
            self._telemetry.backend_failed("redis", "budgets")
        if self._warn("outage", "governance: redis unreachable for budget counters (%s); each instance "
                      "enforces budgets from the spend it last saw plus its own until redis answers",
                      exc.reason):
            self._outage_told = True
        self._start_flusher()

    def _back(self) -> None:
        self._degraded = False
        self._down_until = -math.inf
        # The next outage starts from what Redis says then, not from this one's leftovers.
        self._local = self._new_local()
        if self._outage_told:
            self._outage_told = False
            self._log.info("governance: redis answers again; budget counters are shared again")

    def _warn(self, kind: str, message: str, *args: Any) -> bool:
        now = self._clock()
        last = self._warned.get(kind)
        if last is not None and now - last < WARN_EVERY:
            return False
        self._warned[kind] = now
        self._log.warning(message, *args)
        return True

    def _replay_later(self, claims: Sequence[Claim], ticket: str, actual: float) -> None:
        if len(self._replays) >= MAX_REPLAYS:
            # Charged unconditionally instead: at worst twice, never not at all.
            self._owe(claims, ticket, actual)
            return
        self._replays.append(_Replay(tuple(claims), ticket, actual))
        self._start_flusher()

    def _owe(self, claims: Sequence[Claim], ticket: str, actual: float) -> None:
        for claim in claims:
            if actual == 0:
                break
            key = counter_key(claim)
            owed = self._owed.get(key)
            if owed is None:
                if len(self._owed) >= MAX_OWED:
                    self._warn("owed", "governance: too many budget counters owed to redis (%d); "
                               "some spend will be missing from them", MAX_OWED)
                    continue
                owed = self._owed[key] = _Owed(claim)
            owed.amount += actual
        # Its reservation (if Redis holds it) would otherwise hold budget until its ttl.
        if len(self._releases) < MAX_RELEASES:
            self._releases[ticket] = tuple(claims)
        self._start_flusher()

    # -- local state --------------------------------------------------------------------------------

    def _new_local(self) -> MemoryCounters:
        return MemoryCounters(clock=self._clock, max_reservations=self._max_reservations)

    async def _seed_local(self, claims: Sequence[Claim]) -> None:
        known = {claim.name: seen.spent for claim in claims
                 if (seen := self._seen.get(counter_key(claim))) is not None}
        if known:
            await self._local.seed(claims, known)

    def _remember(self, claims: Sequence[Claim], spents: Sequence[float], *, only_new: bool = False) -> None:
        wall = self._wall_clock()
        if wall >= self._seen_prune:
            self._prune_seen(wall)
        for claim, spent in zip(claims, spents, strict=True):
            key = counter_key(claim)
            if key in self._seen:
                if not only_new:
                    self._seen[key].spent = spent
                continue
            if len(self._seen) >= MAX_SEEN:
                del self._seen[next(iter(self._seen))]  # the longest known: most likely stale
            self._seen[key] = _Seen(spent, claim.period_end)
            if claim.period_end is not None:
                self._seen_prune = min(self._seen_prune, claim.period_end)

    def _prune_seen(self, wall: float) -> None:
        self._seen_prune = drop_ended(self._seen, wall, lambda seen: seen.period_end)

    # -- keys and arguments -------------------------------------------------------------------------

    def _hash_key(self, claim: Claim) -> str:
        return f"{self._prefix}{claim.name}:{claim.period_start:.17g}"

    def _inflight_key(self, claim: Claim) -> str:
        return self._hash_key(claim) + ":inflight"

    def _keys(self, claims: Sequence[Claim]) -> list[str]:
        return [key for claim in claims for key in (self._hash_key(claim), self._inflight_key(claim))]

    def _settle_args(self, claims: Sequence[Claim], ticket: str, actual: float, *, guarded: bool) -> list[str]:
        now = self._wall_clock()
        args = [_arg(now), ticket, _arg(actual), "1" if guarded else "0", _arg(_expiry(ticket))]
        for claim in claims:
            seen = self._seen.get(counter_key(claim)) if guarded else None
            args += [str(_ttl_ms(claim.period_end, now)), "" if seen is None else _arg(seen.spent)]
        return args
