"""Fixtures for the governance tests: real databases. ``store_url`` runs a test once on a SQLite
file and once on a fresh database of a real PostgreSQL server (one server per session, started
on a free port by ``sluicegate.testing.postgres``); ``store`` is a ``SqlStore`` opened on it."""

from __future__ import annotations

import secrets

import pytest
import pytest_asyncio

from sluicegate_governance.sql.store import SqlStore


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def postgres_url(postgres_server):  # the sluicegate.testing pytest plugin's fixture
    """A new, empty database for one test, dropped afterwards."""
    name = "t_" + secrets.token_hex(6)
    url = postgres_server.create_database(name)
    yield url
    postgres_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request) -> str:
    return request.getfixturevalue(f"{request.param}_url")


@pytest_asyncio.fixture
async def store(store_url):
    opened = SqlStore(store_url)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.aclose()
