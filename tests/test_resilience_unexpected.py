"""Resilience, failures nobody foresaw: an adapter raising a plain exception is one target's failure;
the official SDKs through the real server to fake vendors, non-streaming requests
(streams: ``test_resilience_streams.py``; the shared harness and its rules: ``resilience_harness.py``).
"""

from __future__ import annotations

import asyncio
import logging

import anthropic
import orjson
import pytest
from attrs import define
from resilience_harness import (
    MSG,
    A,
    B,
    body,
    config,
    ok,
)

import sluicegate
from sluicegate.exchange import Endpoint, SSEEvent, StreamReply
from sluicegate.provider import Provider, ProviderOptions
from sluicegate.testing import FakeUpstream, openai_chunks

# -- failures nobody foresaw (issue 11, defect 9) --------------------------------------------------
#
# An exception that is not a GatewayError (a library refusing a setting, an adapter bug) is the
# failure of one target: class "unknown" (or timeout/network), the next target is tried, the
# client never gets a bare 500, and the traceback is logged once per target and exception type.

CREDS_PASSWORD = "pw-0f3a9c7e51d2b8"
BROKEN_KEY = "sk-broken-5be1c0de9a7f"


@define(kw_only=True)
class BrokenOptions(ProviderOptions):
    # "send": raises before any answer; "stream": one content chunk, then raises mid-stream;
    # "hang": waits until cancelled; "silent": its stream times out before any content.
    mode: str = "send"


class BrokenProvider(Provider):
    """An adapter with a bug: raises a plain exception that quotes its key."""

    endpoints = frozenset({Endpoint.CHAT})
    requires_key = False

    def __init__(self, name, options: BrokenOptions, services) -> None:
        super().__init__(name, options, services)
        self.entered = asyncio.Event()
        self.cancelled = asyncio.Event()

    async def send(self, ctx, req, target):
        self.entered.set()
        if self.options.mode == "hang":
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        if self.options.mode == "send":
            raise RuntimeError(f"adapter bug while using key {BROKEN_KEY}")

        if self.options.mode == "silent":
            async def nothing():
                raise TimeoutError  # a read that timed out, left unmapped by the adapter
                yield

            return StreamReply(nothing())

        async def events():
            yield SSEEvent.from_data({"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "x",
                                      "choices": [{"index": 0, "delta": {"content": "half"}, "finish_reason": None}]})
            raise RuntimeError(f"adapter bug mid-stream with key {BROKEN_KEY}")

        return StreamReply(events())


class BrokenPlugin:
    @sluicegate.hookimpl
    def register_providers(self, register):
        register("broken", BrokenProvider, options=BrokenOptions)


BROKEN = (("broken", BrokenPlugin()),)


def broken(name: str, mode: str = "send") -> str:
    return f'[providers.{name}]\ntype = "broken"\napi_key = "{BROKEN_KEY}"\nmode = "{mode}"\n'


def errors_logged(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]


async def test_a_base_url_with_credentials_falls_over_to_the_next_target_and_is_logged_once(h, caplog):
    """aiohttp raises ValueError for credentials in a URL next to an Authorization header."""
    caplog.set_level(logging.DEBUG)
    h.up.on(B, ok("from b"))
    extra = (f'[providers.creds]\ntype = "openai"\nbase_url = "http://user:{CREDS_PASSWORD}@127.0.0.1:'
             f'{h.up.port}/a/v1"\napi_key = "sk-creds-00000000000"\n')
    await h.start(config(h.up.url, extra=extra, models='[models.chat]\ntargets = ["creds/m1", "b/m2"]\n'))
    for _ in range(3):
        assert await h.chat() == "from b"
    assert (h.calls(A), h.calls(B)) == (0, 3)
    (report,) = errors_logged(caplog)
    assert "creds/m1" in report and "ValueError" in report and "Traceback" in report
    assert CREDS_PASSWORD not in caplog.text


async def test_an_adapter_raising_a_plain_exception_falls_over_for_both_apis(h, caplog):
    caplog.set_level(logging.DEBUG)
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, extra=broken("bug"), models='[models.chat]\ntargets = ["bug/m", "b/m2"]\n'),
                  extra_plugins=BROKEN)
    assert await h.chat() == "from b"
    message = await h.claude().messages.create(model="chat", max_tokens=20, messages=MSG)
    assert message.content[0].text == "from b"
    assert h.calls(B) == 2
    (report,) = errors_logged(caplog)  # once, though it failed twice
    assert "bug/m" in report and "RuntimeError" in report
    assert BROKEN_KEY not in caplog.text


