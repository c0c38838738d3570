"""The console's Playground: ``POST /admin/api/playground`` through the real server and the real
request chain against a fake OpenAI vendor (complete and streamed answers, retries and a fallback
listed as the route taken, an open breaker skipped, the cache answering, the cost from
``[pricing]``, the bounds, refused bodies that reach no vendor, the viewer's 403), and the page in
a real headless Chromium (Playwright, /usr/bin/chromium): pick an alias, send, watch the text
stream in, read the route and cost, Stop a slow answer, all by keyboard, at 390 px, axe-clean.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio
from aiohttp import web
from attrs import define
from console_browser import axe_violations, open_page, sign_in, watch_csp
from playwright.async_api import Page, ViewportSize, expect
from served_gateway import serving

from sluicegate.server.runner import RunningServer
from sluicegate.testing import FakeUpstream, openai_chat_completion
from sluicegate.testing.upstream import openai_chunks
from sluicegate_admin import playground
from sluicegate_admin.playground import MAX_MESSAGES, MAX_TOKENS

pytestmark = pytest.mark.asyncio(loop_scope="module")

ADMIN_TOKEN = "admin-token-for-playground-tests-0123456789"
VIEWER_TOKEN = "viewer-token-for-playground-tests-987654321"
CLIENT_TOKEN = "client-token-for-playground-tests-0123"
VENDOR_KEY = "sk-vendor-key-for-playground-000111222333"
ENV = {"ADMIN_TOKEN": ADMIN_TOKEN, "VIEWER_TOKEN": VIEWER_TOKEN, "GATEWAY_TOKEN": CLIENT_TOKEN,
       "VENDOR_KEY": VENDOR_KEY}
FIRST = "/first/v1/chat/completions"
SECOND = "/second/v1/chat/completions"
USAGE = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
# second/gpt-4o-mini: 5 tokens in at 1000 and 2 out at 2000 per million.
COST = (5 * 1000 + 2 * 2000) / 1e6

CONFIG = '''\
[auth]
tokens = ["${{GATEWAY_TOKEN}}"]

[admin]
token = "${{ADMIN_TOKEN}}"
viewer_token = "${{VIEWER_TOKEN}}"

[retry]
attempts = 2
backoff_base = 0

[breaker]
failure_threshold = 2
cooldown = 600

[providers.first]
type = "openai"
base_url = "{upstream}/first/v1"
api_key = "${{VENDOR_KEY}}"
models = ["gpt-4o-mini"]

[providers.second]
type = "openai"
base_url = "{upstream}/second/v1"
api_key = "${{VENDOR_KEY}}"
models = ["gpt-4o-mini"]

[models.chat]
targets = ["second/gpt-4o-mini"]

[models.resilient]
targets = ["first/gpt-4o-mini", "second/gpt-4o-mini"]

[models.broken]
targets = ["first/gpt-4o-mini"]

[pricing]
currency = "USD"

[pricing.prices."second/gpt-4o-mini"]
input = 1000
output = 2000
{extra}'''

HELLO = [{"role": "user", "content": "Say hello"}]


@define
class Site:
    server: RunningServer
    upstream: FakeUpstream
    http: aiohttp.ClientSession
    seen: list[str]  # every response text, searched for secrets afterwards

    @property
    def url(self) -> str:
        return self.server.base_url + "/admin/api/playground"

    async def ask(self, body: Any, *, token: str | None = ADMIN_TOKEN) -> tuple[int, Any, aiohttp.ClientResponse]:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        async with self.http.post(self.url, data=data, headers=headers) as response:
            text = await response.text()
            self.seen.append(text)
            return response.status, orjson.loads(text) if "json" in response.content_type else text, response

    def vendor_calls(self) -> list[Any]:
        return [r for r in self.upstream.requests if r.path in (FIRST, SECOND)]


@contextlib.asynccontextmanager
async def site_on(tmp_path: Path, extra: str = "") -> AsyncIterator[Site]:
    async with FakeUpstream() as upstream, \
            serving(tmp_path, CONFIG.format(upstream=upstream.url, extra=extra), ENV) as (server, _), \
            aiohttp.ClientSession() as http:
        opened = Site(server, upstream, http, [])
        yield opened
        for text in opened.seen:
            assert ADMIN_TOKEN not in text and VENDOR_KEY not in text and VIEWER_TOKEN not in text


@pytest_asyncio.fixture(loop_scope="module")
async def site(tmp_path):
    async with site_on(tmp_path) as opened:
        yield opened


def sse_events(text: str) -> list[tuple[str | None, str]]:
    """(event name, data) of each server-sent event."""
    events = []
    for frame in text.split("\n\n"):
        if not frame.strip():
            continue
        name, data = None, []
        for line in frame.split("\n"):
            if line.startswith("event: "):
                name = line[len("event: "):]
            elif line.startswith("data: "):
                data.append(line[len("data: "):])
        events.append((name, "\n".join(data)))
    return events


def streamed_text(events: list[tuple[str | None, str]]) -> str:
    text = ""
    for name, data in events:
        if name is None and data != "[DONE]":
            chunk = orjson.loads(data)
            for choice in chunk.get("choices", []):
                text += choice.get("delta", {}).get("content") or ""
    return text


async def vendor_error(request: web.Request) -> web.Response:
    return web.json_response({"error": {"message": "the vendor broke", "type": "server_error"}}, status=500)


# -- complete answers ----------------------------------------------------------------------------


async def test_a_complete_answer_comes_with_its_route_tokens_and_cost(site):
    site.upstream.json(SECOND, openai_chat_completion("Hello from the vendor", usage=USAGE))
    status, data, response = await site.ask({"model": "chat", "messages": HELLO, "stream": False})
    assert status == 200, data
    assert data["answer"]["object"] == "chat.completion"
    assert data["answer"]["choices"][0]["message"]["content"] == "Hello from the vendor"
    meta = data["meta"]
    assert meta["route"] == [{"target": "second/gpt-4o-mini", "status": 200, "error_class": None,
                              "latency_ms": meta["route"][0]["latency_ms"]}]
    assert meta["target"] == "second/gpt-4o-mini"
    assert (meta["retries"], meta["fallback"], meta["cache"]) == (0, False, None)
    assert (meta["tokens_in"], meta["tokens_out"]) == (5, 2)
    assert meta["cost"] == pytest.approx(COST) and meta["currency"] == "USD"
    assert meta["request_id"] == response.headers["x-request-id"]
    assert isinstance(meta["latency_ms"], float) and meta["latency_ms"] >= 0
    # What the vendor got: the alias's model, the capped default limit, the vendor's key and
    # never the admin token.
    [call] = site.vendor_calls()
    sent = call.json()
    assert sent["model"] == "gpt-4o-mini" and sent["messages"] == HELLO and sent["max_tokens"] == MAX_TOKENS
    assert call.headers["Authorization"] == f"Bearer {VENDOR_KEY}"
    assert ADMIN_TOKEN not in repr(call.headers)


async def test_a_first_target_failing_falls_back_and_the_route_lists_every_call(site):
    site.upstream.on(FIRST, vendor_error)
    site.upstream.json(SECOND, openai_chat_completion("From the fallback", usage=USAGE))
    status, data, _ = await site.ask({"model": "resilient", "messages": HELLO, "max_tokens": 50})
    assert status == 200, data
    assert data["answer"]["choices"][0]["message"]["content"] == "From the fallback"
    meta = data["meta"]
    # [retry] attempts = 2: the first target twice (one retry), then the fallback answered.
    assert [(a["target"], a["status"], a["error_class"]) for a in meta["route"]] == [
        ("first/gpt-4o-mini", 500, "overloaded"), ("first/gpt-4o-mini", 500, "overloaded"),
        ("second/gpt-4o-mini", 200, None)]
    assert meta["retries"] == 1 and meta["fallback"] is True
    assert meta["target"] == "second/gpt-4o-mini"
    assert meta["cost"] == pytest.approx(COST)  # what the vendor that answered charges
    assert [call.path for call in site.vendor_calls()] == [FIRST, FIRST, SECOND]
    assert all(call.json()["max_tokens"] == 50 for call in site.vendor_calls())

    # Two failures opened first's breaker: the next request does not call it at all.
    status, data, _ = await site.ask({"model": "resilient", "messages": HELLO})
    assert status == 200
    assert [a["target"] for a in data["meta"]["route"]] == ["second/gpt-4o-mini"]
    assert data["meta"]["fallback"] is False
    assert [call.path for call in site.vendor_calls()] == [FIRST, FIRST, SECOND, SECOND]


async def test_when_every_target_fails_the_error_still_shows_the_route(site):
    site.upstream.on(FIRST, vendor_error)
    status, data, _ = await site.ask({"model": "broken", "messages": HELLO})
    assert status == 500, data  # the vendor's status, as /v1 answers it
    assert data["error"]["code"] == "upstream_500" and "the vendor broke" in data["error"]["message"]
    meta = data["meta"]
    assert [(a["target"], a["status"], a["error_class"]) for a in meta["route"]] == [
        ("first/gpt-4o-mini", 500, "overloaded")] * 2
    assert meta["retries"] == 1 and meta["target"] is None and meta["cost"] is None
    # Those two failures opened the breaker: a stream now calls nobody and says why.
    status, data, _ = await site.ask({"model": "broken", "messages": HELLO, "stream": True})
    assert status == 503 and data["error"]["code"] == "circuit_open", data
    assert data["meta"]["route"] == [] and data["meta"]["target"] is None
    assert len(site.vendor_calls()) == 2


async def test_the_cache_answers_a_repeated_question_for_nothing(tmp_path):
    async with site_on(tmp_path, "\n[cache]\nttl = 60\n") as site:
        site.upstream.json(SECOND, openai_chat_completion("Cached answer", usage=USAGE))
        body = {"model": "chat", "messages": HELLO}
        status, first, _ = await site.ask(body)
        assert status == 200 and first["meta"]["cache"] == "miss"
        assert first["meta"]["cost"] == pytest.approx(COST)
        status, again, _ = await site.ask(body)
        assert status == 200
        assert again["answer"]["choices"][0]["message"]["content"] == "Cached answer"
        assert again["meta"]["cache"] == "hit"
        assert again["meta"]["route"] == [] and again["meta"]["target"] is None
        assert again["meta"]["cost"] == 0.0
        assert len(site.vendor_calls()) == 1


async def test_the_request_counts_as_traffic_in_the_log_and_ledger(tmp_path):
    store = f'\n[store]\nurl = "sqlite+aiosqlite:///{tmp_path / "ledger.db"}"\n'
    async with site_on(tmp_path, store) as site:
        site.upstream.json(SECOND, openai_chat_completion("Logged", usage=USAGE))
        status, data, _ = await site.ask({"model": "chat", "messages": HELLO})
        assert status == 200
        request_id = data["meta"]["request_id"]
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        rows: list[dict[str, Any]] = []
        for _ in range(100):  # the ledger is written in batches: wait for it, bounded
            async with site.http.get(site.server.base_url + "/admin/api/logs", headers=headers) as response:
                rows = [row for row in (await response.json())["data"] if row["request_id"] == request_id]
            if rows:
                break
            await asyncio.sleep(0.1)
        [row] = rows
        assert row["client"] == "admin console" and row["key_id"] is None
        assert (row["model"], row["provider"], row["status"]) == ("chat", "second", 200)
        assert (row["tokens_in"], row["tokens_out"]) == (5, 2)
        assert row["cost"] == pytest.approx(COST)
        # No prompt text is recorded.
        assert "Say hello" not in repr(row)


# -- streams -------------------------------------------------------------------------------------


async def test_a_stream_sends_the_chunks_then_the_meta_event(site):
    site.upstream.sse(SECOND, openai_chunks(["Hel", "lo ", "there"], usage=True))
    status, text, response = await site.ask({"model": "chat", "messages": HELLO, "stream": True})
    assert status == 200, text
    assert response.headers["Content-Type"].startswith("text/event-stream")
    events = sse_events(text)
    assert streamed_text(events) == "Hello there"
    # The usage chunk the gateway asked for is not sent on; the meta is the last event.
    assert not any(name is None and data != "[DONE]" and orjson.loads(data).get("usage") for name, data in events)
    name, data = events[-1]
    assert name == "sluicegate"
    meta = orjson.loads(data)
    assert meta["route"][0]["target"] == "second/gpt-4o-mini" and meta["route"][0]["status"] == 200
    assert (meta["tokens_in"], meta["tokens_out"]) == (5, 2)
    assert meta["cost"] == pytest.approx(COST)
    assert meta["ttft_ms"] is not None and meta["request_id"] == response.headers["x-request-id"]
    [call] = site.vendor_calls()
    assert call.json()["stream"] is True and call.json()["stream_options"] == {"include_usage": True}


async def test_a_streamed_fallback_lists_the_failed_target_first(site):
    site.upstream.on(FIRST, vendor_error)
    site.upstream.sse(SECOND, openai_chunks(["fine"], usage=True))
    status, text, _ = await site.ask({"model": "resilient", "messages": HELLO, "stream": True})
    assert status == 200
    events = sse_events(text)
    assert streamed_text(events) == "fine"
    meta = orjson.loads(events[-1][1])
    assert [a["target"] for a in meta["route"]] == ["first/gpt-4o-mini", "first/gpt-4o-mini", "second/gpt-4o-mini"]
    assert meta["retries"] == 1 and meta["fallback"] is True and meta["cost"] == pytest.approx(COST)


async def test_leaving_mid_stream_closes_the_vendor_call(site):
    release = asyncio.Event()  # never set: the vendor stalls after its first chunk

    async def stalls(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(FakeUpstream.frame(openai_chunks(["first words"])[1]))
        try:
            await release.wait()
        except asyncio.CancelledError:
            site.upstream.aborted += 1
            site.upstream.abort_event.set()
            raise
        return response

    site.upstream.on(SECOND, stalls)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    body = {"model": "chat", "messages": HELLO, "stream": True}
    async with site.http.post(site.url, json=body, headers=headers) as response:
        assert response.status == 200
        first = await response.content.readuntil(b"\n\n")
        assert b"first words" in first
    # The page's Stop aborts its fetch: the gateway hangs up on the vendor.
    await asyncio.wait_for(site.upstream.abort_event.wait(), 10)
    assert site.upstream.aborted == 1


# -- bounds --------------------------------------------------------------------------------------


async def test_a_request_longer_than_the_total_timeout_ends_with_a_504(tmp_path, monkeypatch):
    monkeypatch.setattr(playground, "TOTAL_TIMEOUT", 1.5)  # a bound, not a timing: the vendor never ends
    async with site_on(tmp_path) as site:
        never = asyncio.Event()

        async def hangs(request: web.Request) -> web.StreamResponse:
            await never.wait()
            return web.Response()

        async def starts_then_hangs(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            await response.write(FakeUpstream.frame(openai_chunks(["partial"])[1]))
            await never.wait()
            return response

        site.upstream.on(SECOND, hangs)
        status, data, _ = await site.ask({"model": "chat", "messages": HELLO})
        assert status == 504 and data["error"]["code"] == "playground_timeout"
        assert data["meta"]["route"][0]["target"] == "second/gpt-4o-mini"

        # Mid-stream: the text so far, OpenAI's in-band error, then the meta.
        site.upstream.on(SECOND, starts_then_hangs)
        status, text, _ = await site.ask({"model": "chat", "messages": HELLO, "stream": True})
        assert status == 200
        events = sse_events(text)
        assert streamed_text(events[:-2]) == "partial"
        assert orjson.loads(events[-2][1])["error"]["code"] == "playground_timeout"
        assert events[-1][0] == "sluicegate" and orjson.loads(events[-1][1])["target"] is None


async def test_more_playground_requests_than_run_at_once_get_a_429(tmp_path, monkeypatch):
    monkeypatch.setattr(playground, "MAX_IN_FLIGHT", 1)
    async with site_on(tmp_path) as site:
        release, arrived = asyncio.Event(), asyncio.Event()

        async def waits(request: web.Request) -> web.StreamResponse:
            arrived.set()
            await release.wait()
            return web.json_response(openai_chat_completion("late", usage=USAGE))

        site.upstream.on(SECOND, waits)
        first = asyncio.ensure_future(site.ask({"model": "chat", "messages": HELLO}))
        await asyncio.wait_for(arrived.wait(), 10)
        status, data, _ = await site.ask({"model": "chat", "messages": HELLO})
        assert status == 429 and data["error"]["code"] == "playground_busy"
        release.set()
        status, data, _ = await first
        assert status == 200 and data["answer"]["choices"][0]["message"]["content"] == "late"
        # The slot is free again.
        status, _, _ = await site.ask({"model": "chat", "messages": HELLO})
        assert status == 200


# -- refusals ------------------------------------------------------------------------------------


async def test_the_viewer_token_is_read_only_and_no_token_is_refused(site):
    status, data, _ = await site.ask({"model": "chat", "messages": HELLO}, token=VIEWER_TOKEN)
    assert status == 403 and data["error"]["code"] == "read_only"
    status, data, _ = await site.ask({"model": "chat", "messages": HELLO}, token=None)
    assert status == 401 and data["error"]["code"] == "missing_admin_token"
    # A client key is no admin token either.
    status, data, _ = await site.ask({"model": "chat", "messages": HELLO}, token=CLIENT_TOKEN)
    assert status == 401 and data["error"]["code"] == "invalid_admin_token"
    assert site.vendor_calls() == []


REFUSED = [
    ({"messages": HELLO}, "model"),
    ({"model": "", "messages": HELLO}, "model"),
    ({"model": "has spaces", "messages": HELLO}, "model"),
    ({"model": 7, "messages": HELLO}, "model"),
    ({"model": "chat"}, "messages"),
    ({"model": "chat", "messages": []}, "messages"),
    ({"model": "chat", "messages": "hi"}, "messages"),
    ({"model": "chat", "messages": [{"role": "user", "content": "hi"}] * (MAX_MESSAGES + 1)}, "messages"),
    ({"model": "chat", "messages": ["hi"]}, "messages[0]"),
    ({"model": "chat", "messages": [{"role": "robot", "content": "hi"}]}, "messages[0].role"),
    ({"model": "chat", "messages": [*HELLO, {"role": "user"}]}, "messages[1].content"),
    ({"model": "chat", "messages": [{"role": "user", "content": ["a", "b"]}]}, "messages[0].content"),
    ({"model": "chat", "messages": [{"role": "user", "content": "hi", "name": "x"}]}, "messages[0].name"),
    ({"model": "chat", "messages": HELLO, "max_tokens": 0}, "max_tokens"),
    ({"model": "chat", "messages": HELLO, "max_tokens": MAX_TOKENS + 1}, "max_tokens"),
    ({"model": "chat", "messages": HELLO, "max_tokens": "10"}, "max_tokens"),
    ({"model": "chat", "messages": HELLO, "max_tokens": True}, "max_tokens"),
    ({"model": "chat", "messages": HELLO, "stream": "yes"}, "stream"),
    ({"model": "chat", "messages": HELLO, "temperature": 2}, "temperature"),
]


async def test_bad_bodies_get_a_400_naming_the_field_and_reach_no_vendor(site):
    site.upstream.json(SECOND, openai_chat_completion("never sent"))
    for body, param in REFUSED:
        status, data, _ = await site.ask(body)
        assert status == 400, (body, data)
        assert data["error"]["param"] == param, (body, data)
        assert data["error"]["type"] == "invalid_request_error" and data["error"]["message"]
    status, data, _ = await site.ask(b"{not json")
    assert status == 400 and data["error"]["code"] == "invalid_json"
    status, data, _ = await site.ask(b"[1, 2]")
    assert status == 400 and data["error"]["code"] == "invalid_json"
    status, data, _ = await site.ask(orjson.dumps({"model": "chat", "messages": [
        {"role": "user", "content": "x" * (300 * 1024)}]}))
    assert status == 413
    status, data, _ = await site.ask({"model": "no-such-alias", "messages": HELLO})
    assert status == 404 and data["error"]["code"] == "model_not_found" and data["error"]["param"] == "model"
    assert site.vendor_calls() == []


# -- the page ------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def page_on(browser, site: Site, width: int = 1280) -> AsyncIterator[Page]:
    async with open_page(browser, ViewportSize(width=width, height=844)) as page:
        violations = watch_csp(page)
        await sign_in(page, site.server.base_url, "playground", token=ADMIN_TOKEN)
        yield page
        assert ADMIN_TOKEN not in await page.locator("#page-playground").inner_text()
        assert VENDOR_KEY not in await page.content()
    assert violations == []


def gated(site: Site, path: str, pieces: list[str], gate: asyncio.Event) -> None:
    """The vendor streams its first piece, then waits for ``gate`` before the rest."""
    chunks = openai_chunks(pieces, usage=True)

    async def respond(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        try:
            for chunk in chunks[:2]:
                await response.write(FakeUpstream.frame(chunk))
            await gate.wait()
            for chunk in chunks[2:]:
                await response.write(FakeUpstream.frame(chunk))
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except (asyncio.CancelledError, ConnectionResetError):
            site.upstream.aborted += 1
            site.upstream.abort_event.set()
            raise
        return response

    site.upstream.on(path, respond)


async def test_the_page_streams_an_answer_and_shows_the_route_and_cost(browser, site):
    gate = asyncio.Event()
    gated(site, SECOND, ["Hello ", "from ", "the stream"], gate)
    async with page_on(browser, site) as page:
        area = page.locator("#page-playground")
        await area.get_by_label("Model").select_option("chat")
        await area.get_by_label("Message").fill("Say hello")
        await area.get_by_role("button", name="Send").click()
        answer = area.locator(".turn.assistant .text").last
        # The first piece is on the page while the vendor still holds the rest.
        await expect(answer).to_have_text("Hello")
        await expect(area.get_by_role("button", name="Stop")).to_be_enabled()
        gate.set()
        await expect(answer).to_have_text("Hello from the stream")
        meta = area.locator(".turn.assistant .pg-meta").last
        await expect(meta).to_contain_text("second/gpt-4o-mini")
        await expect(meta).to_contain_text("0.009 USD")
        await expect(meta).to_contain_text("5 in / 2 out")
        await expect(area.get_by_role("button", name="Stop")).to_be_disabled()
        await expect(area.get_by_label("Message")).to_be_focused()
        await expect(area.get_by_label("Message")).to_have_value("")
        # The user's turn is there too, and the conversation goes on with it.
        await expect(area.locator(".turn.user .text").last).to_have_text("Say hello")
        site.upstream.json(SECOND, openai_chat_completion("Second answer", usage=USAGE))
        await area.get_by_label("Stream the answer").uncheck()
        await area.get_by_label("Message").fill("And again")
        await area.get_by_role("button", name="Send").click()
        await expect(area.locator(".turn.assistant .text").last).to_have_text("Second answer")
        sent = site.vendor_calls()[-1].json()["messages"]
        assert sent == [{"role": "user", "content": "Say hello"},
                        {"role": "assistant", "content": "Hello from the stream"},
                        {"role": "user", "content": "And again"}]


async def test_the_page_shows_a_fallback_route_and_a_refused_field(browser, site):
    site.upstream.on(FIRST, vendor_error)
    site.upstream.json(SECOND, openai_chat_completion("Fallback text", usage=USAGE))
    async with page_on(browser, site) as page:
        area = page.locator("#page-playground")
        await area.get_by_label("Model").select_option("resilient")
        await area.get_by_label("Stream the answer").uncheck()
        await area.get_by_label("Message").fill("Hi")
        await area.get_by_role("button", name="Send").click()
        meta = area.locator(".turn.assistant .pg-meta").last
        await expect(meta).to_contain_text("first/gpt-4o-mini")
        await expect(meta).to_contain_text("HTTP 500")
        await expect(meta).to_contain_text("1 retry")
        await expect(meta).to_contain_text("fell back")
        await expect(meta.locator(".route li")).to_have_count(3)
        # A refused field is named beside it, and focus goes there.
        await area.get_by_label("Max tokens").fill(str(MAX_TOKENS + 1))
        await area.get_by_label("Message").fill("Too long an answer")
        await area.get_by_role("button", name="Send").click()
        await expect(area.locator("#pg-max-error")).to_contain_text("max_tokens must be")
        await expect(area.get_by_label("Max tokens")).to_be_focused()
        await expect(area.get_by_label("Max tokens")).to_have_attribute("aria-invalid", "true")
        # The refused message is kept in the box to send again.
        await expect(area.get_by_label("Message")).to_have_value("Too long an answer")
        assert len(site.vendor_calls()) == 3


async def test_stop_aborts_a_slow_stream_and_keeps_what_came(browser, site):
    gate = asyncio.Event()  # never set: only Stop ends this answer
    gated(site, SECOND, ["Partial ", "never shown"], gate)
    async with page_on(browser, site) as page:
        area = page.locator("#page-playground")
        await area.get_by_label("Message").fill("Tell me a long story")
        await area.get_by_label("Message").press("Enter")
        answer = area.locator(".turn.assistant .text").last
        await expect(answer).to_have_text("Partial")
        await area.get_by_role("button", name="Stop").click()
        await asyncio.wait_for(site.upstream.abort_event.wait(), 10)
        await expect(area.locator(".turn.assistant").last).to_contain_text("Stopped")
        await expect(answer).to_have_text("Partial")
        await expect(area.get_by_label("Message")).to_be_focused()
        await expect(area.get_by_role("button", name="Send")).to_be_enabled()
        await expect(area.get_by_role("button", name="Stop")).to_be_disabled()


async def test_the_page_works_by_keyboard_alone(browser, site):
    gate = asyncio.Event()
    gated(site, SECOND, ["Typed ", "and sent"], gate)
    async with page_on(browser, site) as page:
        area = page.locator("#page-playground")
        message = area.get_by_label("Message")
        await expect(area.get_by_label("Model")).to_have_value("chat")
        await expect(page.locator("#playground-title")).to_be_focused()
        # From the heading, Tab reaches the model select first.
        await page.keyboard.press("Tab")
        await expect(area.get_by_label("Model")).to_be_focused()
        await page.keyboard.press("Tab")
        await expect(area.get_by_label("Max tokens")).to_be_focused()
        await page.keyboard.press("Tab")
        await expect(area.get_by_label("Stream the answer")).to_be_focused()
        await page.keyboard.press("Tab")
        await expect(message).to_be_focused()
        # Shift+Enter is a new line; Enter sends.
        await page.keyboard.type("line one")
        await page.keyboard.press("Shift+Enter")
        await page.keyboard.type("line two")
        await expect(message).to_have_value("line one\nline two")
        await page.keyboard.press("Enter")
        await expect(area.locator(".turn.assistant .text").last).to_have_text("Typed")
        gate.set()
        await expect(area.locator(".turn.assistant .text").last).to_have_text("Typed and sent")
        await expect(message).to_be_focused()
        assert site.vendor_calls()[-1].json()["messages"] == [{"role": "user", "content": "line one\nline two"}]
        # The focus ring is visible on the controls.
        outline = await message.evaluate("node => getComputedStyle(node).outlineStyle")
        assert outline != "none"
        # Tab on to Send, Stop (disabled: skipped) and New chat, which empties the conversation.
        await page.keyboard.press("Tab")
        await expect(area.get_by_role("button", name="Send")).to_be_focused()
        await page.keyboard.press("Tab")
        await expect(area.get_by_role("button", name="New chat")).to_be_focused()
        await page.keyboard.press("Enter")
        await expect(area.locator(".turn")).to_have_count(0)
        await expect(message).to_be_focused()


async def test_escape_in_the_message_box_stops_the_answer(browser, site):
    gate = asyncio.Event()
    gated(site, SECOND, ["Halfway ", "there"], gate)
    async with page_on(browser, site) as page:
        area = page.locator("#page-playground")
        message = area.get_by_label("Message")
        await message.fill("Go")
        await message.press("Enter")
        await expect(area.locator(".turn.assistant .text").last).to_have_text("Halfway")
        await message.press("Escape")
        await asyncio.wait_for(site.upstream.abort_event.wait(), 10)
        await expect(area.locator(".turn.assistant").last).to_contain_text("Stopped")
        await expect(message).to_be_focused()


@pytest.mark.parametrize("width", [1280, 390])
async def test_the_page_fits_the_width_and_has_no_axe_violations(browser, site, width, axe_source):
    site.upstream.on(FIRST, vendor_error)
    site.upstream.json(SECOND, openai_chat_completion(
        "A long answer with a-very-long-unbroken-token-" + "x" * 120, usage=USAGE))
    async with page_on(browser, site, width) as page:
        area = page.locator("#page-playground")
        await area.get_by_label("Model").select_option("resilient")
        await area.get_by_label("Message").fill("Hi " + "y" * 200)
        await area.get_by_role("button", name="Send").click()
        await expect(area.locator(".turn.assistant .pg-meta").last).to_contain_text("second/gpt-4o-mini")
        width_now, inner = await page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
        assert width_now <= inner, f"{width_now} > {inner} at {width} px"
        assert await axe_violations(page, axe_source) == []


async def test_a_viewer_is_told_the_playground_needs_the_admin_token(browser, site):
    context = await browser.new_context(viewport={"width": 1280, "height": 844})
    page = await context.new_page()
    page.set_default_timeout(10_000)
    try:
        await page.goto(f"{site.server.base_url}/admin#/playground")
        await page.get_by_label("Admin token").fill(VIEWER_TOKEN)
        await page.get_by_role("button", name="Sign in").click()
        area = page.locator("#page-playground")
        await expect(area).to_contain_text("needs the admin token")
        assert await area.get_by_role("button", name="Send").count() == 0
    finally:
        await context.close()
    assert site.vendor_calls() == []

