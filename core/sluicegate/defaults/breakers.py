"""Default plugin: the ``consecutive`` circuit-breaker policy (``[breaker] policy = "consecutive"``)."""

from __future__ import annotations

from sluicegate.config.resilience import BreakerOptions
from sluicegate.hookspecs import hookimpl
from sluicegate.resilience.breaker import BreakerBoard
from sluicegate.services import Services


def make_board(*, options: BreakerOptions, services: Services) -> BreakerBoard:
    # The targets the config names are never forgotten to make room for names clients invent.
    return BreakerBoard(options, services.clock, services.telemetry.breaker_changed,
                        keep=services.telemetry.known_targets)


@hookimpl
def register_breaker_policies(register):
    register("consecutive", make_board, options=BreakerOptions)
