"""The console's "Add model" dialog, the user's own acceptance test, in a real headless Chromium
(Playwright, /usr/bin/chromium) against a real gateway editing a real gateway.toml.

One browser for the module; each test gets a fresh page and a fresh gateway on its own file.
The server and the browser share the test's event loop, so every browser wait lets the server run.
"""

from __future__ import annotations

import re
import tomllib
from functools import partial

import console_browser
import pytest
import pytest_asyncio
from playwright.async_api import Page, expect

pytestmark = pytest.mark.asyncio(loop_scope="module")

ADMIN_TOKEN = "console-ui-token-0123456789abcdef"
ENV = {"ADMIN_TOKEN": ADMIN_TOKEN, "GATEWAY_TOKEN": "client-console-token-0123456789"}
TYPED_KEY = "sk-typed-by-hand-0123456789"

CONFIG = """\
# Console test config; this comment must survive every change made through the page.
[auth]
tokens = ["${GATEWAY_TOKEN}"]

[admin]
token = "${ADMIN_TOKEN}"

[providers.mock]
type = "mock"

[models.echo]
targets = ["mock/echo-1"]
"""


@pytest_asyncio.fixture(loop_scope="module")
async def site(serve_config):
    return await serve_config(CONFIG, ENV)


# The page (conftest.py) fails its test if it broke its own Content-Security-Policy.
sign_in = partial(console_browser.sign_in, token=ADMIN_TOKEN)


def add_button(page: Page):
    return page.locator(".page:not([hidden])").get_by_role("button", name="Add model", exact=True)


async def open_dialog(page: Page, vendor: str | None = None):
    await add_button(page).click()
    dialog = page.get_by_role("dialog", name="Add model")
    await expect(dialog).to_be_visible()
    if vendor is not None:
        await dialog.get_by_label("Vendor").select_option(label=vendor)
    return dialog


def api_key(dialog):
    return dialog.get_by_label("API key", exact=True)


def manual(dialog):
    return dialog.get_by_label("Enter API key manually")


async def test_the_users_flow_unchecked_and_empty_writes_the_variable_reference(page, site):
    server, path = site
    await sign_in(page, server.base_url)
    await page.reload()  # the user's first step: refresh the page
    await expect(page.get_by_role("heading", name="Providers")).to_be_visible()

    dialog = await open_dialog(page, "DeepSeek")
    assert await dialog.get_attribute("aria-modal") == "true"
    assert await dialog.get_attribute("role") == "dialog"
    # The preset filled everything, the key variable included.
    await expect(dialog.get_by_label("Provider id")).to_have_value("deepseek")
    await expect(dialog.get_by_label("Base URL")).to_have_value("https://api.deepseek.com/v1")
    await expect(dialog.get_by_label("Model", exact=True)).to_have_value("deepseek-chat")
    await expect(dialog.get_by_label("Alias")).to_have_value("deepseek-chat")
    await expect(dialog.get_by_label("Key variable")).to_have_value("DEEPSEEK_API_KEY")
    await expect(dialog.locator("#add-type-value")).to_have_text("openai")

    # By default: unchecked, and the key input disabled and empty.
    await expect(manual(dialog)).not_to_be_checked()
    await expect(api_key(dialog)).to_be_disabled()
    await expect(api_key(dialog)).to_have_value("")
    # Checking makes it writable; unchecking disables and clears it again.
    await manual(dialog).check()
    await expect(api_key(dialog)).to_be_editable()
    await api_key(dialog).fill("sk-autofilled-password")
    await manual(dialog).uncheck()
    await expect(api_key(dialog)).to_be_disabled()
    await expect(api_key(dialog)).to_have_value("")

    # Unchecked and empty -> the config holds the variable reference.
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog).to_be_hidden()
    await expect(page.locator("#providers-notice")).to_contain_text("Added model deepseek-chat")
    await expect(add_button(page)).to_be_focused()
    text = path.read_text()
    assert text.startswith("# Console test config; this comment must survive")
    assert 'api_key = "${DEEPSEEK_API_KEY}"' in text
    data = tomllib.loads(text)
    assert data["providers"]["deepseek"] == {
        "type": "openai", "base_url": "https://api.deepseek.com/v1", "api_key": "${DEEPSEEK_API_KEY}"}
    assert data["models"]["deepseek-chat"] == {"targets": ["deepseek/deepseek-chat"]}
    # The lists refreshed without a reload: the new provider and alias are there.
    await expect(page.locator("#providers tbody tr[data-provider='deepseek']")).to_contain_text("${DEEPSEEK_API_KEY}")
    await page.get_by_role("link", name="Models").click()
    await expect(page.locator("#models tbody tr[data-alias='deepseek-chat']")).to_contain_text("deepseek/deepseek-chat")


