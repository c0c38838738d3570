"""A real gateway serving a gateway.toml written for one test: what the admin tests edit and call.

Kept apart from the fixtures (conftest.py) because test modules cannot import a conftest, and some
tests start their gateway inside another context (a fake upstream whose URL the config names).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from sluicegate.gateway import Gateway, GatewaySource
from sluicegate.server.runner import RunningServer, start_server


@contextlib.asynccontextmanager
async def serving(folder: Path, config: str, env: Mapping[str, str]) -> AsyncIterator[tuple[RunningServer, Path]]:
    """Writes ``config`` to ``folder``/gateway.toml and serves it on a free local port until the
    block ends; yields the server and the file's path (the tests read back what the console wrote)."""
    path = folder / "gateway.toml"
    path.write_text(config)
    gateway = Gateway(GatewaySource(path=str(path), env=dict(env)))
    server = await start_server(gateway, "127.0.0.1", 0, shutdown_grace=0)
    try:
        yield server, path
    finally:
        await server.stop()
