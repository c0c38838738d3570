"""The console's Keys, Usage and Logs pages (the governance plugin's admin API) and the read-only
viewer token, in a real headless Chromium (Playwright, /usr/bin/chromium) against a real gateway
with a real SQLite store beside its gateway.toml.
"""

from __future__ import annotations

import asyncio
import re
import tomllib
from functools import partial

import aiohttp
import console_browser
import pytest
import pytest_asyncio
from console_browser import visit
from playwright.async_api import Page, expect

pytestmark = pytest.mark.asyncio(loop_scope="module")

ADMIN_TOKEN = "console-gov-token-0123456789abcdef"
VIEWER_TOKEN = "console-viewer-token-0123456789abcdef"
CLIENT_TOKEN = "client-gov-token-0123456789"
ENV = {"ADMIN_TOKEN": ADMIN_TOKEN, "VIEWER_TOKEN": VIEWER_TOKEN, "GATEWAY_TOKEN": CLIENT_TOKEN}
LEDGER_WAIT = 10.0  # seconds the store may take to write a finished request's ledger row

CONFIG = """\
[auth]
tokens = ["${GATEWAY_TOKEN}"]

[admin]
token = "${ADMIN_TOKEN}"
viewer_token = "${VIEWER_TOKEN}"

[store]

# Every token costs 0.001: a request's spend shows on its key's budget bar.
[pricing.prices."mock/*"]
input = 1000
output = 1000

[providers.mock]
type = "mock"

[models.echo]
targets = ["mock/echo-1"]
"""


@pytest_asyncio.fixture(loop_scope="module")
async def site(serve_config):
    return await serve_config(CONFIG, ENV)


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser, site):
    server, _ = site
    # Revoking asks for confirmation; the tests confirm. No watch for CSP messages here.
    async with console_browser.open_page(browser, console_browser.WIDE, accept_dialogs=True) as opened:
        await opened.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.base_url)
        yield opened


sign_in = partial(console_browser.sign_in, token=ADMIN_TOKEN)


async def chat(server, key: str) -> aiohttp.ClientResponse:
    async with aiohttp.ClientSession() as http, http.post(
            server.base_url + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
            json={"model": "echo", "messages": [{"role": "user", "content": "ping"}]}) as response:
        await response.read()
        return response