async def test_checked_with_a_typed_key_writes_that_key_and_never_shows_it(page, site):
    server, path = site
    await sign_in(page, server.base_url)
    dialog = await open_dialog(page, "DeepSeek")
    await manual(dialog).check()
    await api_key(dialog).fill(TYPED_KEY)
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog).to_be_hidden()
    await expect(page.locator("#providers-notice")).to_contain_text("Added model deepseek-chat")
    assert tomllib.loads(path.read_text())["providers"]["deepseek"]["api_key"] == TYPED_KEY
    await expect(page.locator("#providers tbody tr[data-provider='deepseek']")).to_contain_text("literal (hidden)")
    assert TYPED_KEY not in await page.content()
    # Opened again, the dialog starts over: unchecked, the key input disabled and empty.
    dialog = await open_dialog(page)
    await expect(manual(dialog)).not_to_be_checked()
    await expect(api_key(dialog)).to_be_disabled()
    await expect(api_key(dialog)).to_have_value("")


async def test_the_key_input_opts_out_of_autofill_and_shares_no_name(page, site):
    server, _ = site
    await sign_in(page, server.base_url)
    dialog = await open_dialog(page)
    key = api_key(dialog)
    assert await key.get_attribute("type") == "password"
    assert await key.get_attribute("autocomplete") == "new-password"
    assert await key.get_attribute("data-1p-ignore") is not None
    assert await key.get_attribute("data-lpignore") == "true"
    assert await key.get_attribute("data-bwignore") is not None
    token = page.locator("#signin-form input[type='password']")
    names = await page.eval_on_selector_all("input, select", "nodes => nodes.map(n => n.name)")
    ids = await page.eval_on_selector_all("[id]", "nodes => nodes.map(n => n.id)")
    assert len(names) == len(set(names)), names
    assert len(ids) == len(set(ids)), ids
    assert await key.get_attribute("name") not in (await token.get_attribute("name"), await token.get_attribute("id"))
    assert await key.get_attribute("id") not in (await token.get_attribute("name"), await token.get_attribute("id"))


async def test_focus_moves_in_stays_in_and_escape_returns_it_to_the_button(page, site):
    server, path = site
    before = path.read_bytes()
    await sign_in(page, server.base_url)
    dialog = await open_dialog(page)
    await expect(dialog.get_by_label("Vendor")).to_be_focused()
    # Shift+Tab from the first control wraps to the last; Tab from the last wraps to the first.
    await page.keyboard.press("Shift+Tab")
    await expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    await page.keyboard.press("Tab")
    await expect(dialog.get_by_label("Vendor")).to_be_focused()
    for _ in range(12):
        await page.keyboard.press("Tab")
        assert await page.evaluate("document.getElementById('add-model').contains(document.activeElement)")
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(add_button(page)).to_be_focused()
    # Cancel does the same, and nothing was written.
    dialog = await open_dialog(page)
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog).to_be_hidden()
    await expect(add_button(page)).to_be_focused()
    assert path.read_bytes() == before


