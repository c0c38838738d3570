"""The console's Providers, Models and Usage pages doing their work in a real headless Chromium
(Playwright, /usr/bin/chromium) against a real gateway, a real gateway.toml and a fake vendor:
the provider Test button (a success, and a 401 whose error has the key scrubbed), editing a
provider's timeout and headers, a weighted alias picked target by target, and usage charts that
draw exactly the points the API returned, with tables that say the same.
"""

from __future__ import annotations

import asyncio
import tomllib
from functools import partial

import aiohttp
import console_browser
import pytest
import pytest_asyncio
from console_browser import visit
from playwright.async_api import expect
from served_gateway import serving

from sluicegate.testing import FakeUpstream, openai_chat_completion

pytestmark = pytest.mark.asyncio(loop_scope="module")

ADMIN_TOKEN = "console-more-token-0123456789abcdef"
CLIENT_TOKEN = "client-more-token-0123456789"
VENDOR_KEY = "sk-vendor-secret-for-console-more-0123456789"
HEADER_SECRET = "header-secret-for-console-more-98765"
ENV = {"ADMIN_TOKEN": ADMIN_TOKEN, "GATEWAY_TOKEN": CLIENT_TOKEN, "VENDOR_KEY": VENDOR_KEY,
       "HEADER_SECRET": HEADER_SECRET}
LEDGER_WAIT = 10.0  # seconds the store may take to write finished requests' ledger rows

CONFIG = """\
# Console test config: this comment must survive every change made through the page.
[auth]
tokens = ["${{GATEWAY_TOKEN}}"]

[admin]
token = "${{ADMIN_TOKEN}}"

[store]

[pricing.prices."mock/*"]
input = 1000
output = 1000

[providers.mock]
type = "mock"
models = ["echo-1"]

# A vendor behind a fake upstream; its header holds a secret.
[providers.vendor]
type = "openai"
base_url = "{upstream}/v1"
api_key = "${{VENDOR_KEY}}"
models = ["gpt-4o-mini"]
headers = {{ "X-Vendor-Key" = "${{HEADER_SECRET}}" }}

[models.echo]
targets = ["mock/echo-1"]

[models.chat]
targets = ["vendor/gpt-4o-mini"]
"""


@pytest_asyncio.fixture(loop_scope="module")
async def site(tmp_path):
    async with FakeUpstream() as upstream, serving(tmp_path, CONFIG.format(upstream=upstream.url), ENV) as (
            server, path):
        yield server, path, upstream


# The page (conftest.py) fails its test if anything on these pages broke the strict CSP (inline
# styles included).
sign_in = partial(console_browser.sign_in, token=ADMIN_TOKEN)


async def chat(server, model: str) -> int:
    async with aiohttp.ClientSession() as http, http.post(
            server.base_url + "/v1/chat/completions", headers={"Authorization": f"Bearer {CLIENT_TOKEN}"},
            json={"model": model, "messages": [{"role": "user", "content": "ping"}]}) as response:
        await response.read()
        return response.status


