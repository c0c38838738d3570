"""A circuit-breaker policy, chosen by ``[breaker] policy = "never"``: every target stays
closed (for a single-vendor setup where skipping the vendor helps no one)."""

from sluicegate import hookimpl
from sluicegate.config.resilience import BreakerOptions


class ClosedBreaker:
    def acquire(self):
        return True

    def record_success(self):
        pass

    def record_failure(self, retry_after):
        pass

    def release(self):
        pass

    def retry_in(self):
        return 0.0

    def snapshot(self):
        return {"state": "closed"}


class NeverBoard:
    def __init__(self):
        self.breaker = ClosedBreaker()  # one object will do: it keeps no state

    def get(self, provider, model):
        return self.breaker

    def snapshot(self):
        return {}


@hookimpl
def register_breaker_policies(register):
    register("never", lambda options, services: NeverBoard(), options=BreakerOptions)
