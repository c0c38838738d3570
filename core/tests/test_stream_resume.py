"""A stream whose start a reader held back (the router, until the first content) resumes with
those events in front: through one generator for whoever reads ``events``, or taken apart for
the stream writer, which then tells the reply's ``StreamEnd`` how it ended."""

from __future__ import annotations

import pytest

from sluicegate.errors import GatewayError
from sluicegate.exchange import SSEEvent, StreamReply


class End:
    def __init__(self) -> None:
        self.heard: list[object] = []

    def failed(self, error: Exception) -> GatewayError:
        self.heard.append(error)
        return error if isinstance(error, GatewayError) else GatewayError(f"mapped: {error}", status=502)

    def succeeded(self) -> None:
        self.heard.append("ok")


def source(*datas: bytes, fail: Exception | None = None):
    closed = []

    async def events():
        try:
            for data in datas:
                yield SSEEvent(data)
            if fail is not None:
                raise fail
        finally:
            closed.append(True)

    return events(), closed


async def held_back(*datas: bytes, fail: Exception | None = None):
    events, closed = source(*datas, fail=fail)
    reply = StreamReply(events)
    taken = [await events.__anext__()]  # what the router read before the first content
    end = End()
    reply.resume(taken, events, end)
    return reply, end, closed


async def test_a_reader_of_events_gets_the_held_ones_first_and_the_end_is_heard():
    reply, end, _ = await held_back(b"role", b"a", b"b")
    assert [event.data async for event in reply.events] == [b"role", b"a", b"b"]
    assert end.heard == ["ok"]


async def test_an_unforeseen_failure_is_mapped_by_the_end_and_a_gateway_error_passes_as_it_is():
    reply, end, _ = await held_back(b"role", b"a", fail=RuntimeError("boom"))
    with pytest.raises(GatewayError, match="mapped: boom"):
        [event async for event in reply.events]
    assert [type(heard) for heard in end.heard] == [RuntimeError]
    refusal = GatewayError("vendor said no", status=503)
    reply, end, _ = await held_back(b"role", fail=refusal)
    with pytest.raises(GatewayError) as raised:
        [event async for event in reply.events]
    assert raised.value is refusal and end.heard == [refusal]


async def test_the_writer_takes_the_parts_and_a_wrapper_sees_every_event():
    reply, end, _ = await held_back(b"role", b"a")
    held, rest, told = reply.parts()
    assert [event.data for event in held] == [b"role"] and told is end
    assert [event.data async for event in rest] == [b"a"]  # read directly: nothing in between
    assert reply.parts()[0] == []  # taken once
    # A middleware that wraps the events gets the held ones through the getter.
    reply, end, _ = await held_back(b"role", b"a")

    async def upper(events):
        async for event in events:
            yield SSEEvent(event.data.upper())

    reply.events = upper(reply.events)
    assert reply.parts()[0] == [] and reply.parts()[2] is None
    assert [event.data async for event in reply.events] == [b"ROLE", b"A"]
    assert end.heard == ["ok"]


async def test_closing_a_resumed_reply_closes_the_vendors_iterator_too():
    reply, _, closed = await held_back(b"role", b"a", b"b")
    iterator = reply.events
    assert (await iterator.__anext__()).data == b"role"
    await reply.aclose()
    assert closed == [True]