async def admin_get(server, route: str) -> dict:
    async with aiohttp.ClientSession() as http, http.get(
            server.base_url + route, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as response:
        assert response.status == 200, await response.text()
        return await response.json()


# -- providers -----------------------------------------------------------------------------------


async def test_the_test_button_shows_status_latency_and_a_scrubbed_error_beside_its_provider(page, site):
    server, _, upstream = site
    upstream.json("/v1/chat/completions", openai_chat_completion("OK"))
    await sign_in(page, server.base_url, "providers")
    button = page.get_by_role("button", name="Test provider vendor")
    # Keyboard only: focus the button, press Enter.
    await button.focus()
    await page.keyboard.press("Enter")
    result = page.locator("#providers tr[data-provider='vendor'] [data-test-result]")
    await expect(result).to_have_class("test-result ok")
    await expect(result).to_contain_text("OK (gpt-4o-mini), HTTP 200")
    await expect(result).to_contain_text(" ms")
    await expect(button).to_be_focused()  # focus stays where the user was
    assert len(upstream.calls("/v1/chat/completions")) == 1
    assert upstream.calls("/v1/chat/completions")[0].headers["Authorization"] == f"Bearer {VENDOR_KEY}"
    # Only that provider's row shows a result.
    await expect(page.locator("#providers tr[data-provider='mock'] [data-test-result]")).to_have_count(0)

    # The vendor refuses the key and quotes it back: the page shows the error, never the key.
    upstream.json("/v1/chat/completions", {"error": {
        "message": f"Incorrect API key provided: {VENDOR_KEY}. Prefix: {VENDOR_KEY[:20]}",
        "type": "invalid_request_error", "code": "invalid_api_key"}}, status=401)
    await button.click()
    await expect(result).to_have_class("test-result bad")
    await expect(result).to_contain_text("Failed (gpt-4o-mini), HTTP 401")
    await expect(result).to_contain_text("Incorrect API key provided")
    await expect(page.locator("#provider-test-result")).to_contain_text("Test of vendor: Failed")
    content = await page.content()
    assert VENDOR_KEY not in content and VENDOR_KEY[:20] not in content and VENDOR_KEY[-12:] not in content
    # The result stays beside the provider through the page's own redraws.
    await visit(page, "Providers")
    await expect(result).to_contain_text("HTTP 401")


async def test_editing_a_providers_timeout_and_headers_writes_gateway_toml(page, site):
    server, path, upstream = site
    await sign_in(page, server.base_url, "providers")
    await page.get_by_role("button", name="Edit provider vendor").click()
    form = page.locator("#provider-form")
    await expect(form.get_by_label("Provider type")).to_be_focused()
    await expect(page.locator("#provider-legend")).to_have_text("Edit provider vendor")
    # Every option the openai type accepts is offered, with the config's own help.
    for name in ("timeout", "connect timeout", "first byte timeout", "idle timeout", "max output tokens",
                 "organization", "project", "reasoning effort", "responses"):
        await expect(form.get_by_label(name, exact=True)).to_be_visible()
    await expect(form.locator("#po-timeout-hint")).to_contain_text("Seconds")
    # The header is listed by name; its value is never shown back.
    await expect(form.get_by_label("Header name").first).to_have_value("X-Vendor-Key")
    await expect(form.get_by_label("Header value").first).to_have_value("")
    await expect(form.get_by_label("Header value").first).to_have_attribute("placeholder", "${HEADER_SECRET} (set): leave empty to keep")

    # A bad number is named under its field before anything is sent.
    await form.get_by_label("timeout", exact=True).fill("soon")
    await form.get_by_role("button", name="Save provider").click()
    await expect(form.locator("#po-timeout-error")).to_contain_text("Enter a number")
    await expect(form.get_by_label("timeout", exact=True)).to_be_focused()
    await form.get_by_label("timeout", exact=True).fill("42.5")
    await form.get_by_role("button", name="Add header").click()
    await expect(form.get_by_label("Header name").nth(1)).to_be_focused()
    await form.get_by_label("Header name").nth(1).fill("X-Team")
    await form.get_by_label("Header value").nth(1).fill("research")
    await form.get_by_role("button", name="Save provider").click()
    await expect(page.locator("#providers-notice")).to_contain_text("Provider vendor saved")
    await expect(page.get_by_role("button", name="Edit provider vendor")).to_be_focused()

    text = path.read_text()
    assert text.startswith("# Console test config")
    vendor = tomllib.loads(text)["providers"]["vendor"]
    assert vendor["timeout"] == 42.5
    assert vendor["headers"] == {"X-Vendor-Key": "${HEADER_SECRET}", "X-Team": "research"}
    assert (vendor["api_key"], vendor["models"]) == ("${VENDOR_KEY}", ["gpt-4o-mini"])  # untouched
    # The gateway serves it: both headers go upstream.
    upstream.json("/v1/chat/completions", openai_chat_completion("hi"))
    assert await chat(server, "chat") == 200
    sent = {k.lower(): v for k, v in upstream.calls("/v1/chat/completions")[-1].headers.items()}
    assert (sent["x-vendor-key"], sent["x-team"]) == (HEADER_SECRET, "research")
    assert HEADER_SECRET not in await page.content() and "research" not in await page.locator("#providers").inner_text()

    # Emptying the timeout and removing the header put them back to the defaults.
    await page.get_by_role("button", name="Edit provider vendor").click()
    await expect(form.get_by_label("timeout", exact=True)).to_have_value("42.5")
    await form.get_by_label("timeout", exact=True).fill("")
    await form.get_by_role("button", name="Remove header X-Team").click()
    await form.get_by_role("button", name="Save provider").click()
    await expect(page.get_by_role("button", name="Edit provider vendor")).to_be_focused()
    vendor = tomllib.loads(path.read_text())["providers"]["vendor"]
    assert "timeout" not in vendor and vendor["headers"] == {"X-Vendor-Key": "${HEADER_SECRET}"}


async def test_a_config_refusal_is_shown_under_the_option_it_is_about(page, site):
    server, path, _ = site
    before = path.read_bytes()
    await sign_in(page, server.base_url, "providers")
    await page.get_by_role("button", name="Edit provider vendor").click()
    form = page.locator("#provider-form")
    await form.get_by_label("connect timeout", exact=True).fill("-1")
    await form.get_by_role("button", name="Save provider").click()
    await expect(form.locator("#po-connect_timeout-error")).to_be_visible()
    await expect(form.get_by_label("connect timeout", exact=True)).to_be_focused()
    await expect(page.locator("#provider-form-errors")).to_contain_text("providers.vendor.connect_timeout")
    assert path.read_bytes() == before


# -- models --------------------------------------------------------------------------------------


async def test_a_weighted_alias_with_two_targets_is_saved_and_read_back(page, site):
    server, path, _ = site
    await sign_in(page, server.base_url, "models")
    form = page.locator("#model-form")
    await form.get_by_label("Alias name").fill("spread")
    await expect(form.get_by_label("Strategy").locator("option")).to_have_count(4)
    strategies = await form.get_by_label("Strategy").locator("option").all_inner_texts()
    assert strategies == ["ordered", "weighted", "least-busy", "latency"]  # the config's STRATEGIES
    await expect(form.get_by_label("Weight of target 1")).to_be_hidden()  # only for "weighted"
    await form.get_by_label("Strategy").select_option("weighted")
    # The providers and their models come from the live config.
    providers = await form.get_by_label("Provider for target 1").locator("option").all_inner_texts()
    assert providers == ["(choose)", "mock", "vendor"]
    await form.get_by_label("Provider for target 1").select_option("vendor")
    options = form.locator("#mt-models-" + (await form.locator(".target-row").first.get_attribute("data-row")) + " option")
    assert [await option.get_attribute("value") for option in await options.all()] == ["gpt-4o-mini", "*"]
    await form.get_by_label("Model for target 1").fill("gpt-4o-mini")
    await form.get_by_label("Weight of target 1").fill("3")
    await form.get_by_role("button", name="Add target").click()
    await expect(form.get_by_label("Provider for target 2")).to_be_focused()
    await form.get_by_label("Provider for target 2").select_option("mock")
    await form.get_by_label("Model for target 2").fill("echo-1")
    await form.get_by_label("Weight of target 2").fill("1")
    await form.get_by_role("button", name="Add alias").click()
    row = page.locator("#models tr[data-alias='spread']")
    await expect(row).to_contain_text("vendor/gpt-4o-mini ×3, mock/echo-1 ×1")
    await expect(page.get_by_role("button", name="Edit alias spread")).to_be_focused()
    assert tomllib.loads(path.read_text())["models"]["spread"] == {
        "targets": ["vendor/gpt-4o-mini", "mock/echo-1"], "strategy": "weighted", "weights": [3, 1]}

    # Read back into the form: the same targets, order and weights.
    await page.get_by_role("button", name="Edit alias spread").click()
    await expect(form.get_by_label("Provider for target 1")).to_have_value("vendor")
    await expect(form.get_by_label("Model for target 1")).to_have_value("gpt-4o-mini")
    await expect(form.get_by_label("Weight of target 1")).to_have_value("3")
    await expect(form.get_by_label("Provider for target 2")).to_have_value("mock")
    await expect(form.get_by_label("Weight of target 2")).to_have_value("1")
    # Reorder with the keyboard-reachable buttons, make it ordered: the weights go.
    await form.get_by_role("button", name="Move target 2 up").click()
    await expect(form.get_by_role("button", name="Move target 1 down")).to_be_focused()
    await form.get_by_label("Strategy").select_option("ordered")
    await form.get_by_role("button", name="Save alias").click()
    await expect(row).to_contain_text("mock/echo-1, vendor/gpt-4o-mini")
    assert tomllib.loads(path.read_text())["models"]["spread"] == {"targets": ["mock/echo-1", "vendor/gpt-4o-mini"]}


# -- usage ---------------------------------------------------------------------------------------


async def test_usage_charts_draw_every_point_the_api_returned_and_the_tables_match(page, site):
    server, _, upstream = site
    upstream.json("/v1/chat/completions", openai_chat_completion("hi"))
    statuses = [await chat(server, "echo"), await chat(server, "echo"), await chat(server, "chat")]
    assert statuses == [200, 200, 200]
    for _ in range(int(LEDGER_WAIT / 0.1)):
        usage = await admin_get(server, "/admin/api/usage?granularity=hour&group_by=model")
        if usage["total"]["requests"] >= 3:
            break
        await asyncio.sleep(0.1)
    assert usage["total"]["requests"] == 3

    await sign_in(page, server.base_url, "usage")
    await expect(page.get_by_label("Range")).to_have_value("24h")
    range_labels = await page.get_by_label("Range").locator("option").all_inner_texts()
    assert range_labels == ["Last 24 hours, by hour", "Last 7 days, by hour", "Last 30 days, by day"]
    await page.get_by_label("Split by").select_option("model")
    points = usage["data"]
    assert {point["group"] for point in points} == {"echo", "chat"}
    for metric, value in (("requests", lambda p: p["requests"]),
                          ("tokens", lambda p: p["tokens_in"] + p["tokens_out"]),
                          ("cost", lambda p: p["cost"])):
        bars = page.locator(f"#usage-chart-{metric} svg rect.point")
        await expect(bars).to_have_count(len(points))
        rows = page.locator(f"#usage-table-{metric} tbody tr")
        await expect(rows).to_have_count(len(points))
        for point in points:
            bar = page.locator(f"#usage-chart-{metric} rect.point[data-group='{point['group']}']")
            assert float(await bar.get_attribute("data-value")) == pytest.approx(value(point))
            cells = await page.locator(f"#usage-table-{metric} tr[data-group='{point['group']}'] td").all_text_contents()
            assert cells[1] == point["group"]
            assert float(cells[2].replace(",", "")) == pytest.approx(value(point), abs=1e-4)
    await expect(page.locator("#usage-chart-requests svg")).to_have_attribute(
        "aria-label", f"Requests per hour by model: {len(points)} points; the table after the chart lists them.")
    # The tables open from the keyboard.
    summary = page.locator("#usage-chart-requests summary")
    await summary.focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("#usage-table-requests")).to_be_visible()
    # The daily range asks for daily points.
    await page.get_by_label("Range").select_option("30d")
    await expect(page.locator("#usage-range-text")).to_contain_text("Per day")
    await expect(page.locator("#usage-chart-requests svg rect.point")).to_have_count(
        len((await admin_get(server, "/admin/api/usage?granularity=day&group_by=model"))["data"]))
