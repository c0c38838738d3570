"""Rate limits (``[ratelimit]``): per client, per requested model, and per provider (outbound).

Every limit is a GCRA bucket in a ``RateLimiter`` backend (``memory`` built in, ``redis`` from
sluicegate-redis): ``requests_per_minute`` refills at rpm/60 per second up to a burst of a full
minute's worth, ``tokens_per_minute`` likewise with tokens. ``concurrency`` counts requests in
flight and refuses at once rather than queueing.

Token limits cannot know a request's cost before the answer, so admission reserves an estimate
(:func:`estimate_prompt_tokens` plus the completion allowance) and the answer settles it with
the vendor's reported usage, or with what a stream delivered when it reports none or the
client left early. A failed request gives its tokens back (it still counts as a request).

Limiter failures (Redis down) never fail a request: the call is let through ("fail open") and
a warning is logged at most once a minute.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from attrs import Factory, define, field

from sluicegate.config.checks import at_least_one, positive
from sluicegate.config.converter import suggest
from sluicegate.contracts import Decision, RateLimiter
from sluicegate.errors import ConfigError, ConfigProblem, GatewayError
from sluicegate.exchange import COUNTING, GatewayRequest, RequestContext, StateKey, StreamReply
from sluicegate.features.token_usage import completion_allowance, estimate_prompt_tokens, reply_tokens
from sluicegate.hookspecs import hookimpl
from sluicegate.pipeline import Order
from sluicegate.plugin_options import FeatureOptions
from sluicegate.registry import RATE_LIMITER
from sluicegate.secrets import config_secrets, scrub

REQUESTS = "requests"
TOKENS = "tokens"
#: The client name when the gateway is open (no ``[auth] tokens``): everyone shares one budget.
ANONYMOUS = "anonymous"
# The gateway limit that refused a request goes to ``RequestFacts.limited``, and from there to
# the request record (``RequestRecord.limited``, the ``scope`` label of
# ``sluicegate_ratelimit_rejections_total``): "client" or "model" (a per-minute budget),
# "concurrency" (the client's in-flight slots) or "provider" (a provider's limits refused a
# target; the request may still succeed on another).
#: Seconds between two warnings about a failing limiter.
WARN_EVERY = 60.0
#: Seconds a refused client is told to wait for a concurrency slot (no one knows when one frees).
BUSY_RETRY_AFTER = 1.0
BUSY_CODE = "concurrency_limit_exceeded"


def _optional_at_least_one(instance: Any, attribute: Any, value: int | None) -> None:
    if value is not None:
        at_least_one(instance, attribute, value)


@define(kw_only=True)
class ModelLimits:
    """``[ratelimit.models.<requested model>]``: shared by every client asking for that model."""

    # Requests a minute (a full minute's worth may come in one burst).
    requests_per_minute: int | None = field(default=None, validator=_optional_at_least_one)
    # Estimated tokens a minute, reconciled with the vendor's usage.
    tokens_per_minute: int | None = field(default=None, validator=_optional_at_least_one)


@define(kw_only=True)
class ProviderLimits(ModelLimits):
    """``[ratelimit.providers.<provider id>]``: outbound, counted per upstream call."""

    # Upstream calls to this provider in flight at once.
    concurrency: int | None = field(default=None, validator=_optional_at_least_one)


@define(kw_only=True)
class RateLimitOptions(FeatureOptions):
    """The ``[ratelimit]`` table; the top-level limits apply to each client token separately."""

    # The limiter plugin: "memory" (built in, per process) or "redis" (sluicegate-redis, shared).
    backend: str = "memory"
    # Per client token: requests a minute (a full minute's worth may come in one burst).
    requests_per_minute: int | None = field(default=None, validator=_optional_at_least_one)
    # Per client token: estimated tokens a minute, reconciled with the vendor's usage.
    tokens_per_minute: int | None = field(default=None, validator=_optional_at_least_one)
    # Per client token: requests in flight at once (a 429 beyond, no queue).
    concurrency: int | None = field(default=None, validator=_optional_at_least_one)
    # An in-flight slot whose release never came (a crashed process) expires after this long.
    concurrency_ttl: float = field(default=600.0, validator=positive)
    # The completion allowance reserved when a request names no max_tokens.
    default_max_tokens: int = field(default=1024, validator=at_least_one)
    # Per requested model, all clients together: [ratelimit.models.<model>].
    models: dict[str, ModelLimits] = Factory(dict)
    # Outbound, per provider, checked before every upstream call: [ratelimit.providers.<id>].
    providers: dict[str, ProviderLimits] = Factory(dict)




def format_duration(seconds: float) -> str:
    """OpenAI's ``x-ratelimit-reset-*`` format: "0s", "120ms", "1s", "1.5s", "6m0s", "1h0m0s"."""
    ms = round(seconds * 1000)
    if ms <= 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    text = f"{rest / 1000:.3f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    if minutes:
        return f"{minutes}m{text}"
    return text


