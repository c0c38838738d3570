"""The console's config editing (providers and aliases by hand, reload, a broken file) in a real
headless Chromium (Playwright, /usr/bin/chromium) against a real server. The "Add model" dialog
and the pages' layout and accessibility are in test_console_ui*.py.

One browser for the module; each test gets a fresh page and a fresh gateway on its own file.
The server and the browser share the test's event loop, so every browser wait lets the server run.
"""

from __future__ import annotations

import re
import tomllib
from functools import partial

import aiohttp
import console_browser
import openai
import pytest
import pytest_asyncio
from playwright.async_api import Page, expect

pytestmark = pytest.mark.asyncio(loop_scope="module")

ADMIN_TOKEN = "admin-ui-token-0123456789abcdef"
CLIENT_TOKEN = "client-ui-token-0123456789"
ENV = {"ADMIN_TOKEN": ADMIN_TOKEN, "GATEWAY_TOKEN": CLIENT_TOKEN, "VENDOR_KEY": "sk-vendor-ui-0000"}

CONFIG = """\
# UI test config; this comment must survive every change made through the page.
[auth]
tokens = ["${GATEWAY_TOKEN}"]

[admin]
token = "${ADMIN_TOKEN}"

# The offline provider.
[providers.mock]
type = "mock"

[models.echo]
targets = ["mock/echo-1"]
"""


@pytest_asyncio.fixture(loop_scope="module")
async def site(serve_config):
    return await serve_config(CONFIG, ENV)


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser):
    # Deleting asks for confirmation; the tests confirm.
    async with console_browser.open_page(browser, accept_dialogs=True) as opened:
        yield opened


sign_in = partial(console_browser.sign_in, token=ADMIN_TOKEN)


async def visit(page: Page, name: str) -> None:
    await page.get_by_role("navigation").get_by_role("link", name=name).click()
    await expect(page.get_by_role("heading", name=name, exact=True)).to_be_focused()


def row(page: Page, table: str, name: str):
    return page.locator(f"#{table} tbody tr").filter(has=page.get_by_role("cell", name=name, exact=True))


async def test_sign_in_asks_again_for_a_wrong_token_and_keeps_the_right_one_in_the_tab(page, site):
    server, _ = site
    await page.goto(server.base_url + "/admin")
    await page.get_by_label("Admin token").fill("wrong-token")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#signin-message")).to_contain_text("was not accepted")
    await expect(page.get_by_role("heading", name="Providers")).to_be_hidden()
    await expect(page.get_by_role("navigation")).to_be_hidden()

    await sign_in(page, server.base_url)
    await expect(row(page, "providers", "mock")).to_contain_text("healthy")
    await page.reload()  # sessionStorage keeps the token for this tab; no cookie is set
    await expect(row(page, "providers", "mock")).to_be_visible()
    assert await page.evaluate("document.cookie") == ""
    assert await page.evaluate("JSON.stringify(localStorage)") == "{}"


