"""Run a real gateway (the same server ``sluicegate serve`` runs) on a free port inside a test."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from sluicegate.gateway import Gateway, GatewaySource
from sluicegate.server.runner import RunningServer, start_server


@contextlib.asynccontextmanager
async def running_gateway(
    config_text: str,
    *,
    env: Mapping[str, str] | None = None,
    extra_plugins: Iterable[tuple[str, Any]] = (),
    use_entry_points: bool = True,
    shutdown_grace: float = 1.0,
    services: Mapping[str, Any] | None = None,
) -> AsyncIterator[RunningServer]:
    """Yield a started server for ``config_text``; ``env`` replaces os.environ for ${VAR}s.

    ``services`` overrides fields of the ``Services`` every component gets (``clock``,
    ``wall_clock``, ``sleep``, ``rng``), so retries, breakers and limiters run on a test's clock.
    """
    source = GatewaySource(
        text=config_text, env=env if env is not None else {}, extra_plugins=tuple(extra_plugins),
        use_entry_points=use_entry_points,
    )
    gateway = Gateway(source)
    gateway.clock_overrides.update(services or {})
    server = await start_server(gateway, "127.0.0.1", 0, shutdown_grace=shutdown_grace)
    try:
        yield server
    finally:
        await server.stop()
