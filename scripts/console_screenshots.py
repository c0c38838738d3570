#!/usr/bin/env python3
"""Screenshots of every console page, for docs/guides/admin.md.

Starts a gateway on a temporary gateway.toml (a SQLite store beside it, a fake OpenAI-compatible
vendor on 127.0.0.1, the offline mock provider and one that always fails), makes some traffic
and issues a team and two keys, then opens each page of /admin in the Debian Chromium at
1280x800 and saves it as docs/images/console/<page>.png. Nothing leaves the machine.

    python scripts/console_screenshots.py [--out docs/images/console] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
from pathlib import Path

import aiohttp
from playwright.async_api import Page, async_playwright, expect

from sluicegate.gateway import Gateway, GatewaySource
from sluicegate.server.runner import RunningServer, start_server
from sluicegate.testing import FakeUpstream, openai_chat_completion

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("overview", "providers", "models", "keys", "usage", "logs", "playground", "health", "config")
VIEWPORT = {"width": 1280, "height": 800}
# What each page shows once it has drawn what it loaded.
READY = {"overview": "#overview-body .tiles", "providers": "#providers tbody tr[data-provider]",
         "models": "#models tbody tr[data-alias]", "keys": "#keys tbody tr[data-key]",
         "usage": "#usage-charts svg", "logs": "#logs tbody tr[data-request]", "health": "#health-targets tr[data-target]",
         "config": "#config-text:not(:empty)"}
ADMIN_TOKEN = "screenshot-admin-token-0123456789abcdef"
CLIENT_TOKEN = "screenshot-client-token-0123456789"
ENV = {"ADMIN_TOKEN": ADMIN_TOKEN, "GATEWAY_TOKEN": CLIENT_TOKEN, "DEEPSEEK_API_KEY": "sk-screenshot-not-a-real-key"}
#: Seconds the store may take to write the traffic's ledger rows.
LEDGER_WAIT = 15.0

CONFIG = """\
[auth]
tokens = ["${{GATEWAY_TOKEN}}"]

[admin]
token = "${{ADMIN_TOKEN}}"

[store]

[access_log]
enabled = false

[breaker]
failure_threshold = 2

[retry]
attempts = 1

[pricing.prices."deepseek/deepseek-chat"]
input = 0.27
output = 1.10

[pricing.prices."mock/echo-1"]
input = 0.15
output = 0.60

[providers.deepseek]
type = "openai"
base_url = "{upstream}/v1"
api_key = "${{DEEPSEEK_API_KEY}}"
models = ["deepseek-chat"]
timeout = 60

[providers.mock]
type = "mock"
models = ["echo-1"]

[providers.flaky]
type = "mock"
fail_rate = 1.0
fail_message = "upstream overloaded"

[models.chat]
targets = ["deepseek/deepseek-chat", "mock/echo-1"]

[models.spread]
targets = ["deepseek/deepseek-chat", "mock/echo-1"]
strategy = "weighted"
weights = [3, 1]

[models.echo]
targets = ["mock/echo-1"]

[models.flaky]
targets = ["flaky/echo-1"]
"""


async def call(http: aiohttp.ClientSession, server: RunningServer, method: str, route: str, token: str,
               body: dict | None = None) -> dict:
    async with http.request(method, server.base_url + route, json=body,
                            headers={"Authorization": f"Bearer {token}"}) as response:
        return await response.json(content_type=None)


async def traffic(server: RunningServer) -> None:
    async with aiohttp.ClientSession() as http:
        team = await call(http, server, "POST", "/admin/api/teams", ADMIN_TOKEN,
                          {"name": "Research", "budget": {"amount": 50, "period": "month"}})
        keys = []
        for name, budget in (("ci-bot", 0.01), ("notebook", 5)):
            key = await call(http, server, "POST", "/admin/api/keys", ADMIN_TOKEN, {
                "name": name, "team_id": team["id"], "budget": {"amount": budget, "period": "day"},
                "limits": {"rpm": 120}})
            keys.append(key["key"])
        body = {"messages": [{"role": "user", "content": "Summarise the release notes in one line."}]}
        for round_ in range(6):
            for model, token in (("chat", keys[0]), ("spread", keys[1]), ("echo", CLIENT_TOKEN), ("echo", keys[1])):
                await call(http, server, "POST", "/v1/chat/completions", token, {**body, "model": model})
            if round_ < 2:
                await call(http, server, "POST", "/v1/chat/completions", CLIENT_TOKEN, {**body, "model": "flaky"})
        for _ in range(int(LEDGER_WAIT / 0.2)):
            usage = await call(http, server, "GET", "/admin/api/usage?granularity=hour", ADMIN_TOKEN)
            if usage["total"]["requests"] >= 26:
                return
            await asyncio.sleep(0.2)


async def shoot(page: Page, base_url: str, out: Path) -> list[Path]:
    await page.goto(base_url + "/admin#/overview")
    await page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#page-overview h1")).to_be_visible()
    saved = []
    for name in PAGES:
        await page.get_by_role("navigation").get_by_role("link", name=name.capitalize()).click()
        await expect(page.locator(f"#page-{name} h1")).to_be_focused()
        if name in READY:
            await expect(page.locator(READY[name]).first).to_be_visible()
        await page.wait_for_load_state("networkidle")
        if name == "providers":
            await page.get_by_role("button", name="Test provider deepseek").click()
            await expect(page.locator("#providers tr[data-provider='deepseek'] [data-test-result]")).to_contain_text("HTTP")
        elif name == "usage":
            await page.get_by_label("Split by").select_option("model")
            await expect(page.locator("#usage-chart-requests rect.point")).not_to_have_count(0)
        # The page heading keeps focus; its outline is not part of the picture.
        await page.evaluate("document.activeElement && document.activeElement.blur()")
        path = out / f"{name}.png"
        await page.screenshot(path=str(path))
        saved.append(path)
    return saved


async def main(out: Path, chromium: str) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeUpstream() as upstream:
            upstream.json("/v1/chat/completions", openai_chat_completion(
                "Faster reloads, a console, and budgets per team.", model="deepseek-chat"))
            config = Path(tmp) / "gateway.toml"
            config.write_text(CONFIG.format(upstream=upstream.url))
            server = await start_server(Gateway(GatewaySource(path=str(config), env=dict(ENV))), "127.0.0.1", 0,
                                        shutdown_grace=0)
            try:
                await traffic(server)
                async with async_playwright() as playwright:
                    browser = await playwright.chromium.launch(executable_path=chromium)
                    try:
                        context = await browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
                        page = await context.new_page()
                        page.set_default_timeout(15_000)
                        errors: list[str] = []
                        page.on("pageerror", lambda error: errors.append(str(error)))
                        saved = await shoot(page, server.base_url, out)
                        if errors:  # a picture of a broken page documents nothing
                            raise SystemExit("the console threw: " + "; ".join(errors))
                    finally:
                        await browser.close()
            finally:
                await server.stop()
    for path in saved:
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {path.stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "console")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    arguments = parser.parse_args()
    logging.disable(logging.WARNING)  # the gateway's own warnings are not the point here
    arguments.out.mkdir(parents=True, exist_ok=True)
    sys.exit(asyncio.run(main(arguments.out.resolve(), arguments.chromium)))
