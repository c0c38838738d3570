"""Fixtures for the admin plugin's tests: one headless Chromium a module, a page on it watched for
Content-Security-Policy violations, a gateway served from a config a test writes, and axe-core.

The repository runs pytest in importlib mode, which puts no test folder on ``sys.path``, so this
folder's helper modules (console_browser, served_gateway) are made importable here; their names
are their own so that no other folder's helpers can shadow them.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Page, async_playwright

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from console_browser import CHROMIUM, WIDE, open_page, pinned_axe_source, watch_csp  # noqa: E402
from served_gateway import serving  # noqa: E402

from sluicegate.server.runner import RunningServer  # noqa: E402

ServeConfig = Callable[[str, Mapping[str, str]], Awaitable[tuple[RunningServer, Path]]]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser():
    """One Chromium for the module (launching it is the slow part); each test opens its own context."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser) -> AsyncIterator[Page]:
    """A 1280 x 900 page; the test fails if the page broke its Content-Security-Policy."""
    async with open_page(browser, WIDE) as opened:
        violations = watch_csp(opened)
        yield opened
    assert violations == []


@pytest_asyncio.fixture(loop_scope="module")
async def serve_config(tmp_path) -> AsyncIterator[ServeConfig]:
    """``await serve_config(config, env)`` serves that config from the test's gateway.toml and
    returns (server, path); the server stops when the test ends."""
    async with contextlib.AsyncExitStack() as stack:
        async def serve(config: str, env: Mapping[str, str]) -> tuple[RunningServer, Path]:
            return await stack.enter_async_context(serving(tmp_path, config, env))

        yield serve


@pytest.fixture(scope="module")
def axe_source() -> str:
    return pinned_axe_source()