async def test_a_stream_whose_adapter_raises_before_content_falls_over(h, caplog):
    h.up.on(B, FakeUpstream().sse_responder(openai_chunks(["from ", "b"])))
    await h.start(config(h.up.url, extra=broken("bug"), models='[models.chat]\ntargets = ["bug/m", "b/m2"]\n'),
                  extra_plugins=BROKEN)
    assert await h.stream_text() == "from b"
    assert h.calls(B) == 1
    assert len(errors_logged(caplog)) == 1


async def test_a_stream_that_times_out_before_content_is_a_timeout_and_falls_over(h, caplog):
    """A TimeoutError while the router waits for the first content is the vendor saying nothing
    in time (retryable, no traceback), as the router's own first-content expiry is."""
    h.up.on(B, FakeUpstream().sse_responder(openai_chunks(["from ", "b"])))
    await h.start(config(h.up.url, extra=broken("bug", "silent"), models='[models.chat]\ntargets = ["bug/m", "b/m2"]\n'),
                  extra_plugins=BROKEN)
    assert await h.stream_text() == "from b"
    assert h.calls(B) == 1
    assert errors_logged(caplog) == []


async def test_every_target_failing_unexpectedly_is_a_502_in_each_api_shape(h, caplog):
    caplog.set_level(logging.DEBUG)
    await h.start(config(h.up.url, extra=broken("bug") + broken("bug2"),
                         models='[models.chat]\ntargets = ["bug/m", "bug2/m"]\n'), extra_plugins=BROKEN)
    status, headers, raw = await h.post(body())
    assert status == 502, raw
    assert headers["x-should-retry"] == "false"
    error = orjson.loads(raw)["error"]
    assert (error["type"], error["code"]) == ("upstream_error", "upstream_failed")
    assert "bug/m" in error["message"] and "bug2/m" in error["message"]
    with pytest.raises(anthropic.APIStatusError) as caught:
        await h.claude().messages.create(model="chat", max_tokens=20, messages=MSG)
    assert caught.value.status_code == 502
    assert caught.value.body["type"] == "error"
    # A single target's own error says the most: still a 502, never the edge's bare 500.
    status, _, single = await h.post(body("bug/m"))
    assert status == 502, single
    for text in (raw, single, str(caught.value.body).encode()):
        assert b"Traceback" not in text and BROKEN_KEY.encode() not in text
    assert len(errors_logged(caplog)) == 2  # one per target
    assert BROKEN_KEY not in caplog.text


async def test_an_adapter_raising_mid_stream_ends_the_stream_with_an_in_band_error(h, caplog):
    caplog.set_level(logging.DEBUG)
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, extra=broken("bug", "stream"),
                         models='[models.chat]\ntargets = ["bug/m", "b/m2"]\n'), extra_plugins=BROKEN)
    status, headers, raw = await h.post(body(stream=True))
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    frames = [frame for frame in raw.split(b"\n\n") if frame.strip()]
    assert b'"half"' in frames[0]  # the content the client already has is not sent again
    error = orjson.loads(frames[-1].removeprefix(b"data: "))["error"]
    assert error["code"] == "upstream_error" and "bug" in error["message"]
    assert b"Traceback" not in raw and BROKEN_KEY.encode() not in raw
    assert h.calls(B) == 0  # after content there is no fallback
    (report,) = errors_logged(caplog)
    assert "RuntimeError" in report and BROKEN_KEY not in caplog.text


async def test_a_client_leaving_still_cancels_the_call_and_tries_no_other_target(h):
    h.up.on(B, ok("from b"))
    await h.start(config(h.up.url, extra=broken("stuck", "hang"),
                         models='[models.chat]\ntargets = ["stuck/m", "b/m2"]\n'), extra_plugins=BROKEN)
    stuck = h.server.gateway.current.providers["stuck"]
    request = asyncio.ensure_future(h.post(body()))
    await stuck.entered.wait()
    request.cancel()  # the client hangs up
    await asyncio.wait_for(stuck.cancelled.wait(), 5)
    # A whole request later, a router that swallowed the cancellation would have called b.
    assert await h.chat("b/m2") == "from b"
    assert h.calls(B) == 1