async def logged(server, request_id: str) -> None:
    """Waits (bounded) until the store has written the request's ledger row."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with aiohttp.ClientSession() as http:
        for _ in range(int(LEDGER_WAIT / 0.1)):
            async with http.get(server.base_url + "/admin/api/logs", headers=headers) as response:
                rows = (await response.json())["data"]
            if any(row["request_id"] == request_id for row in rows):
                return
            await asyncio.sleep(0.1)
    raise AssertionError(f"request {request_id} never reached the ledger")


async def test_a_key_created_in_the_console_works_until_it_is_revoked(page, site):
    server, _ = site
    await sign_in(page, server.base_url, "keys")

    # A team with a budget, then a key in it.
    await page.get_by_label("Team name").fill("Research")
    await page.get_by_label("Team budget", exact=True).fill("10")
    await page.get_by_role("button", name="Create team").click()
    await expect(page.locator("#teams tbody tr")).to_contain_text("Research")
    await expect(page.locator("#keys-notice")).to_have_text("Team Research created.")

    # A bad budget is named under its field before anything is sent.
    await page.get_by_label("Key name").fill("ci-app")
    await page.get_by_label("Team", exact=True).select_option(label="Research")
    await page.get_by_label("Budget", exact=True).fill("lots")
    await page.get_by_role("button", name="Create key").click()
    await expect(page.locator("#k-budget-error")).to_contain_text("number")
    await expect(page.get_by_label("Budget", exact=True)).to_be_focused()
    await page.get_by_label("Budget", exact=True).fill("5")
    await page.get_by_role("button", name="Create key").click()

    # The secret is shown once, with a copy button; Done takes it off the page.
    panel = page.locator("#key-secret")
    await expect(panel).to_be_visible()
    secret = await page.locator("#key-secret-value").inner_text()
    assert secret.startswith("sk-")
    await expect(page.get_by_role("button", name="Copy key")).to_be_focused()
    await page.get_by_role("button", name="Copy key").click()
    await expect(page.locator("#key-secret-copied")).to_have_text("Copied.")
    assert await page.evaluate("navigator.clipboard.readText()") == secret
    row = page.locator("#keys tbody tr").filter(has_text="ci-app")
    await expect(row).to_contain_text("Research")
    await expect(row).to_contain_text("active")
    await expect(row.get_by_role("meter", name="Budget of key ci-app")).to_have_attribute("aria-valuemax", "5")
    await page.get_by_role("button", name="Done").click()
    await expect(panel).to_be_hidden()
    assert secret not in await page.content()
    await expect(page.get_by_role("button", name="Rotate key ci-app")).to_be_focused()

    # The key works; revoked in the console, it is refused.
    answer = await chat(server, secret)
    assert answer.status == 200
    request_id = answer.headers["x-request-id"]
    await page.get_by_role("button", name="Revoke key ci-app").click()
    await expect(row).to_contain_text("revoked")
    await expect(page.locator("#keys-notice")).to_have_text("Key ci-app revoked.")
    await expect(page.get_by_role("button", name="Revoke key ci-app")).to_have_count(0)
    assert (await chat(server, secret)).status == 401

    # Usage shows the request the key made, by key; the chart has a bar for it.
    key_id = await row.get_attribute("data-key")
    await logged(server, request_id)
    await visit(page, "Usage")
    await page.get_by_label("Split by").select_option("key")
    await expect(page.locator("#usage-groups-title")).to_have_text("Totals by key")
    await expect(page.locator(f"#usage-groups tr[data-group='{key_id}']")).to_contain_text("1")
    await expect(page.locator(f"#usage-chart-requests rect.point[data-group='{key_id}']")).to_have_count(1)
    await expect(page.locator(f"#usage-table-tokens tbody tr[data-group='{key_id}']")).to_have_count(1)

    # The log has the request; its drawer shows the details and gives focus back on Escape.
    await visit(page, "Logs")
    details = page.get_by_role("button", name=f"Details of request {request_id}")
    await details.click()
    drawer = page.get_by_role("dialog", name=f"Request {request_id}")
    await expect(drawer).to_be_visible()
    await expect(drawer).to_contain_text(key_id)
    await expect(drawer).to_contain_text("chat/completions")
    await page.keyboard.press("Escape")
    await expect(drawer).to_be_hidden()
    await expect(details).to_be_focused()
    # A filter that matches nothing says so.
    await page.locator("#logs-form").get_by_label("Model").fill("no-such-model")
    await page.get_by_role("button", name="Apply filters").click()
    await expect(page.locator("#logs tbody")).to_contain_text("No requests match.")


async def test_the_viewer_token_reads_every_page_and_is_offered_no_change(page, site):
    server, path = site
    before = path.read_bytes()
    await sign_in(page, server.base_url, "providers", token=VIEWER_TOKEN)
    await expect(page.locator("#role")).to_have_text("Viewer (read only)")
    await expect(page.locator("#providers tbody tr[data-provider='mock']")).to_contain_text("healthy")
    for name in ("Providers", "Models", "Keys", "Config"):
        await visit(page, name)
        visible = page.locator(f"#page-{name.lower()}")
        # No control that would change something: the API would refuse it (403 read_only).
        assert await visible.get_by_role("button", name="Add model").count() == 0
        for label in ("Edit", "Delete", "Test", "Revoke", "Rotate", "Reload config", "Create key", "Add alias"):
            assert await visible.get_by_role("button", name=label).filter(visible=True).count() == 0, (name, label)
    await expect(page.locator("#config-text")).to_contain_text("[providers.mock]")
    assert path.read_bytes() == before
    assert tomllib.loads(path.read_text())["models"] == {"echo": {"targets": ["mock/echo-1"]}}


async def api_get(server, route: str) -> dict:
    async with aiohttp.ClientSession() as http, http.get(
            server.base_url + route, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def create_key(page: Page, name: str, budget: str | None = None) -> str:
    """Creates a key through the form; returns its secret (the panel is left open)."""
    await page.get_by_label("Key name").fill(name)
    if budget is not None:
        await page.get_by_label("Budget", exact=True).fill(budget)
    await page.get_by_role("button", name="Create key").click()
    await expect(page.locator("#key-secret")).to_be_visible()
    return await page.locator("#key-secret-value").inner_text()


async def test_a_keys_budget_bar_shows_a_requests_spend_without_a_reload(page, site):
    server, _ = site
    await page.clock.install()  # the page's refresh timer runs when the test says so
    await sign_in(page, server.base_url, "keys")
    secret = await create_key(page, "metered", budget="5")
    await page.get_by_role("button", name="Done").click()
    bar = page.get_by_role("meter", name="Budget of key metered")
    await expect(bar).to_have_attribute("data-spent", "0")
    await expect(bar).to_have_attribute("aria-valuemax", "5")

    assert (await chat(server, secret)).status == 200
    key_id = await page.locator("#keys tbody tr").filter(has_text="metered").get_attribute("data-key")
    spent = 0.0
    for _ in range(int(LEDGER_WAIT / 0.1)):  # the request settles its reservation as it finishes
        spend = (await api_get(server, f"/admin/api/keys/{key_id}"))["spend"]
        if spend["spent"] > 0 and spend["reserved"] == 0:
            spent = spend["spent"]
            break
        await asyncio.sleep(0.1)
    assert spent > 0
    # The page redraws itself on its timer: the bar and its words show that spend.
    await page.clock.run_for(16_000)
    await expect(bar).to_have_attribute("data-spent", str(spent))
    await expect(bar).to_have_attribute("aria-valuenow", str(spent))
    await expect(bar).to_have_attribute("aria-valuetext", f"{round(spent, 4):g} spent of 5 (month)")
    await expect(page.locator("#keys tbody tr").filter(has_text="metered")).to_contain_text(
        f"{round(spent, 4):g} spent of 5 (month)")
    assert float(await bar.locator(".spent").evaluate("(node) => parseFloat(node.style.width)")) == round(
        100 * spent / 5, 2)


async def test_rotate_shows_the_new_key_once_and_the_old_one_is_refused(page, site):
    server, _ = site
    await sign_in(page, server.base_url, "keys")
    old = await create_key(page, "rotating")
    await page.get_by_role("button", name="Done").click()
    assert (await chat(server, old)).status == 200

    rotate = page.get_by_role("button", name="Rotate key rotating")
    await rotate.click()
    panel = page.locator("#key-secret")
    await expect(panel).to_be_visible()
    await expect(page.locator("#key-secret-title")).to_have_text("Copy the new key of rotating now")
    await expect(page.get_by_role("button", name="Copy key")).to_be_focused()
    new = await page.locator("#key-secret-value").inner_text()
    assert new.startswith("sk-") and new != old
    await expect(page.locator("#keys-notice")).to_contain_text("rotated")
    # The old secret is refused at once, the new one works.
    assert (await chat(server, old)).status == 401
    assert (await chat(server, new)).status == 200
    # Shown once: Done takes it off the page, and focus goes back to Rotate.
    await page.get_by_role("button", name="Done").click()
    await expect(panel).to_be_hidden()
    assert new not in await page.content()
    await expect(rotate).to_be_focused()

    # Leaving the page also takes a shown secret away.
    await rotate.click()
    await expect(page.locator("#key-secret-value")).to_have_text(re.compile("^sk-"))
    newer = await page.locator("#key-secret-value").inner_text()
    await visit(page, "Usage")
    await visit(page, "Keys")
    await expect(panel).to_be_hidden()
    assert newer not in await page.content()


async def test_keys_and_teams_are_edited_in_place(page, site):
    server, _ = site
    await sign_in(page, server.base_url, "keys")
    await page.get_by_label("Team name").fill("Ops")
    await page.get_by_role("button", name="Create team").click()
    team_row = page.locator("#teams tbody tr").filter(has_text="Ops")
    await expect(team_row).to_contain_text("none")

    # A team's budget and limits.
    edit_team = page.get_by_role("button", name="Edit team Ops")
    await edit_team.click()
    await expect(page.get_by_label("Team name")).to_be_focused()
    await expect(page.locator("#team-legend")).to_have_text("Edit team Ops")
    await page.get_by_label("Team budget", exact=True).fill("20")
    await page.get_by_label("Team budget period").select_option("week")
    await page.get_by_label("Team requests per minute").fill("60")
    await page.get_by_role("button", name="Save team").click()
    await expect(page.locator("#keys-notice")).to_have_text("Team Ops saved.")
    await expect(team_row).to_contain_text("60 requests/min")
    await expect(team_row.get_by_role("meter", name="Budget of team Ops")).to_have_attribute("aria-valuemax", "20")
    await expect(edit_team).to_be_focused()
    team_id = await team_row.get_attribute("data-team")
    team = await api_get(server, f"/admin/api/teams/{team_id}")
    assert (team["budget"], team["limits"]["rpm"]) == ({"amount": 20.0, "period": "week"}, 60)

    # A key's team, limits and expiry (a date input).
    await create_key(page, "edited")
    await page.get_by_role("button", name="Done").click()
    edit_key = page.get_by_role("button", name="Edit key edited")
    await edit_key.click()
    await page.get_by_label("Team", exact=True).select_option(label="Ops")
    await page.get_by_label("Requests per minute", exact=True).fill("30")
    await page.get_by_label("Requests at once", exact=True).fill("2")
    assert await page.get_by_label("Expires on").get_attribute("type") == "date"
    await page.get_by_label("Expires on").fill("2099-12-31")
    await page.get_by_role("button", name="Save key").click()
    key_row = page.locator("#keys tbody tr").filter(has_text="edited")
    await expect(key_row).to_contain_text("2099-12-31")
    await expect(key_row).to_contain_text("30 requests/min, 2 at once")
    await expect(key_row).to_contain_text("Ops")
    await expect(edit_key).to_be_focused()
    key = await api_get(server, f"/admin/api/keys/{await key_row.get_attribute('data-key')}")
    assert (key["team_id"], key["expires_at"], key["limits"]) == (
        team_id, "2099-12-31T23:59:59Z", {"rpm": 30, "tpm": None, "concurrency": 2})
    # Emptied fields are removed: no expiry, no limits.
    await edit_key.click()
    await page.get_by_label("Expires on").fill("")
    await page.get_by_label("Requests per minute", exact=True).fill("")
    await page.get_by_label("Requests at once", exact=True).fill("")
    await page.get_by_role("button", name="Save key").click()
    await expect(key_row).to_contain_text("never")
    key = await api_get(server, f"/admin/api/keys/{await key_row.get_attribute('data-key')}")
    assert (key["expires_at"], key["limits"]) == (None, {"rpm": None, "tpm": None, "concurrency": None})
