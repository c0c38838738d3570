"""The console's pages in a real headless Chromium (Playwright, /usr/bin/chromium): every page at
1280 and 390 px wide without horizontal scrolling and with zero axe-core violations, and provider
health that turns red when a breaker opens or every call fails.

axe-core is pinned in tests/agents/package.json and installed by scripts/install-agents.sh into
.cache/agents (scripts/test.sh runs it before pytest; the fixture runs it if the file is missing).
"""

from __future__ import annotations

import asyncio
from functools import partial

import aiohttp
import console_browser
import pytest
import pytest_asyncio
from console_browser import axe_violations, open_page
from playwright.async_api import Page, ViewportSize, expect

pytestmark = pytest.mark.asyncio(loop_scope="module")

ADMIN_TOKEN = "console-pages-token-0123456789abcdef"
CLIENT_TOKEN = "client-pages-token-0123456789"
ENV = {"ADMIN_TOKEN": ADMIN_TOKEN, "GATEWAY_TOKEN": CLIENT_TOKEN}
PAGES = ("overview", "providers", "models", "keys", "usage", "logs", "playground", "health", "config")

CONFIG = """\
[auth]
tokens = ["${GATEWAY_TOKEN}"]

[admin]
token = "${ADMIN_TOKEN}"

# Keys, usage and logs: a SQLite store beside this file.
[store]

[retry]
attempts = 1

[breaker]
failure_threshold = 2

[providers.mock]
type = "mock"
models = ["echo-1"]

# Every call fails: two calls open its breaker.
[providers.flaky]
type = "mock"
fail_rate = 1.0

# Every call fails too, but it gets one call: the breaker stays closed.
[providers.failing]
type = "mock"
fail_rate = 1.0

[providers.vendor-with-a-rather-long-provider-identifier]
type = "openai"
base_url = "https://very-long-subdomain-name.api.example-vendor-with-long-name.com/compatible-mode/v1"
models = ["a-model-with-a-very-long-name-that-does-not-wrap-easily-2025-01-01"]
api_key = "${SOME_RATHER_LONG_VENDOR_API_KEY_VARIABLE}"

[models.echo]
targets = ["mock/echo-1"]

[models.flaky]
targets = ["flaky/echo-1"]

[models.failing]
targets = ["failing/echo-1"]

[models.spread]
targets = ["mock/echo-1", "vendor-with-a-rather-long-provider-identifier/a-model-with-a-very-long-name-that-does-not-wrap-easily-2025-01-01"]
strategy = "weighted"
weights = [3, 1]
"""


@pytest_asyncio.fixture(loop_scope="module")
async def site(serve_config):
    return await serve_config(CONFIG, ENV)


sign_in = partial(console_browser.sign_in, token=ADMIN_TOKEN)


async def visit(page: Page, route: str) -> None:
    await page.get_by_role("link", name=route.capitalize()).click()
    await expect(page.locator(f"#page-{route}")).to_be_visible()
    await expect(page.locator(f"#page-{route} h1")).to_be_focused()  # focus follows the page
    # The page has drawn what it loads (the status line and tables settle).
    await page.wait_for_load_state("networkidle")


async def overflow(page: Page) -> tuple[int, int]:
    return await page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")


async def call(server, model: str) -> int:
    async with aiohttp.ClientSession() as http, http.post(
            server.base_url + "/v1/chat/completions", headers={"Authorization": f"Bearer {CLIENT_TOKEN}"},
            json={"model": model, "messages": [{"role": "user", "content": "ping"}]}) as response:
        await response.read()
        return response.status


