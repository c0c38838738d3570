"""Active health checks (``[health_checks]``): probe each configured provider at an interval.

Off by default: probes cost vendor calls. Results are kept in memory and only read by
``/health``; they inform operators and do not steer traffic (breakers do that, from real calls).

Also the default plugin ``sluicegate.health_checks``, which registers the extension.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from attrs import Factory, define, field

from sluicegate.config.checks import positive
from sluicegate.errors import ConfigError, ConfigProblem, GatewayError
from sluicegate.hookspecs import hookimpl
from sluicegate.plugin_options import FeatureOptions


@define(kw_only=True)
class HealthCheckOptions(FeatureOptions):
    # Seconds between two rounds of probes.
    interval: float = field(default=30.0, validator=positive)
    # Seconds one probe may take before it counts as failed.
    timeout: float = field(default=10.0, validator=positive)
    # Provider ids to probe; empty means every configured provider.
    providers: list[str] = Factory(list)


class HealthChecks:
    """The extension: a background task probing providers; ``result(name)`` for ``/health``."""

    def __init__(self, options: HealthCheckOptions, providers: dict[str, Any], services: Any) -> None:
        self.options = options
        self.providers = providers  # id -> Provider
        self.only = tuple(options.providers)
        self.clock = services.clock
        self.wall_clock = services.wall_clock
        self.sleep = services.sleep
        self.log = services.log
        self.results: dict[str, dict[str, Any]] = {}
        self.rounds = 0
        self._task: asyncio.Task[None] | None = None

    def result(self, provider: str) -> dict[str, Any] | None:
        return self.results.get(provider)

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await self.check_all()
            await self.sleep(self.options.interval)

    async def check_all(self) -> None:
        """One round: every chosen, configured provider at once."""
        chosen = [p for name, p in self.providers.items() if (not self.only or name in self.only) and p.configured]
        await asyncio.gather(*(self._check(provider) for provider in chosen))
        self.rounds += 1

    async def _check(self, provider: Any) -> None:
        started = self.clock()
        error: str | None = None
        try:
            async with asyncio.timeout(self.options.timeout):
                await provider.probe()
        except TimeoutError:
            error = f"no answer within {self.options.timeout:g}s"
        except GatewayError as exc:
            error = exc.message  # adapters scrub keys from their messages
        except Exception as exc:  # a probe must never kill the loop that runs the others
            error = f"probe failed: {exc.__class__.__name__}"
        entry: dict[str, Any] = {
            "ok": error is None,
            "at": self.wall_clock(),
            "latency_ms": round((self.clock() - started) * 1000, 1),
        }
        if error is not None:
            entry["error"] = error
            previous = self.results.get(provider.name)
            if previous is None or previous["ok"]:
                self.log.warning("health check of provider %s failed: %s", provider.name, error)
        self.results[provider.name] = entry

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def make_health_checks(*, options: HealthCheckOptions, services: Any) -> HealthChecks:
    providers = services.config.providers
    unknown = [
        ConfigProblem(f"providers[{index}]", f"unknown provider {name!r}")
        for index, name in enumerate(options.providers)
        if name not in providers
    ]
    if unknown:
        raise ConfigError(unknown)
    return HealthChecks(options, services.providers, services)


@hookimpl
def register_extensions(register):
    register("health_checks", make_health_checks, options=HealthCheckOptions)