async def test_errors_show_next_to_the_field_that_caused_them(page, site):
    server, path = site
    before = path.read_bytes()
    await sign_in(page, server.base_url, "models")
    dialog = await open_dialog(page, "DeepSeek")

    # The server refuses the provider id: the message is under that field, tied to it.
    await dialog.get_by_label("Provider id").fill("bad/id")
    await dialog.get_by_role("button", name="Save").click()
    field = dialog.get_by_label("Provider id")
    message = dialog.locator("#add-provider-id-error")
    await expect(message).to_be_visible()
    await expect(message).to_contain_text("provider_id")
    await expect(field).to_have_attribute("aria-invalid", "true")
    assert "add-provider-id-error" in (await field.get_attribute("aria-describedby")).split()
    await expect(field).to_be_focused()
    await expect(message).to_be_in_viewport()
    await expect(dialog.locator("#add-model-errors")).to_be_hidden()
    assert path.read_bytes() == before

    # An alias that exists (409): under the alias field; the provider id error is gone.
    await field.fill("deepseek")
    await dialog.get_by_label("Alias").fill("echo")
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog.locator("#add-alias-error")).to_contain_text("already exists")
    await expect(dialog.get_by_label("Alias")).to_have_attribute("aria-invalid", "true")
    await expect(message).to_be_hidden()
    await expect(field).not_to_have_attribute("aria-invalid", "true")
    assert path.read_bytes() == before

    # Checked but left empty: named under the key field before anything is sent.
    await dialog.get_by_label("Alias").fill("ds")
    await manual(dialog).check()
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog.locator("#add-api-key-error")).to_contain_text("Enter the API key")
    await expect(api_key(dialog)).to_be_focused()
    assert path.read_bytes() == before

    # Fixed: it saves, and the models list shows the new alias.
    await manual(dialog).uncheck()
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog).to_be_hidden()
    await expect(page.locator("#models-notice")).to_contain_text("Added model ds")
    await expect(page.locator("#models tbody tr[data-alias='ds']")).to_contain_text("deepseek/deepseek-chat")