async def admin_call(server, method: str, route: str, body: dict | None = None) -> dict:
    async with aiohttp.ClientSession() as http, http.request(
            method, server.base_url + route, json=body, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as response:
        assert response.status < 300, await response.text()
        return await response.json()


async def wait_for_ledger(server, requests: int) -> None:
    for _ in range(100):  # bounded: 10 s for the store's batched writer
        if (await admin_call(server, "GET", "/admin/api/usage?granularity=hour"))["total"]["requests"] >= requests:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the requests never reached the ledger")


@pytest.mark.parametrize("width", [1280, 390])
async def test_every_page_fits_the_width_and_has_no_axe_violations(browser, site, axe_source, width):
    server, _ = site
    # Something on every page: a team and a key with budgets (bars), traffic (charts, tables).
    team = await admin_call(server, "POST", "/admin/api/teams", {"name": "Research", "budget": {"amount": 10}})
    await admin_call(server, "POST", "/admin/api/keys", {
        "name": "ci-app-with-a-long-name", "team_id": team["id"], "budget": {"amount": 5, "period": "day"},
        "limits": {"rpm": 60, "tpm": 100000, "concurrency": 4}, "expires_at": "2099-12-31T00:00:00Z"})
    assert [await call(server, "echo"), await call(server, "failing")] == [200, 500]
    await wait_for_ledger(server, 2)
    async with open_page(browser, ViewportSize(width=width, height=844)) as page:
        await page.goto(server.base_url + "/admin")
        assert await axe_violations(page, axe_source) == []  # the sign-in page
        await sign_in(page, server.base_url, "overview")
        for route in PAGES:
            await visit(page, route)
            scroll_width, inner_width = await overflow(page)
            assert scroll_width <= inner_width, f"#/{route} at {width} px: {scroll_width} > {inner_width}"
            assert await axe_violations(page, axe_source) == [], f"#/{route} at {width} px"
        # The dialog too, showing errors next to its fields.
        await visit(page, "providers")
        await page.get_by_role("button", name="Add model", exact=True).click()
        dialog = page.get_by_role("dialog", name="Add model")
        await dialog.get_by_label("Vendor").select_option(label="DeepSeek")
        await dialog.get_by_label("Provider id").fill("bad/id")
        await dialog.get_by_role("button", name="Save").click()
        await expect(dialog.locator("#add-provider-id-error")).to_be_visible()
        scroll_width, inner_width = await overflow(page)
        assert scroll_width <= inner_width
        box = await dialog.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= inner_width
        assert await axe_violations(page, axe_source) == [], f"the dialog at {width} px"
        await page.keyboard.press("Escape")

        # The forms in their fuller states: a provider's options with a header row, an alias with
        # two weighted targets, the usage tables open.
        long_id = "vendor-with-a-rather-long-provider-identifier"
        for route in ("providers", "models", "usage"):
            await visit(page, route)
            if route == "providers":
                await page.get_by_role("button", name=f"Edit provider {long_id}").click()
                await page.get_by_role("button", name="Add header").click()
            elif route == "models":
                await page.get_by_role("button", name="Edit alias spread").click()
                await expect(page.get_by_label("Weight of target 2")).to_be_visible()
            else:
                await page.get_by_label("Split by").select_option("model")
                await expect(page.locator("#usage-chart-requests rect.point")).not_to_have_count(0)
                for summary in await page.locator("#usage-charts summary").all():
                    await summary.click()
                await expect(page.locator("#usage-table-cost")).to_be_visible()
            scroll_width, inner_width = await overflow(page)
            assert scroll_width <= inner_width, f"#/{route} (full) at {width} px: {scroll_width} > {inner_width}"
            assert await axe_violations(page, axe_source) == [], f"#/{route} (full) at {width} px"


async def test_a_provider_with_an_open_breaker_or_failing_calls_is_never_green(browser, site):
    server, _ = site
    async with open_page(browser, ViewportSize(width=1280, height=844)) as page:
        await page.clock.install()  # the page's timers run when the test says so
        await sign_in(page, server.base_url)
        flaky = page.locator("#providers tr[data-provider='flaky'] .badge")
        await expect(flaky).to_have_text("healthy")  # no call yet
        assert [await call(server, "flaky"), await call(server, "flaky")] == [500, 500]
        assert await call(server, "failing") == 500
        assert await call(server, "echo") == 200
        # The page redraws itself: no reload, just its refresh timer.
        await page.clock.run_for(16_000)
        await expect(flaky).to_have_class("badge bad")
        await expect(flaky).to_contain_text("breaker open")
        failing = page.locator("#providers tr[data-provider='failing'] .badge")
        await expect(failing).to_have_class("badge bad")
        await expect(failing).not_to_have_text("healthy")
        healthy = page.locator("#providers tr[data-provider='mock'] .badge")
        await expect(healthy).to_have_class("badge ok")
        await expect(page.locator("#providers tr[data-provider='flaky']")).to_contain_text("flaky/echo-1: open")

        # The Health page: the same verdicts, the last error's text, and when it was read.
        await visit(page, "health")
        await expect(page.locator("#health tr[data-provider='flaky'] .badge")).to_have_class("badge bad")
        await expect(page.locator("#health tr[data-provider='flaky']")).to_contain_text("injected failure")
        await expect(page.locator("#health tr[data-provider='mock'] .badge")).to_have_class("badge ok")
        asof = page.locator("#health-asof")
        await expect(asof).to_contain_text("As of")
        # Per target: the open breaker is red and says so, with its last error; closed is green.
        breaker = page.locator("#health-targets tr[data-target='flaky/echo-1']")
        await expect(breaker.locator(".badge")).to_have_class("badge bad")
        await expect(breaker.locator(".badge")).to_contain_text("open")
        await expect(breaker).to_contain_text("injected failure")
        await expect(page.locator("#health-targets tr[data-target='mock/echo-1'] .badge")).to_have_class("badge ok")
        await expect(page.locator("#health-targets tr[data-target='mock/echo-1']")).to_contain_text(" ms")
        # It refreshes itself: "as of" moves with the page's clock, no reload.
        first = await asof.inner_text()
        await page.clock.run_for(16_000)
        await expect(asof).not_to_have_text(first)
        await expect(asof).to_contain_text("As of")
        # A colour is never the only signal: the state is in words too.
        assert "healthy" not in await page.locator("#health tr[data-provider='flaky']").inner_text()