def retry_after_header(seconds: float) -> str:
    """Whole seconds, rounded up (a client waiting less would be refused again), at least 1."""
    return str(max(1, math.ceil(round(seconds, 6))))


# -- the limits, resolved once per assembly ------------------------------------------------------


@define(frozen=True, slots=True)
class Bucket:
    """One configured GCRA limit and the names it is reported under."""

    kind: str  # REQUESTS or TOKENS
    key: str  # the full key (models, providers) or the suffix after the client's name
    per_minute: int
    rate: float  # per second
    burst: float  # a full minute's worth
    limit_text: str
    header_limit: str
    header_remaining: str
    header_reset: str


def _bucket(kind: str, key: str, per_minute: int | None) -> Bucket | None:
    if per_minute is None:
        return None
    return Bucket(
        kind, key, per_minute, per_minute / 60.0, float(per_minute), str(per_minute),
        f"x-ratelimit-limit-{kind}", f"x-ratelimit-remaining-{kind}", f"x-ratelimit-reset-{kind}",
    )


@define(frozen=True, slots=True)
class Scope:
    """The limits of one client (any), model or provider."""

    owner: str  # for messages: "this client", "model 'x'", "provider 'y'"
    buckets: tuple[Bucket, ...]  # requests first: a refused request spends no tokens
    concurrency: int | None
    slots_key: str  # full key, or the suffix after the client's name
    tokens: Bucket | None

    @classmethod
    def build(cls, owner: str, stem: str, limits: Any, concurrency: int | None = None) -> Scope:
        requests = _bucket(REQUESTS, f"{stem}:requests", limits.requests_per_minute)
        tokens = _bucket(TOKENS, f"{stem}:tokens", limits.tokens_per_minute)
        buckets = tuple(b for b in (requests, tokens) if b is not None)
        return cls(owner, buckets, concurrency, f"{stem}:concurrency", tokens)

    @property
    def active(self) -> bool:
        return bool(self.buckets) or self.concurrency is not None


# -- per request --------------------------------------------------------------------------------


class Ticket:
    """What one request holds: charges to settle or give back, slots to leave."""

    __slots__ = ("prompt", "estimate", "spent", "slots", "leases", "settled")

    def __init__(self, prompt: int, estimate: int) -> None:
        self.prompt = prompt
        self.estimate = estimate
        self.spent: list[tuple[str, float, Bucket]] = []  # (key, cost, bucket)
        self.slots: list[str] = []
        self.leases: list[Lease] = []  # provider token charges, one per upstream call
        self.settled = False


class Lease:
    """A provider's token charge for one upstream call, settled when the request ends."""

    __slots__ = ("label", "key", "cost", "bucket")

    def __init__(self, label: str, key: str, cost: float, bucket: Bucket) -> None:
        self.label, self.key, self.cost, self.bucket = label, key, cost, bucket


#: Where the middleware leaves a request's reservations for ``gate_target``.
TICKET: StateKey[Ticket] = StateKey("sluicegate.ratelimit.ticket")