async def test_a_custom_vendor_names_its_key_variable_after_the_provider_id(page, site):
    server, path = site
    await sign_in(page, server.base_url)
    dialog = await open_dialog(page, "OpenAI-compatible")
    await expect(dialog.get_by_label("Base URL")).to_have_value("")
    await dialog.get_by_label("Provider id").fill("my-vendor.eu")
    await expect(dialog.get_by_label("Key variable")).to_have_value("MY_VENDOR_EU_API_KEY")
    await dialog.get_by_label("Model", exact=True).fill("local-model")
    await expect(dialog.get_by_label("Alias")).to_have_value("local-model")
    # No base URL: said under that field.
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog.locator("#add-base-url-error")).to_contain_text("base URL")
    await dialog.get_by_label("Base URL").fill("http://127.0.0.1:9/v1")
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog).to_be_hidden()
    data = tomllib.loads(path.read_text())
    assert data["providers"]["my-vendor.eu"] == {
        "type": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key": "${MY_VENDOR_EU_API_KEY}"}
    assert data["models"]["local-model"] == {"targets": ["my-vendor.eu/local-model"]}


async def test_add_model_with_the_keyboard_only(page, site):
    server, path = site
    await sign_in(page, server.base_url)
    await expect(page.get_by_role("heading", name="Providers")).to_be_focused()

    async def tab_to(locator, limit=30):
        for _ in range(limit):
            await page.keyboard.press("Tab")
            if await locator.evaluate("node => node === document.activeElement"):
                return
        raise AssertionError(f"Tab never reached {locator}")

    await tab_to(add_button(page))
    await page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Add model")
    await expect(dialog).to_be_visible()
    await expect(dialog.get_by_label("Vendor")).to_be_focused()
    await expect(dialog.get_by_label("Key variable")).to_have_value("OPENAI_API_KEY")  # the first preset
    # Space toggles the checkbox, and with it the key input.
    await tab_to(manual(dialog))
    await page.keyboard.press("Space")
    await expect(api_key(dialog)).to_be_enabled()
    await page.keyboard.press("Space")
    await expect(api_key(dialog)).to_be_disabled()
    await tab_to(dialog.get_by_role("button", name="Save"))
    await page.keyboard.press("Enter")
    await expect(dialog).to_be_hidden()
    await expect(add_button(page)).to_be_focused()
    data = tomllib.loads(path.read_text())
    assert data["providers"]["openai"]["api_key"] == "${OPENAI_API_KEY}"
    assert data["models"]["gpt-4o-mini"] == {"targets": ["openai/gpt-4o-mini"]}


async def test_a_vertex_model_with_its_own_fields(page, site, tmp_path, axe_source):
    server, path = site
    key_file = tmp_path / "service-account.json"
    key_file.write_text("{}")  # the config check wants the file to exist; no call is made here
    await sign_in(page, server.base_url)
    dialog = await open_dialog(page, "Vertex AI")
    await expect(dialog.locator("#add-type-value")).to_have_text("vertex")
    region, project, credentials = (dialog.get_by_label("Region"), dialog.get_by_label("Project"),
                                    dialog.get_by_label("Credentials file"))
    # The preset's fields, with their defaults, marks and hints; no key and no URL needed.
    await expect(region).to_have_value("us-east5")
    await expect(project).to_have_value("")
    await expect(credentials).to_have_value("")
    assert await region.get_attribute("required") is not None
    assert await project.get_attribute("required") is None
    await expect(dialog.locator("label[for='add-option-project']")).to_have_text("Project (optional)")
    await expect(dialog.locator("label[for='add-base-url']")).to_have_text("Base URL (optional)")
    await expect(dialog.get_by_label("Base URL")).to_have_value("")
    await expect(dialog.get_by_label("Key variable")).to_have_value("")
    await expect(region).to_have_accessible_description(re.compile("us-east5 serves Gemini and Claude"))
    await expect(credentials).to_have_accessible_description(re.compile("application default credentials"))
    # The fields follow the provider id in the tab order.
    await dialog.get_by_label("Provider id").focus()
    await page.keyboard.press("Tab")
    await expect(region).to_be_focused()

    # A required field left empty is named under it before anything is sent.
    await region.fill("")
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog.locator("#add-option-region-error")).to_have_text("Enter the region.")
    await expect(region).to_be_focused()
    await expect(region).to_have_attribute("aria-invalid", "true")
    # The server's refusal of a field (options.project) shows under that field.
    await region.fill("us-east5")
    await project.fill("Bad_Project")
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog.locator("#add-option-project-error")).to_contain_text("Google Cloud project id")
    await expect(project).to_be_focused()
    await expect(region).not_to_have_attribute("aria-invalid", "true")
    assert await console_browser.axe_violations(page, axe_source) == []
    assert "[providers.vertex]" not in path.read_text()

    await project.fill("my-project-123")
    await credentials.fill(str(key_file))
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog).to_be_hidden()
    await expect(page.locator("#providers-notice")).to_contain_text("Added model gemini-2.5-flash")
    data = tomllib.loads(path.read_text())
    assert data["providers"]["vertex"] == {"type": "vertex", "region": "us-east5", "project": "my-project-123",
                                           "credentials_file": str(key_file)}
    assert data["models"]["gemini-2.5-flash"] == {"targets": ["vertex/gemini-2.5-flash"]}
    await expect(page.locator("#providers tbody tr[data-provider='vertex']")).to_be_visible()

    # Another vendor has no such fields: they go.
    dialog = await open_dialog(page, "Vertex AI")
    await expect(dialog.get_by_label("Region")).to_have_value("us-east5")
    await dialog.get_by_label("Vendor").select_option(label="DeepSeek")
    await expect(dialog.locator("#add-options")).to_be_hidden()
    assert await dialog.locator("#add-options input").count() == 0
    await expect(dialog.locator("label[for='add-base-url']")).to_have_text("Base URL")
