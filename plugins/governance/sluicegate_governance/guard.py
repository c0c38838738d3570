"""The ``governance`` middleware: what an issued key may call, its limits, and its budget.

Admission reserves the most the request can cost (its prompt estimate and completion allowance
at the highest price among its targets) on the key's and the team's budgets at once; the
``store`` extension settles the reservation with the real cost when the request finishes.
Requests authenticated another way (``[auth]`` tokens) pass untouched.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from attrs import define

from sluicegate.errors import GatewayError, PermissionDenied
from sluicegate.exchange import COUNTING, GatewayRequest, RequestContext, RequestFacts, Target
from sluicegate.extensions.pricing import Price, Pricing
from sluicegate.features.token_usage import completion_allowance, estimate_prompt_tokens
from sluicegate.pipeline import Order
from sluicegate_governance.counters import SLACK, Bound, Held
from sluicegate_governance.keycache import Grant
from sluicegate_governance.limits import KeyLimits, LimitHold
from sluicegate_governance.periods import claims_for
from sluicegate_governance.protocols import Admission, Claim, SpendCounters

#: Before the gateway's own rate limits and the cache: a key's refusal costs nothing else.
ORDER = Order.EDGE + 50
#: Seconds an unsettled reservation holds budget (its instance died before the answer ended).
RESERVATION_TTL = 900.0
#: Keys whose claims are remembered at most; past it the memory starts over.
MAX_REMEMBERED = 100_000


@define(slots=True)
class Reservation:
    """What one request holds until it finishes: budget reserved and limit slots taken."""

    claims: list[Claim]
    ticket: str | None
    estimate: float
    prompt_tokens: int
    hold: LimitHold | None
    # The request's facts: a stream cut short before its usage settles what its observer
    # counted (``facts.stream``), the one the stream writer feeds.
    facts: RequestFacts
    # Made through the counters' ``Bound`` (in-memory counters): settled through it, in place.
    bound: Bound | None = None
    held: Held | None = None


#: What a request that spends nothing (a token count) claims.
_NO_CLAIMS: tuple = (None, [], math.inf, None)


class Guard:
    def __init__(self, counters: SpendCounters, limits: KeyLimits, pricing: Pricing | None,
                 pending: dict[str, Reservation], *, default_max_tokens: int,
                 reserve_max_tokens: int | None = None, wall_clock: Callable[[], float]) -> None:
        self.counters = counters
        self.limits = limits
        self.pricing = pricing
        self.pending = pending
        self.default_max_tokens = default_max_tokens
        # The most completion tokens a reservation counts ([store] reserve_max_tokens); inf: all.
        self.reserve_cap = math.inf if reserve_max_tokens is None else reserve_max_tokens
        self.wall_clock = wall_clock
        # key id -> (the grant, its claims, when the first of their periods ends, the claims
        # bound to their counters): calendar arithmetic and counter lookups once per key and
        # period, not per request.
        self._claims: dict[str, tuple[Grant, list[Claim], float, Bound | None]] = {}
        # In-memory counters reserve without awaiting, through a ``Bound`` per key and period.
        self._bind = getattr(counters, "bind", None)
        # id(targets) -> (the targets, their prices): a route's prices looked up once, not per request.
        self._prices: dict[int, tuple[tuple[Target, ...], tuple[Price, ...]]] = {}

    def claims(self, grant: Grant, now: float) -> list[Claim]:
        return self._entry(grant, now)[1]

    def _entry(self, grant: Grant, now: float) -> tuple[Grant, list[Claim], float, Bound | None]:
        entry = self._claims.get(grant.key.id)
        if entry is not None and entry[0] is grant and now < entry[2]:
            return entry
        claims = claims_for(grant.key, grant.team, now)
        until = min((claim.period_end for claim in claims if claim.period_end is not None), default=math.inf)
        if len(self._claims) >= MAX_REMEMBERED:
            self._claims.clear()
        bound = self._bind(claims) if self._bind is not None and claims else None
        entry = self._claims[grant.key.id] = (grant, claims, until, bound)
        return entry

    def __call__(self, ctx: RequestContext, req: GatewayRequest, call_next) -> Awaitable[Any]:
        """Admit the request, reserving its most on the key's and team's budgets, and return
        the rest of the chain's awaitable: the reservation is filed before the call (the
        ``store`` extension settles it when the request finishes, failed or not), so this
        middleware needs nothing of the answer and, for keys without RPM/TPM/concurrency
        limits on in-memory counters, is no coroutine in the chain at all."""
        identity = ctx.identity
        grant = identity.grant if identity is not None else None
        if not isinstance(grant, Grant):
            return call_next(ctx, req)
        if not grant.any_model and not grant.allows(req.model):
            raise PermissionDenied(
                f"This API key may not call model {req.model!r}.", code="model_not_allowed",
                headers={"x-should-retry": "false"})
        if grant.limited or self._bind is None:
            return self._admit(ctx, req, call_next, grant)  # the limiter or Redis counters await
        if req.endpoint in COUNTING:
            return call_next(ctx, req)  # a token count spends nothing
        now = self.wall_clock()
        entry = self._claims.get(grant.key.id)
        if entry is None or entry[0] is not grant or now >= entry[2]:  # _entry's test, without its call
            entry = self._entry(grant, now)
        _, claims, _, bound = entry
        if bound is None:
            return call_next(ctx, req)  # no budget on the key or its team
        prompt = estimate_prompt_tokens(req.wire)
        completion = completion_allowance(req, self.default_max_tokens)
        estimate = self.estimate(req, prompt, completion if completion <= self.reserve_cap else self.reserve_cap)
        held = bound.reserve(estimate, RESERVATION_TTL)
        if type(held) is Admission:
            raise budget_exceeded(held, estimate)
        facts = ctx.facts
        facts.count_content = True
        # Positional: attrs' __init__ with keywords costs a dict per call.
        self.pending[ctx.request_id] = Reservation(claims, None, estimate, prompt, None, facts, bound, held)
        return call_next(ctx, req)

    async def _admit(self, ctx: RequestContext, req: GatewayRequest, call_next, grant: Grant) -> Any:
        """``__call__`` for a key with limits (the limiter may wait) or with counters that
        reserve by a call (Redis)."""
        generating = req.endpoint not in COUNTING
        if generating:
            _, claims, _, bound = self._entry(grant, self.wall_clock())
        else:
            _, claims, _, bound = _NO_CLAIMS
        prompt = estimate_prompt_tokens(req.wire) if generating else 0
        tokens = prompt + completion_allowance(req, self.default_max_tokens)
        hold = await self.limits.admit(grant, tokens if generating else 0) if grant.limited else None
        reservation = None
        try:
            reserved = min(tokens - prompt, self.reserve_cap)
            if bound is not None:
                estimate = self.estimate(req, prompt, reserved)
                held = bound.reserve(estimate, RESERVATION_TTL)
                if type(held) is Admission:
                    raise budget_exceeded(held, estimate)
                reservation = Reservation(claims, None, estimate, prompt, hold, ctx.facts, bound, held)
            elif claims:
                estimate = self.estimate(req, prompt, reserved)
                admission = await self.counters.reserve(claims, estimate, ttl=RESERVATION_TTL)
                if not admission.admitted:
                    raise budget_exceeded(admission, estimate)
                reservation = Reservation(claims, admission.ticket, estimate, prompt, hold, ctx.facts)
            elif hold is not None:
                reservation = Reservation([], None, 0.0, prompt, hold, ctx.facts)
        except BaseException:
            # Refused (or cancelled) before anything was filed: the limiter's slot goes back.
            if hold is not None:
                await self.limits.release(hold, 0)
            raise
        if reservation is not None:
            ctx.facts.count_content = True
            self.pending[ctx.request_id] = reservation
        return await call_next(ctx, req)

    def estimate(self, req: GatewayRequest, prompt: int, completion: int) -> float:
        """The most this request can cost: the dearest of its targets' prices."""
        targets = req.targets
        known = self._prices.get(id(targets))
        if known is None or known[0] is not targets:
            known = self._priced(targets)
        prices = known[1]
        if len(prices) == 1:  # one priced target (most routes): no loop
            price = prices[0]
            return (prompt * price.input + completion * price.output) / 1e6
        dearest = 0.0
        for price in prices:
            cost = prompt * price.input + completion * price.output
            if cost > dearest:
                dearest = cost
        return dearest / 1e6

    def _priced(self, targets: tuple[Target, ...]) -> tuple[tuple[Target, ...], tuple[Price, ...]]:
        """The prices of ``targets``, remembered by the tuple (routes keep theirs for good; the
        tuple is kept with them, so its id cannot be reused while remembered)."""
        pricing = self.pricing
        found = (pricing.price_of(target.provider.name, target.model) for target in targets) if pricing else ()
        if len(self._prices) >= MAX_REMEMBERED:
            self._prices.clear()
        known = self._prices[id(targets)] = (targets, tuple(price for price in found if price is not None))
        return known


def budget_exceeded(admission: Admission, estimate: float) -> GatewayError:
    """The refusal of a request ``estimate`` (its most) did not fit. A budget with something left
    says why this request does not fit it: agents ask for large ``max_tokens`` (tens of
    thousands), whose reservation can pass what is left long before it is spent."""
    claim = admission.refused_by
    assert claim is not None
    whose = "team" if claim.name.startswith("team:") else "key"
    if claim.period_end is None:
        when = "It does not renew."
    else:
        when = "It renews at " + time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(claim.period_end)) + "."
    standing = f"({admission.spent:.6g} spent, {admission.reserved:.6g} in flight)"
    left = claim.limit - admission.spent - admission.reserved
    if left > SLACK:
        message = (f"This request may cost up to {estimate:.6g} (its prompt and the most it may generate, at "
                   f"the model's price), more than the {left:.6g} left of this {whose}'s budget of "
                   f"{claim.limit:g} {standing}. A smaller max_tokens may fit. {when}")
    else:
        message = f"This {whose}'s budget of {claim.limit:g} is spent {standing}. {when}"
    return GatewayError(message, status=429, type="insufficient_quota", code="budget_exceeded",
                        headers={"x-should-retry": "false"})