class RateLimit:
    """The ``ratelimit`` middleware (Order.ADMIT): admits, reserves, settles, reports."""

    def __init__(
        self,
        limiter: RateLimiter,
        client: Scope,
        models: dict[str, Scope],
        providers: dict[str, Scope],
        options: RateLimitOptions,
        services: Any,
    ) -> None:
        self.limiter = limiter
        self.client = client
        self.models = models
        self.providers = providers
        self.ttl = options.concurrency_ttl
        self.default_max_tokens = options.default_max_tokens
        self.backend = options.backend
        # Whatever secret the chosen backend's keys hold (a Redis URL's password).
        self.secrets = config_secrets(options)
        self.clock = services.clock
        self.log = services.log
        self._quiet_until = -math.inf
        # Provider token limits need each request's estimate and a place for their leases.
        self.provider_tokens = any(scope.tokens is not None for scope in providers.values())
        self.every_request = client.active or self.provider_tokens

    async def __call__(self, ctx: RequestContext, req: GatewayRequest, call_next) -> Any:
        if req.endpoint in COUNTING:
            # Counting generates nothing, and Anthropic and Google limit it apart from generation.
            return await call_next(ctx, req)
        model = self.models.get(req.model)
        if model is None and req.route is not None:
            # A glob alias's limit ([ratelimit.models."claude-*"]) covers every name it matched.
            model = self.models.get(req.route.name)
        if model is None and not self.every_request:
            return await call_next(ctx, req)
        if self.client.tokens is not None or self.provider_tokens or (model is not None and model.tokens is not None):
            prompt = estimate_prompt_tokens(req.wire)
            ticket = Ticket(prompt, prompt + completion_allowance(req, self.default_max_tokens))
        else:
            ticket = Ticket(0, 0)
        shown: dict[str, tuple[Bucket, float, float]] = {}
        tenant = ctx.tenant or ANONYMOUS
        scope = "client"
        try:
            await self._admit(ticket, self.client, f"rl:client:{tenant}", shown)
            scope = "model"
            if model is not None:
                await self._admit(ticket, model, "", shown)
        except GatewayError as refused:  # _admit raises only its own refusals (limiters fail open)
            ctx.facts.limited = "concurrency" if refused.code == BUSY_CODE else scope
            raise
        if shown:
            ctx.response_headers.update(_rate_headers(shown))
        if self.provider_tokens:
            ctx.state[TICKET] = ticket
        try:
            result = await call_next(ctx, req)
        except BaseException:
            # A failed request costs its request, not its tokens: every reservation goes back.
            await self._keep_winner(ticket, None)
            await self._settle(ticket, 0)
            raise
        if ticket.leases:
            await self._keep_winner(ticket, ctx.target)
        # Only token charges need the answer's usage; without them a stream is not even metered.
        counted = bool(ticket.leases) or any(bucket.kind is TOKENS for _, _, bucket in ticket.spent)
        if isinstance(result, StreamReply):
            if not counted:
                result.on_close_async(functools.partial(self._settle, ticket, None))
                return result
            # The request's one stream observer reads the usage (or counts what was sent).
            meter = ctx.observe(result, hide_usage=req.stream_usage, count_content=True)

            async def settle() -> None:
                await self._settle(ticket, meter.tokens(ticket.prompt))

            result.on_close_async(settle)
            return result
        used = reply_tokens(result, ticket.prompt) if counted else None
        decision = await self._settle(ticket, used)
        if decision is not None:
            # The answer is not sent yet: report the budget as settled, not as reserved.
            bucket = self.client.tokens
            ctx.response_headers.update(_rate_headers({TOKENS: (bucket, decision.remaining, decision.reset_after)}))
        return result

    # -- admission -------------------------------------------------------------------------------

    async def _admit(self, ticket: Ticket, scope: Scope, prefix: str, shown: dict) -> None:
        """Take a slot and spend from each bucket of ``scope``; on a refusal give back everything
        the request took so far and raise the 429. ``prefix`` names the client ('' otherwise)."""
        if scope.concurrency is not None:
            key = prefix + scope.slots_key
            entered = await self._enter(key, scope.concurrency)
            if entered is False:
                await self._rollback(ticket.spent, ticket.slots, shown)
                raise _busy(scope)
            if entered:
                ticket.slots.append(key)
        for bucket in scope.buckets:
            key = prefix + bucket.key
            cost = 1.0 if bucket.kind is REQUESTS else min(float(ticket.estimate), bucket.burst)
            decision = await self._acquire(key, cost, bucket)
            if decision is None:
                continue
            if not decision.allowed:
                await self._rollback(ticket.spent, ticket.slots, shown)
                shown[bucket.kind] = (bucket, decision.remaining, decision.reset_after)
                raise _refusal(scope, bucket, decision, cost, _rate_headers(shown))
            ticket.spent.append((key, cost, bucket))
            if prefix:  # successful responses report the client's own limits
                shown[bucket.kind] = (bucket, decision.remaining, decision.reset_after)

    async def _rollback(self, spent: list, slots: list[str], shown: dict) -> None:
        for key, cost, bucket in spent:
            await self._acquire(key, -cost, bucket)
            entry = shown.get(bucket.kind)
            if entry is not None and entry[0] is bucket:
                # Shown as it is after the give-back.
                shown[bucket.kind] = (bucket, min(bucket.burst, entry[1] + cost),
                                      max(0.0, entry[2] - cost / bucket.rate))
        spent.clear()
        for key in slots:
            await self._leave(key)
        slots.clear()

    # -- settling --------------------------------------------------------------------------------

    async def _keep_winner(self, ticket: Ticket, target: Any) -> None:
        """Give back the token charges of upstream calls that failed; keep the one that answered."""
        leases, ticket.leases = ticket.leases, []
        label = target.label if target is not None else None
        winner = next((lease for lease in reversed(leases) if lease.label == label), None)
        for lease in leases:
            if lease is not winner:
                await self._acquire(lease.key, -lease.cost, lease.bucket)
        if winner is not None:
            ticket.leases.append(winner)

    async def _settle(self, ticket: Ticket, used: float | None) -> Decision | None:
        """Free the request's slots and charge its tokens what they really were (``None``: the
        estimate stands). Returns the client's tokens decision, for the headers."""
        if ticket.settled:
            return None
        ticket.settled = True
        for key in ticket.slots:
            await self._leave(key)
        if used is None:
            return None
        shown = None
        client_tokens = self.client.tokens
        for key, cost, bucket in ticket.spent:
            if bucket.kind is TOKENS:
                decision = await self._charge(key, used - cost, bucket)
                if bucket is client_tokens:
                    shown = decision
        for lease in ticket.leases:
            await self._charge(lease.key, used - lease.cost, lease.bucket)
        return shown

    async def _charge(self, key: str, delta: float, bucket: Bucket) -> Decision | None:
        if not delta:
            return None
        decision = await self._acquire(key, delta, bucket)
        if decision is not None and not decision.allowed and decision.remaining >= 1:
            # The tokens were really used; a limiter spends nothing on a no, so spend what fits.
            decision = await self._acquire(key, math.floor(decision.remaining), bucket)
        return decision

    # -- the limiter, failing open ------------------------------------------------------------------

    async def _acquire(self, key: str, cost: float, bucket: Bucket) -> Decision | None:
        try:
            return await self.limiter.acquire(key, cost, bucket.rate, bucket.burst)
        except Exception as exc:  # a broken limiter must not break requests: let them through
            self._failed(exc)
            return None

    async def _enter(self, key: str, limit: int) -> bool | None:
        try:
            return await self.limiter.enter(key, limit, self.ttl)
        except Exception as exc:
            self._failed(exc)
            # Unknown whether a slot was taken: never leave it (its TTL frees it) rather than
            # risk freeing someone else's.
            return None

    async def _leave(self, key: str) -> None:
        try:
            await self.limiter.leave(key)
        except Exception as exc:
            self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        now = self.clock()
        if now < self._quiet_until:
            return
        self._quiet_until = now + WARN_EVERY
        self.log.warning(
            "rate limiter %r failed (%s: %s); requests are let through unlimited meanwhile (fail open)",
            self.backend, type(exc).__name__, scrub(str(exc), self.secrets),
        )

    async def aclose(self) -> None:
        await self.limiter.aclose()


