"""A rate limiter, chosen by ``[ratelimit] backend = "unlimited"``: allows everything (a
staging gateway that keeps the table for its headers and metrics but never refuses)."""

from sluicegate import hookimpl
from sluicegate.contracts import Decision


class Unlimited:
    async def acquire(self, key, cost, rate, burst):
        return Decision(allowed=True, limit=burst, remaining=burst, retry_after=0.0, reset_after=0.0)

    async def enter(self, key, limit, ttl):
        return True

    async def leave(self, key):
        return None

    async def aclose(self):
        return None


@hookimpl
def register_rate_limiters(register):
    register("unlimited", lambda options, services: Unlimited())
