"""The chain's terminal: try a route's targets with retries, fallback, breakers, deadline, hedging.

Everything here happens before the client has seen a byte. A non-streaming answer is complete
when a provider returns it; a stream is held back until its first content event arrives, so a
stream that fails or stalls before content falls over to the next target without the client
seeing duplicated text. After that the stream is the client's, and a failure ends it in band.
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs
from attrs import define, field

from sluicegate.config.resilience import DegradeConfig, RetryConfig
from sluicegate.errors import GatewayError, UpstreamError, UpstreamTimeout
from sluicegate.exchange import (
    Endpoint,
    GatewayRequest,
    RequestContext,
    Result,
    SSEEvent,
    StreamReply,
    Target,
)
from sluicegate.resilience.balance import StatsBoard, TargetStats
from sluicegate.resilience.classify import TRAITS, ErrorClass, classify
from sluicegate.resilience.degrade import degraded_reply
from sluicegate.resilience.retry import RetryBudget, backoff
from sluicegate.resilience.streams import Expiry, StreamVerdict, anthropic_preamble, openai_preamble
from sluicegate.resilience.unexpected import UnexpectedFailures
from sluicegate.services import Services
from sluicegate.telemetry import AttemptRecord


@define
class Outcome:
    """What happened at one target, for the final error message."""

    label: str
    tries: int = 0
    error: GatewayError | None = None
    skipped: str | None = None  # why no call was made (breaker open, not configured, ...)
    retry_in: float = 0.0


@define
class Attempts:
    """The trail of one request across targets."""

    # Every upstream call, for the request's record (metrics, logs, traces): the request's
    # ``RequestFacts.attempts``.
    trail: list[AttemptRecord]
    outcomes: list[Outcome] = field(factory=list)
    calls: int = 0
    deadline_passed: bool = False

    def at(self, label: str) -> Outcome:
        outcome = Outcome(label)
        self.outcomes.append(outcome)
        return outcome


Release = Callable[[], Awaitable[None]]
#: A per-target admission check (e.g. a provider's outbound rate limit): raise a GatewayError to
#: refuse the target (the router moves on), or return a release to call when the call ends.
Gate = Callable[[RequestContext, GatewayRequest, Target], Awaitable[Release | None]]


async def _run_all(releases: list[Release]) -> None:
    for release in releases:
        await release()
    releases.clear()


class DeadlineExceeded(Exception):
    """The request's overall deadline passed; no further target may be tried."""


