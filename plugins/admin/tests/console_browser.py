"""What the console's browser tests share: a page in headless Chromium, its Content-Security-Policy
watch, signing in, and axe-core at the pinned version.

Test modules import this by name: conftest.py puts this folder on ``sys.path`` (the repository runs
pytest in importlib mode, which puts no test folder there).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

from playwright.async_api import Browser, Page, ViewportSize, expect

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = "/usr/bin/chromium"
WIDE = ViewportSize(width=1280, height=900)
ACTION_TIMEOUT_MS = 10_000  # every Playwright wait in these tests; the server shares the test's loop
INSTALL_TIMEOUT = 600  # a cold npm install of the pinned tools, on a slow registry


@contextlib.asynccontextmanager
async def open_page(browser: Browser, viewport: ViewportSize | None = None, *,
                    accept_dialogs: bool = False) -> AsyncIterator[Page]:
    """A page in a fresh browser context (no storage shared with other tests), closed afterwards.
    ``accept_dialogs`` confirms every ``confirm()`` (deleting and revoking ask); Playwright's own
    default dismisses them."""
    context = await browser.new_context(**({"viewport": viewport} if viewport is not None else {}))
    try:
        page = await context.new_page()
        page.set_default_timeout(ACTION_TIMEOUT_MS)
        if accept_dialogs:
            page.on("dialog", lambda dialog: dialog.accept())
        yield page
    finally:
        await context.close()


def watch_csp(page: Page) -> list[str]:
    """The console messages in which the browser reports a Content-Security-Policy violation, as they
    come: the page must never break its own policy (inline styles and scripts included)."""
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    return violations


async def sign_in(page: Page, base_url: str, route: str = "providers", *, token: str) -> None:
    """Opens ``#/route`` of the console, signs in with ``token`` and waits for the page's heading."""
    await page.goto(f"{base_url}/admin#/{route}")
    await page.get_by_label("Admin token").fill(token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator(f"#page-{route} h1")).to_be_visible()


async def visit(page: Page, name: str) -> None:
    """Follows the navigation's link ``name`` and waits until focus is on that page's heading."""
    await page.get_by_role("navigation").get_by_role("link", name=name).click()
    await expect(page.locator(f"#page-{name.lower()} h1")).to_be_focused()


def axe_path() -> Path:
    prefix = Path(os.environ.get("SLUICEGATE_AGENTS_PREFIX", ROOT / ".cache" / "agents"))
    if not prefix.is_absolute():
        prefix = ROOT / prefix
    return prefix / "node_modules" / "axe-core" / "axe.min.js"


def pinned_axe_source() -> str:
    """axe-core at the version pinned in tests/agents/package.json (the install is a no-op when
    scripts/test.sh made it), proved to be that version."""
    subprocess.run(["bash", str(ROOT / "scripts" / "install-agents.sh")], check=True,
                   timeout=INSTALL_TIMEOUT, stdout=subprocess.DEVNULL)
    source = axe_path().read_text()
    pinned = json.loads((ROOT / "tests" / "agents" / "package.json").read_text())["dependencies"]["axe-core"]
    assert source.startswith(f"/*! axe v{pinned}\n"), source[:40]
    return source


async def axe_violations(page: Page, source: str) -> list[str]:
    """axe-core's violations on the page as it is now, one line each (rule, impact, where)."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(source)  # evaluated by the test driver: the page's own CSP stays on
    return await page.evaluate("""async () => {
        const result = await axe.run(document, { resultTypes: ["violations"] });
        return result.violations.map((v) => v.id + " (" + v.impact + "): " + v.help + " at "
          + v.nodes.map((n) => n.target.join(" ")).join(", "));
    }""")
