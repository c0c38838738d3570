"""Services the core hands every component factory: shared session, clock, randomness, logger."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from attrs import define, field

from sluicegate.telemetry import Telemetry
from sluicegate.transport import Transport


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
    # One assembly's meeting place for the components one plugin builds for it (an extension
    # owning a database, the authenticator and middleware using it): ``shared.get("name")``.
    # Built in this order: providers, extensions, authenticators, middlewares. A reload makes
    # a new one, so nothing here outlives the assembly that owns it (``lasting`` does).
    shared: dict[str, Any] = field(factory=dict)
    # Builds a component a factory picked (a feature's backend, ``registry.get(kind, name)``) by
    # the core's one rule (sluicegate.builder): ``services.build(component, options)`` returns
    # it, or None when its factory left it out, and raises ConfigError for a refusal. The
    # component that asked owns what it gets (closes it in its own ``aclose``). The assembly
    # sets it; without one the factory is simply called.
    build: Callable[[Any, Any], Any] = field(default=None)
    # How HTTP providers reach vendors; None: through ``http`` (``sluicegate.transport``). Tests
    # put a ``sluicegate.testing.MockTransport`` here so adapters run without sockets.
    transport: Transport | None = None

    def __attrs_post_init__(self) -> None:
        if self.build is None:
            self.build = self._call_factory
        if self.sleep is None:
            import asyncio

            self.sleep = asyncio.sleep
        if self.telemetry is None:
            self.telemetry = Telemetry()

    def _call_factory(self, component: Any, options: Any) -> Any:
        return component.factory(options=options, services=self)