class ResilientRouter:
    """A chain terminal; one per assembly, state (breakers, stats, budget) shared by requests."""

    def __init__(
        self,
        retry: RetryConfig,
        breakers: Any,
        stats: StatsBoard,
        degrade: DegradeConfig | None,
        services: Services,
        gates: Sequence[Gate] = (),
    ) -> None:
        self.gates = tuple(gates)
        self.retry = retry
        self.breakers = breakers
        self.stats = stats
        self.degrade = degrade
        self.clock = services.clock
        # The running loop, kept: asyncio.get_running_loop() is a getpid() system call on 3.11.
        self._loop: asyncio.AbstractEventLoop | None = None
        self.sleep = services.sleep
        self.rng = services.rng
        self.wall_clock = services.wall_clock
        self.target_label = services.telemetry.target_label
        self.budget = RetryBudget(retry.budget_ratio, retry.budget_min_per_second, services.clock)
        self.unexpected = UnexpectedFailures()

    async def __call__(self, ctx: RequestContext, req: GatewayRequest) -> Result:
        route = req.route
        order: Sequence[Target] = route.try_order() if route is not None else req.targets
        deadline = self.clock() + self.retry.deadline if self.retry.deadline else None
        attempts = Attempts(ctx.facts.attempts)
        self.budget.deposit()
        try:
            try:
                if route is not None and route.hedge_after and len(order) > 1:
                    return await self._hedged(ctx, req, order, route.hedge_after, deadline, attempts)
                return await self._walk(ctx, req, order, deadline, attempts)
            except _ContextTooLong as too_long:
                if route is None or not route.context_fallbacks:
                    raise too_long.error from None
            try:
                return await self._walk(ctx, req, route.context_fallbacks, deadline, attempts)
            except _ContextTooLong as still_too_long:
                raise still_too_long.error from None
        except DeadlineExceeded:
            attempts.deadline_passed = True
            return self._give_up(ctx, req, attempts, deadline)
        except _Exhausted:
            return self._give_up(ctx, req, attempts, deadline)

    # -- one target after another ---------------------------------------------------------------

    async def _walk(self, ctx, req, order, deadline, attempts) -> Result:
        for target in order:
            result = await self._target(ctx, req, target, deadline, attempts)
            if result is not None:
                return result
        raise _Exhausted()

    async def _target(self, ctx, req, target: Target, deadline, attempts: Attempts) -> Result | None:
        """Try one target (with retries); None means "move on to the next target"."""
        outcome = attempts.at(target.label)
        provider = target.provider
        try:
            provider.check_request(req)
        except GatewayError as error:
            if not TRAITS[classify(error)].fallback:
                raise
            outcome.error, outcome.skipped = error, "unavailable"
            return None
        except Exception as unforeseen:
            outcome.error, outcome.skipped = self.unexpected.failure(unforeseen, target), "unavailable"
            return None
        # What this target receives (its output cap, the stream usage the edge asked for): one
        # copy, if any, for all its tries, which a pass-through adapter encodes once per call.
        req = req.for_target(target)
        breaker = self.breakers.get(provider.name, target.model) if self.breakers is not None else None
        stats = self.stats.get(target.label)  # looked up once for every try at this target
        for attempt in range(self.retry.attempts):
            if breaker is not None and not breaker.acquire():
                outcome.skipped = outcome.skipped or ("circuit open" if outcome.tries == 0 else None)
                outcome.retry_in = breaker.retry_in()
                return None
            releases: list[Release] = []
            try:
                for gate in self.gates:
                    release = await gate(ctx, req, target)
                    if release is not None:
                        releases.append(release)
            except Exception as refused:
                # A per-target limit said no: like the vendor's own 429, but no call was made.
                if breaker is not None:
                    breaker.release()
                await _run_all(releases)
                if not isinstance(refused, GatewayError):  # the gate itself broke
                    outcome.error, outcome.skipped = self.unexpected.failure(refused, target), "unavailable"
                    return None
                outcome.error, outcome.skipped = refused, outcome.skipped or "limited"
                outcome.retry_in = refused.retry_after or 0.0
                return None
            outcome.tries += 1
            attempts.calls += 1
            ctx.target = target
            call = AttemptRecord(provider.name, target.model, self.target_label(target.label), self.clock(), 0.0)
            attempts.trail.append(call)
            try:
                result = await self._call(ctx, req, target, deadline, stats, breaker)
            except GatewayError as error:
                await _run_all(releases)
                error_class = classify(error)
                call.duration = self.clock() - call.started
                call.error_class, call.status = error_class.value, error.status
                traits = TRAITS[error_class]
                stats.outcome(
                    self.clock(), error.message if traits.counts_for_breaker else None, self.wall_clock()
                )
                if breaker is not None:
                    if traits.counts_for_breaker:
                        breaker.record_failure(error.retry_after)
                    else:
                        breaker.release()
                outcome.error = error
                if error_class is ErrorClass.CONTEXT_LENGTH:
                    raise _ContextTooLong(error) from None
                if not traits.fallback and not traits.retryable:
                    raise
                if not traits.retryable or attempt + 1 >= self.retry.attempts:
                    return None
                wait = self._wait_before_retry(error, attempt, deadline)
                if wait is None:
                    return None
                await self.sleep(wait)
                continue
            except BaseException:
                call.duration = self.clock() - call.started
                call.error_class = "cancelled"
                if breaker is not None:
                    breaker.release()
                await _run_all(releases)
                raise
            call.duration = self.clock() - call.started
            call.status = 200
            stats.outcome(self.clock())
            if releases:
                if isinstance(result, StreamReply):
                    result.on_close_async(functools.partial(_run_all, releases))
                else:
                    await _run_all(releases)
            if breaker is not None and not isinstance(result, StreamReply):
                breaker.record_success()  # a stream's verdict comes at its end (_first_content)
            return result
        return None

    def _wait_before_retry(self, error: GatewayError, attempt: int, deadline: float | None) -> float | None:
        """Seconds to sleep before retrying the same target, or None to fall over instead."""
        if error.retry_after is not None:
            if error.retry_after > self.retry.max_retry_wait:
                return None
            wait = error.retry_after
        else:
            wait = backoff(self.retry, attempt, self.rng)
        if deadline is not None and self.clock() + wait >= deadline:
            return None
        if not self.budget.withdraw():
            return None
        return wait

    # -- one call ---------------------------------------------------------------------------------

    async def _call(self, ctx, req, target: Target, deadline: float | None, stats: TargetStats, breaker) -> Result:
        """One upstream call: a complete reply, or a stream whose first content has arrived (and
        that reports its end to ``breaker``)."""
        provider = target.provider
        stats.started()
        started = self.clock()
        done = False
        try:
            limit = None if deadline is None else deadline - started
            if limit is not None and limit <= 0:
                raise DeadlineExceeded()
            if limit is None:
                # No deadline (the default): skip the timeout scope, it costs on every request.
                result = await provider.senders[req.endpoint](ctx, req, target)
                if isinstance(result, StreamReply):
                    result = await self._first_content(result, req, target, deadline, breaker)
            else:
                result = await self._call_within(ctx, req, target, limit, deadline, breaker)
            ttfb = self.clock() - started
            done = True
            if isinstance(result, StreamReply):
                # A stream stays in flight until it ends; least-busy balancing counts it.
                result.also_on_close(functools.partial(stats.finished, ttfb))
                return result
            stats.finished(ttfb)
            return result
        except (GatewayError, DeadlineExceeded):
            raise
        except Exception as unforeseen:
            # Any failure of one target falls over like a vendor error (asyncio.CancelledError,
            # the client leaving, is no Exception and goes on up).
            raise self.unexpected.failure(unforeseen, target) from None
        finally:
            if not done:
                stats.finished(None)

    async def _call_within(self, ctx, req, target: Target, limit: float, deadline: float, breaker) -> Result:
        provider = target.provider
        scope = asyncio.timeout(limit)
        try:
            async with scope:
                result = await provider.senders[req.endpoint](ctx, req, target)
                if isinstance(result, StreamReply):
                    result = await self._first_content(result, req, target, deadline, breaker)
        except TimeoutError:
            if scope.expired():
                raise DeadlineExceeded() from None
            raise UpstreamTimeout(
                f"provider {provider.name!r} did not answer in time", provider=provider.name, retryable=True
            ) from None
        return result

    async def _first_content(self, reply: StreamReply, req: GatewayRequest, target: Target, deadline,
                             breaker) -> StreamReply:
        """Hold the stream back until its first content event (or its end), then put what was
        held back in front of the rest (``StreamReply.resume``); ``breaker`` hears the verdict
        when the stream ends."""
        provider = target.provider
        limit = provider.first_byte_timeout
        by_deadline = False
        if deadline is not None and deadline - self.clock() < limit:
            limit, by_deadline = max(0.0, deadline - self.clock()), True
        held: list[SSEEvent] = []
        events = reply.events.__aiter__()
        preamble = anthropic_preamble if req.endpoint is Endpoint.MESSAGES else openai_preamble
        loop = self._loop
        if loop is None or not loop.is_running():  # the loop an assembly serves on, found once
            loop = self._loop = asyncio.get_running_loop()
        expiry = Expiry(loop, limit)
        try:
            try:
                async for event in events:
                    held.append(event)
                    if not preamble(event):
                        break
            finally:
                expired = expiry.close()
        except (asyncio.CancelledError, TimeoutError) as stopped:
            await reply.aclose()
            # A cancellation not the expiry's goes on up; a TimeoutError from the read is a
            # vendor that sent nothing in time, as the expiry's is.
            if isinstance(stopped, asyncio.CancelledError) and not expired:
                raise
            if by_deadline:
                raise DeadlineExceeded() from None
            raise UpstreamTimeout(
                f"provider {provider.name!r} sent no content within {limit:g}s",
                provider=provider.name,
                retryable=True,
            ) from None
        except BaseException:
            await reply.aclose()
            raise
        verdict = StreamVerdict(breaker) if breaker is not None else None
        reply.resume(held, events, _StreamEnd(self.unexpected, target, verdict))
        if verdict is not None:
            reply.also_on_close(verdict.abandon)
        return reply

    # -- hedging ---------------------------------------------------------------------------------

    async def _hedged(self, ctx, req, order, hedge_after: float, deadline, attempts: Attempts) -> Result:
        """Start the first target; if it has not answered after ``hedge_after`` seconds (or has
        failed), start the next too. The first answer wins; the others are cancelled."""
        pending: dict[asyncio.Task, Target] = {}
        queue = list(order)
        try:
            while queue or pending:
                if queue:
                    target = queue.pop(0)
                    task = asyncio.ensure_future(self._hedge_one(ctx, req, target, deadline, attempts))
                    pending[task] = target
                done, _ = await asyncio.wait(
                    pending, timeout=hedge_after if queue else None, return_when=asyncio.FIRST_COMPLETED
                )
                for task in done:
                    pending.pop(task)
                    result = task.result()  # client errors propagate; others came back as None
                    if result is not None:
                        ctx.facts.hedged = True
                        return result
            raise _Exhausted()
        finally:
            for task in pending:
                task.cancel()
            for task in pending:
                try:
                    result = await task
                except BaseException:  # a cancelled loser, or one that failed meanwhile
                    continue
                if isinstance(result, StreamReply):
                    await result.aclose()

    async def _hedge_one(self, ctx, req, target, deadline, attempts) -> Result | None:
        # Each hedge gets its own context copy so a loser cannot overwrite the winner's target
        # (the copies share the request's facts and state).
        own = attrs.evolve(ctx)
        result = await self._target(own, req, target, deadline, attempts)
        if result is not None:
            ctx.target = own.target
        return result

    # -- giving up --------------------------------------------------------------------------------

    def _give_up(self, ctx, req: GatewayRequest, attempts: Attempts, deadline: float | None) -> Result:
        error = self._final_error(req, attempts, deadline)
        if self.degrade is not None and error.status >= 500:
            reply = degraded_reply(req, self.degrade.message)
            if reply is not None:
                ctx.facts.degraded = True
                return reply
        raise error

    def _final_error(self, req: GatewayRequest, attempts: Attempts, deadline: float | None) -> GatewayError:
        outcomes = attempts.outcomes
        tried = [o for o in outcomes if o.tries]
        if attempts.deadline_passed:
            return UpstreamTimeout(
                f"no answer within the request deadline of {self.retry.deadline:g}s ({_summary(outcomes)})",
                provider=tried[-1].label.split("/")[0] if tried else "",
                headers={"x-should-retry": "false"},
            )
        if not tried:
            errors = [o.error for o in outcomes if o.error is not None]
            if errors and len(outcomes) == 1:
                return errors[0]  # e.g. the only provider is not configured: its own 503
            open_ = [o for o in outcomes if o.skipped == "circuit open"]
            limited = [o for o in outcomes if o.skipped == "limited"]
            if limited and len(open_) + len(limited) == len(outcomes):
                # Every target refused by an outbound limit (or open): the client should slow
                # down and may try again at the soonest moment one frees up.
                wait = min(o.retry_in for o in open_ + limited)
                return GatewayError(
                    f"every target of {req.model!r} is at its rate limit: {_summary(outcomes)}",
                    status=429,
                    type="requests",
                    code="rate_limit_exceeded",
                    headers={"Retry-After": str(max(1, math.ceil(wait)))},
                    error_class="rate_limit",
                    retry_after=wait,
                )
            wait = min((o.retry_in for o in open_), default=0.0)
            headers = {"Retry-After": str(max(1, math.ceil(wait)))} if open_ else {}
            if open_ and len(open_) == len(outcomes):
                code = "circuit_open"
            elif not open_ and len({error.code for error in errors}) == 1:
                code = errors[0].code  # e.g. every provider is unconfigured
            else:
                code = "no_target_available"
            return GatewayError(
                f"every target of {req.model!r} is unavailable: {_summary(outcomes)}",
                status=503,
                type="server_error",
                code=code,
                headers=headers,
            )
        last = next((o.error for o in reversed(tried) if o.error is not None), None)
        if last is None:  # only a deadline leaves a tried target without an error; handled above
            return UpstreamError(f"no target of {req.model!r} answered", provider="", status=502)
        if len(outcomes) == 1:
            # One target only: its own error says the most. Its SDK must not retry what the
            # gateway already retried.
            if attempts.calls > 1:
                last.headers["x-should-retry"] = "false"
                last.message += f" (after {attempts.calls} tries)"
            return last
        error_class = classify(last)
        status, code = _EXHAUSTED.get(error_class, (502, "upstream_failed"))
        headers = {"x-should-retry": "false"}
        if status == 429 and "Retry-After" in last.headers:
            headers["Retry-After"] = last.headers["Retry-After"]
        return UpstreamError(
            f"all targets of {req.model!r} failed: {_summary(outcomes)}",
            provider=tried[-1].label.split("/")[0],
            status=status,
            code=code,
            headers=headers,
            error_class=error_class,
        )


