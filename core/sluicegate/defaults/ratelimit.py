"""Default plugin: the ``ratelimit`` middleware (``[ratelimit]``) and the ``memory`` limiter backend."""

from __future__ import annotations

from sluicegate.features.memory_limiter import make_memory_limiter
from sluicegate.features.ratelimit import RateLimitOptions, make_ratelimit
from sluicegate.hookspecs import hookimpl
from sluicegate.pipeline import Order


@hookimpl
def register_middlewares(register):
    register("ratelimit", make_ratelimit, options=RateLimitOptions, order=Order.ADMIT)


@hookimpl
def register_rate_limiters(register):
    # The backend gets the [ratelimit] options themselves: no table of its own.
    register("memory", make_memory_limiter)