async def test_add_edit_refuse_and_delete_through_the_page(page, site):
    server, path = site
    await sign_in(page, server.base_url)

    # Add a provider whose key comes from the environment.
    form = page.locator("#provider-form")
    await form.get_by_label("Provider id").fill("vendor")
    await form.get_by_label("Provider type").select_option("mock")
    await form.get_by_label("Models", exact=True).fill("m1, m2")
    await form.get_by_label("Key variable").fill("VENDOR_KEY")
    await expect(form.get_by_label("Literal key", exact=True)).to_be_disabled()  # only with its checkbox
    await form.get_by_role("button", name="Add provider").click()
    await expect(page.locator("#providers-notice")).to_contain_text("saved")
    vendor = row(page, "providers", "vendor")
    await expect(page.get_by_role("button", name="Edit provider vendor")).to_be_focused()  # focus follows
    await expect(vendor).to_contain_text("${VENDOR_KEY} (set)")
    text = path.read_text()
    assert text.startswith("# UI test config; this comment must survive")
    assert tomllib.loads(text)["providers"]["vendor"] == {
        "type": "mock", "models": ["m1", "m2"], "api_key": "${VENDOR_KEY}"}

    # Add an alias to it on the Models page; the gateway serves it at once.
    await visit(page, "Models")
    aliases = page.locator("#model-form")
    await aliases.get_by_label("Alias name").fill("fast")
    await aliases.get_by_label("Provider for target 1").select_option("vendor")
    await aliases.get_by_label("Model for target 1").fill("m1")
    await aliases.get_by_role("button", name="Add alias").click()
    await expect(row(page, "models", "fast")).to_contain_text("vendor/m1")
    await expect(page.get_by_role("button", name="Edit alias fast")).to_be_focused()
    assert tomllib.loads(path.read_text())["models"]["fast"] == {"targets": ["vendor/m1"]}
    async with openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=CLIENT_TOKEN, max_retries=0) as client:
        answer = await client.chat.completions.create(model="fast", messages=[{"role": "user", "content": "ping"}])
    assert answer.choices[0].message.content == "ping"
    # After a refresh the provider's row shows that call under "Last minute".
    await page.reload()
    await visit(page, "Providers")
    await expect(row(page, "providers", "vendor")).to_contain_text("1 call, 0% errors")

    # A bad alias: the error panel beside the form shows the config's own message and takes
    # focus; Dismiss gives focus back to the button. The file is untouched.
    await visit(page, "Models")
    before = path.read_bytes()
    await aliases.get_by_label("Alias name").fill("broken")
    await aliases.get_by_label("Provider for target 1").select_option("vendor")
    await aliases.get_by_label("Model for target 1").fill("m1")
    await aliases.get_by_label("Strategy").select_option("weighted")
    await aliases.get_by_label("Weight of target 1").fill("0")  # the config refuses all-zero weights
    await aliases.get_by_role("button", name="Add alias").click()
    errors = page.locator("#model-form-errors")
    await expect(errors).to_be_visible()
    await expect(errors).to_have_attribute("role", "alert")
    await expect(errors).to_contain_text("models.broken.weights")
    await expect(errors).to_contain_text("not all zero")
    await expect(errors).to_be_focused()
    await expect(errors).to_be_in_viewport()
    assert path.read_bytes() == before
    await expect(row(page, "models", "broken")).to_have_count(0)
    await errors.get_by_role("button", name="Dismiss").click()
    await expect(errors).to_be_hidden()
    await expect(aliases.get_by_role("button", name="Add alias")).to_be_focused()

    # Edit the alias.
    await page.get_by_role("button", name="Edit alias fast").click()
    await aliases.get_by_label("Model for target 1").fill("m2")
    await aliases.get_by_role("button", name="Add target").click()
    await aliases.get_by_label("Provider for target 2").select_option("mock")
    await aliases.get_by_label("Model for target 2").fill("echo-1")
    await aliases.get_by_role("button", name="Save alias").click()
    await expect(row(page, "models", "fast")).to_contain_text("vendor/m2, mock/echo-1")
    await expect(errors).to_be_hidden()
    assert tomllib.loads(path.read_text())["models"]["fast"]["targets"] == ["vendor/m2", "mock/echo-1"]

    # Deleting a provider an alias still uses is refused, naming the alias target.
    await visit(page, "Providers")
    await page.get_by_role("button", name="Delete provider vendor").click()
    refused = page.locator("#providers-errors")
    await expect(refused).to_contain_text("models.fast.targets[0]")
    await expect(vendor).to_be_visible()

    # Delete the alias, then the provider: the file is back to what it was.
    await visit(page, "Models")
    await page.get_by_role("button", name="Delete alias fast").click()
    await expect(row(page, "models", "fast")).to_have_count(0)
    await expect(page.get_by_role("heading", name="Models", exact=True)).to_be_focused()
    await visit(page, "Providers")
    await page.get_by_role("button", name="Delete provider vendor").click()
    await expect(row(page, "providers", "vendor")).to_have_count(0)
    await expect(refused).to_be_hidden()
    assert path.read_text() == CONFIG


async def test_reload_button_shows_a_refused_reload(page, site):
    server, path = site
    await sign_in(page, server.base_url, "config")
    await page.get_by_role("button", name="Reload config").click()
    await expect(page.locator("#config-notice")).to_have_text("Config reloaded.")
    await expect(page.get_by_role("button", name="Reload config")).to_be_focused()

    path.write_text(CONFIG + "\n[bogus]\n")
    await page.get_by_role("button", name="Reload config").click()
    errors = page.locator("#config-errors")
    await expect(errors).to_contain_text("bogus")
    await expect(errors).to_contain_text("unknown table")
    await expect(page.locator("#reload-state")).to_have_text(re.compile("^Refused"))
    async with aiohttp.ClientSession() as http, http.get(server.base_url + "/v1/models",
                                                         headers={"Authorization": f"Bearer {CLIENT_TOKEN}"}) as r:
        assert "echo" in [m["id"] for m in (await r.json())["data"]]  # the old config still serves


async def test_an_unparsable_file_shows_its_problem_not_undefined_keys(page, site):
    server, path = site
    keyed = CONFIG + '\n[providers.keyed]\ntype = "mock"\napi_key = "${VENDOR_KEY}"\n'
    path.write_text(keyed)
    await sign_in(page, server.base_url, "config")
    await page.get_by_role("button", name="Reload config").click()
    await expect(page.locator("#reload-state")).not_to_contain_text("at start")  # the reload is done
    await visit(page, "Providers")
    await expect(row(page, "providers", "keyed")).to_contain_text("${VENDOR_KEY} (set)")

    # A hand edit breaks the file; the gateway keeps serving the config it had.
    path.write_text(keyed.replace('type = "mock"', 'type = "mock"\nbroken line here', 1))
    await page.reload()
    problem = page.locator("#file-problem")
    await expect(problem).to_be_visible()
    # The parse error, with where it is in the file.
    await expect(problem).to_contain_text("not valid TOML")
    await expect(problem).to_contain_text("line 11, column 8")
    # The serving config's providers, keys shown as set or not (how they are given is in the file).
    await expect(row(page, "providers", "keyed")).to_contain_text("set")
    table = await page.locator("#providers").inner_text()
    assert "undefined" not in table and "${" not in table

    # Fixed by hand: the problem goes away on the next load.
    path.write_text(keyed)
    await page.reload()
    await expect(row(page, "providers", "keyed")).to_contain_text("${VENDOR_KEY} (set)")
    await expect(problem).to_be_hidden()
