"""What the router needs of a stream's start: which OpenAI chunks are still preamble (no content
yet), and the expiry that bounds the wait for the first content."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from sluicegate.exchange import SSEEvent
from sluicegate.resilience import streams
from sluicegate.resilience.streams import Expiry, openai_preamble


def chunk(delta, finish=None) -> SSEEvent:
    return SSEEvent(orjson.dumps({"id": "c", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}))


@pytest.mark.parametrize(("event", "preamble"), [
    (chunk({"role": "assistant", "content": ""}), True),
    (chunk({"role": "assistant", "content": None, "refusal": None}), True),
    (chunk({"content": "Hi"}), False),
    (chunk({"content": ""}, finish="stop"), False),
    (chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"content":"x"}'}}]}), False),
    (chunk({"reasoning_content": "thinking"}), False),
    (SSEEvent(b'{"id":"c","choices":[]}'), False),
    (SSEEvent(b"[DONE]"), False),
])
def test_what_is_still_preamble(event, preamble):
    assert openai_preamble(event) is preamble


def test_text_is_content_without_a_parse(monkeypatch):
    def refuse(_data):
        raise AssertionError("parsed")

    monkeypatch.setattr(streams.orjson, "loads", refuse)
    assert openai_preamble(chunk({"content": "Hi"})) is False
    with pytest.raises(AssertionError):
        openai_preamble(chunk({"role": "assistant", "content": ""}))  # an empty one is looked into


async def test_an_expiry_cancels_the_wait_and_owns_that_cancellation():
    loop = asyncio.get_running_loop()
    expiry = Expiry(loop, 0.01)
    with pytest.raises(asyncio.CancelledError):
        await asyncio.sleep(5)
    assert expiry.close() is True
    assert asyncio.current_task().cancelling() == 0  # taken back: the task goes on uncancelled
    await asyncio.sleep(0)


async def test_a_wait_done_in_time_stops_the_timer():
    expiry = Expiry(asyncio.get_running_loop(), 0.05)
    await asyncio.sleep(0)
    assert expiry.close() is False
    await asyncio.sleep(0.1)  # nothing fires later


async def test_someone_elses_cancellation_is_not_the_expirys():
    async def waiting():
        expiry = Expiry(asyncio.get_running_loop(), 0.05)
        try:
            await asyncio.sleep(5)
        finally:
            owned.append(expiry.close())

    owned: list[bool] = []
    task = asyncio.create_task(waiting())
    await asyncio.sleep(0.01)
    task.cancel()  # the client left, say
    with pytest.raises(asyncio.CancelledError):
        await task
    assert owned == [False]


async def test_a_cancellation_beside_the_expirys_goes_on_up():
    task = asyncio.current_task()
    expiry = Expiry(asyncio.get_running_loop(), 10)
    expiry._fire()  # the delay passed...
    task.cancel()  # ...and someone else cancelled the wait as well
    with pytest.raises(asyncio.CancelledError):
        await asyncio.sleep(1)
    assert expiry.close() is False  # not the expiry's alone: the CancelledError must go on
    assert task.uncancel() == 0  # (the other cancellation, taken back here to end the test)
