"""pytest fixtures: ``fake_upstream`` (a started FakeUpstream), ``gateway`` (a server factory),
``redis_server`` and ``redis_cluster`` (real Redis), ``postgres_server`` (real PostgreSQL), ``no_sockets`` (the test may open no
network socket)."""

from __future__ import annotations

import contextlib

import pytest
import pytest_asyncio

from sluicegate.testing.gateway import running_gateway
from sluicegate.testing.postgres import postgres_server  # noqa: F401  (fixture: real PostgreSQL)
from sluicegate.testing.redis import redis_cluster, redis_server  # noqa: F401  (fixtures: real Redis)
from sluicegate.testing.transport import no_sockets as _no_sockets
from sluicegate.testing.upstream import FakeUpstream


@pytest_asyncio.fixture
async def fake_upstream():
    async with FakeUpstream() as upstream:
        yield upstream


@pytest_asyncio.fixture
async def gateway():
    """``await gateway(config_text, env=..., extra_plugins=...)`` -> a running server, stopped after the test."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(config_text: str, **kwargs):
            return await stack.enter_async_context(running_gateway(config_text, **kwargs))

        yield start


@pytest.fixture
def no_sockets():
    """Opening a network socket during the test raises, and fails the test even if swallowed."""
    with _no_sockets() as attempts:
        yield attempts