class GatedRateLimit(RateLimit):
    """The middleware when provider limits exist: also gates each upstream call."""

    async def gate_target(self, ctx: RequestContext, req: GatewayRequest, target: Any):
        scope = self.providers.get(target.provider.name)
        if scope is None or req.endpoint in COUNTING:
            return None
        slot = None
        if scope.concurrency is not None:
            entered = await self._enter(scope.slots_key, scope.concurrency)
            if entered is False:
                ctx.facts.limited = "provider"
                raise _busy(scope)
            if entered:
                slot = scope.slots_key
        ticket = ctx.state.get(TICKET)
        spent: list[tuple[str, float, Bucket]] = []
        for bucket in scope.buckets:
            if bucket.kind is REQUESTS:
                cost = 1.0
            else:
                # Without the middleware's ticket (a request it let through untouched): estimate
                # anew (and that charge then stands unsettled).
                estimate = ticket.estimate if ticket is not None else (
                    estimate_prompt_tokens(req.wire) + completion_allowance(req, self.default_max_tokens))
                cost = min(float(estimate), bucket.burst)
            decision = await self._acquire(bucket.key, cost, bucket)
            if decision is None:
                continue
            if not decision.allowed:
                await self._rollback(spent, [slot] if slot else [], {})
                headers = _rate_headers({bucket.kind: (bucket, decision.remaining, decision.reset_after)})
                ctx.facts.limited = "provider"
                raise _refusal(scope, bucket, decision, cost, headers)
            spent.append((bucket.key, cost, bucket))
            if bucket.kind is TOKENS and ticket is not None:
                ticket.leases.append(Lease(target.label, bucket.key, cost, bucket))
        if slot is None:
            return None
        return functools.partial(self._leave, slot)