_EXHAUSTED = {
    ErrorClass.TIMEOUT: (504, "upstream_timeout"),
    ErrorClass.RATE_LIMIT: (429, "rate_limit_exceeded"),
    ErrorClass.QUOTA: (429, "insufficient_quota"),
    ErrorClass.OVERLOADED: (503, "upstream_overloaded"),
}


class _StreamEnd:
    """How a resumed stream's end reaches the router: an unforeseen exception becomes the
    target's failure (a GatewayError, which the edge ends the stream with in band), and the
    breaker gets its verdict."""

    __slots__ = ("unexpected", "target", "verdict")

    def __init__(self, unexpected: UnexpectedFailures, target: Target, verdict: StreamVerdict | None) -> None:
        self.unexpected = unexpected
        self.target = target
        self.verdict = verdict

    def failed(self, error: Exception) -> GatewayError:
        failure = error if isinstance(error, GatewayError) else self.unexpected.failure(error, self.target)
        if self.verdict is not None:
            self.verdict.failed(failure)
        return failure

    def succeeded(self) -> None:
        if self.verdict is not None:
            self.verdict.succeeded()


def _summary(outcomes: list[Outcome]) -> str:
    parts = []
    for outcome in outcomes:
        if outcome.skipped == "circuit open":
            parts.append(f"{outcome.label}: circuit open")
        elif outcome.skipped == "limited" and outcome.error is not None:
            parts.append(f"{outcome.label}: {outcome.error.message}")
        elif outcome.error is not None:
            tries = f" after {outcome.tries} tries" if outcome.tries > 1 else ""
            parts.append(f"{outcome.label}: {outcome.error.message}{tries}")
    return "; ".join(parts) or "no target was tried"


class _Exhausted(Exception):
    pass


class _ContextTooLong(Exception):
    def __init__(self, error: GatewayError) -> None:
        super().__init__(error.message)
        self.error = error
