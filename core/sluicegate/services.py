"""Services the core hands every component factory: shared session, clock, randomness, logger."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from attrs import define, field


@define
class Services:
    """Injected, not global: tests swap the clock and RNG to make timing exact."""

    http: aiohttp.ClientSession | None
    config: Any
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    sleep: Callable[[float], Any] = field(default=None)
    rng: random.Random = field(factory=random.Random)
    log: logging.Logger = field(factory=lambda: logging.getLogger("sluicegate"))
    # The plugin registry of this assembly, for features that pick a backend by name
    # (``[cache] backend = "redis"``): ``registry.get(kind, name)``.
    registry: Any = None
    # The assembly's providers (id -> Provider), for extensions that watch vendors; set once the
    # providers are built (provider factories see it empty).
    providers: dict[str, Any] = field(factory=dict)
    # Where features report breaker changes and backend failures (the assembly's hub).
    telemetry: Any = None
    # State that outlives a config reload, one entry per owner (a metrics registry, counters):
    # ``lasting.setdefault("metrics", ...)``. Shared by every assembly of one gateway.
    lasting: dict[str, Any] = field(factory=dict)

    def __attrs_post_init__(self) -> None:
        if self.sleep is None:
            import asyncio

            self.sleep = asyncio.sleep
        if self.telemetry is None:
            from sluicegate.telemetry import Telemetry

            self.telemetry = Telemetry()