def _rate_headers(shown: dict[str, tuple[Bucket, float, float]]) -> dict[str, str]:
    headers = {}
    for bucket, remaining, reset_after in shown.values():
        headers[bucket.header_limit] = bucket.limit_text
        headers[bucket.header_remaining] = str(max(0, math.floor(remaining + 1e-6)))
        headers[bucket.header_reset] = format_duration(reset_after)
    return headers


def _refusal(scope: Scope, bucket: Bucket, decision: Decision, cost: float, headers: dict[str, str]) -> GatewayError:
    wait = decision.retry_after
    if bucket.kind is REQUESTS:
        what = f"requests per minute (RPM): Limit {bucket.per_minute}"
    else:
        what = f"tokens per minute (TPM): Limit {bucket.per_minute}, Requested {math.ceil(cost)}"
    headers["Retry-After"] = retry_after_header(wait)
    return GatewayError(
        f"Rate limit reached for {scope.owner} on {what}. Please try again in {format_duration(wait)}.",
        status=429, type=bucket.kind, code="rate_limit_exceeded", error_class="rate_limit",
        retry_after=wait, headers=headers,
    )


def _busy(scope: Scope) -> GatewayError:
    return GatewayError(
        f"Too many concurrent requests for {scope.owner}: Limit {scope.concurrency}. "
        "Please try again when one has finished.",
        status=429, type=REQUESTS, code=BUSY_CODE, error_class="rate_limit",
        retry_after=BUSY_RETRY_AFTER, headers={"Retry-After": retry_after_header(BUSY_RETRY_AFTER)},
    )


def make_ratelimit(*, options: RateLimitOptions, services: Any) -> RateLimit | None:
    """Factory of the ``ratelimit`` middleware: resolve every limit and the backend once."""
    problems: list[ConfigProblem] = []
    registry = services.registry
    component = registry.get(RATE_LIMITER, options.backend) if registry is not None else None
    if component is None:
        installed = sorted(registry.of_kind(RATE_LIMITER)) if registry is not None else []
        problems.append(ConfigProblem(
            "backend",
            f"unknown rate-limiter backend {options.backend!r}{suggest(options.backend, installed)}; "
            f"installed backends: {', '.join(installed) or 'none'}",
        ))
    known = getattr(services.config, "providers", None)
    if known is not None:
        for provider_id in options.providers:
            if provider_id not in known:
                problems.append(ConfigProblem(
                    f"providers.{provider_id}", f"unknown provider {provider_id!r}{suggest(provider_id, known)}"))
    if problems:
        raise ConfigError(problems)
    client = Scope.build("this client", "", options, options.concurrency)
    models = {name: Scope.build(f"model {name!r}", f"rl:model:{name}", limits)
              for name, limits in options.models.items()}
    providers = {name: Scope.build(f"provider {name!r}", f"rl:provider:{name}", limits, limits.concurrency)
                 for name, limits in options.providers.items()}
    models = {name: scope for name, scope in models.items() if scope.active}
    providers = {name: scope for name, scope in providers.items() if scope.active}
    if not (client.active or models or providers):
        return None  # a table with no limits: stay out of the chain
    limiter = services.build(component, options)
    if limiter is None:
        return None  # the backend left itself out: so do the limits
    cls = GatedRateLimit if providers else RateLimit
    return cls(limiter, client, models, providers, options, services)


# The default plugin ``sluicegate.ratelimit``: this middleware, on when [ratelimit] is present.
@hookimpl
def register_middlewares(register):
    register("ratelimit", make_ratelimit, options=RateLimitOptions, order=Order.ADMIT)
