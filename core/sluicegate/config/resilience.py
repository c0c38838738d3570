"""Config tables of the resilience features: ``[retry]``, ``[breaker]`` and ``[degrade]``."""

from __future__ import annotations

from attrs import define, field

from sluicegate.config.checks import at_least_one, non_negative, optional_positive, positive, probability


@define(kw_only=True)
class RetryConfig:
    """``[retry]``: tries per target and how long to wait between them. Runs without a table."""

    # Tries per target, the first included (1 = no retries).
    attempts: int = field(default=3, validator=at_least_one)
    # Full-jitter exponential backoff: wait uniform(0, min(backoff_max, backoff_base * 2**n)).
    backoff_base: float = field(default=0.5, validator=non_negative)
    # Upper bound of one backoff wait, in seconds.
    backoff_max: float = field(default=8.0, validator=non_negative)
    # A vendor's Retry-After longer than this (seconds) falls over to the next target instead.
    max_retry_wait: float = field(default=30.0, validator=non_negative)
    # Seconds for the whole request, every retry and fallback included; unset = no overall cap.
    deadline: float | None = field(default=None, validator=optional_positive)
    # Retry budget: retries may add at most this share of first tries (plus budget_min_per_second),
    # so an outage cannot multiply upstream load.
    budget_ratio: float = field(default=0.2, validator=non_negative)
    # Retries always allowed per second, whatever the ratio says.
    budget_min_per_second: float = field(default=1.0, validator=non_negative)


@define(kw_only=True)
class BreakerOptions:
    """``[breaker]`` for the default ``consecutive`` policy; other policies subclass it."""

    # The breaker policy plugin: "consecutive" (built in) or "redis" (sluicegate-redis).
    policy: str = "consecutive"
    # false: failures are not counted, so no breaker ever opens.
    enabled: bool = True
    # Consecutive failures (of classes that count) that open a (provider, model) target.
    failure_threshold: int = field(default=5, validator=at_least_one)
    # Seconds open before half-open admits probes; a 429's Retry-After may lengthen it.
    cooldown: float = field(default=30.0, validator=non_negative)
    # Longest cooldown a Retry-After may stretch it to, in seconds.
    max_cooldown: float = field(default=300.0, validator=non_negative)
    # Concurrent probe calls admitted while half-open.
    half_open_probes: int = field(default=1, validator=at_least_one)
    # Optional: also open when the failure share over the last `window` seconds reaches
    # failure_rate, once at least min_calls calls were seen in that window.
    failure_rate: float | None = field(default=None, validator=lambda i, a, v: v is None or probability(i, a, v))
    # Seconds of history the failure rate is measured over.
    window: float = field(default=60.0, validator=positive)
    # Calls the window must hold before the failure rate can open a breaker.
    min_calls: int = field(default=20, validator=at_least_one)


@define(kw_only=True)
class DegradeConfig:
    """``[degrade]``: when every target failed, answer with this message (marked by a header)."""

    # false keeps the table but answers failures as errors.
    enabled: bool = True
    # The completion text sent (with x-sluicegate-degraded: true) when every target failed with a 5xx.
    message: str = "The service is temporarily unavailable. Please try again later."
