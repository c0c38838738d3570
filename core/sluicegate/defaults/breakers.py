"""Default plugin: the ``consecutive`` circuit-breaker policy (``[breaker] policy = "consecutive"``)."""

from __future__ import annotations

from sluicegate.config.resilience import BreakerOptions
from sluicegate.hookspecs import hookimpl
from sluicegate.resilience.breaker import BreakerBoard
from sluicegate.services import Services


def make_board(*, options: BreakerOptions, services: Services) -> BreakerBoard:
    return BreakerBoard(options, services.clock, services.telemetry.breaker_changed)


@hookimpl
def register_breaker_policies(register):
    register("consecutive", make_board, options=BreakerOptions)
