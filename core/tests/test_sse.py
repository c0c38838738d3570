"""The SSE parser: arbitrary chunk boundaries, CRLF/CR line ends, fields, comments and framing."""

from __future__ import annotations

import pytest

from sluicegate.exchange import DONE, SSEEvent
from sluicegate.sse import iter_sse, parse_block

STREAM = (
    b": keep-alive comment\n\n"
    b'data: {"a": 1}\n\n'
    b"event: message_start\n"
    b'data: {"type": "message_start"}\n\n'
    b"data: line one\n"
    b"data: line two\n\n"
    b"id: 7\n"
    b"retry: 100\n"
    b"data:no-space\n\n"
    b"data: [DONE]\n\n"
)
EXPECTED = [
    SSEEvent(b'{"a": 1}'),
    SSEEvent(b'{"type": "message_start"}', "message_start"),
    SSEEvent(b"line one\nline two"),
    SSEEvent(b"no-space"),
    SSEEvent(b"[DONE]"),
]


async def collect(chunks: list[bytes]) -> list[SSEEvent]:
    async def source():
        for chunk in chunks:
            yield chunk

    return [event async for event in iter_sse(source())]


def split_every(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


async def test_whole_stream_in_one_chunk():
    events = await collect([STREAM])
    assert events == EXPECTED
    # All but the last say more follow at once, so a writer can send them in one write.
    assert [event.more for event in events] == [True] * (len(EXPECTED) - 1) + [False]


async def test_events_of_separate_reads_are_not_held():
    events = await collect(split_every(STREAM, 1))
    assert not any(event.more for event in events)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 13])
async def test_events_survive_any_chunk_boundaries(size):
    assert await collect(split_every(STREAM, size)) == EXPECTED


async def test_any_split_into_two_reads_gives_the_same_events():
    # Reads of single-line events take a shortcut (one split, no search per event); a read that
    # also holds a multi-line event, or the start of one, must not.
    body = (b'data: {"n": 1}\n\ndata: {"n": 2}\n\n: ping\n\nevent: message_delta\ndata: {"n": 3}\n\n'
            b"data: a\ndata: b\n\ndata: [DONE]\n\n")
    whole = await collect([body])
    assert whole == [SSEEvent(b'{"n": 1}'), SSEEvent(b'{"n": 2}'), SSEEvent(b'{"n": 3}', "message_delta"),
                     SSEEvent(b"a\nb"), SSEEvent(b"[DONE]")]
    for cut in range(1, len(body)):
        assert await collect([body[:cut], body[cut:]]) == whole, cut


@pytest.mark.parametrize("size", [1, 2, 3, 4, 7, 50])
async def test_crlf_line_endings(size):
    assert await collect(split_every(STREAM.replace(b"\n", b"\r\n"), size)) == EXPECTED


@pytest.mark.parametrize("size", [1, 2, 3, 50])
async def test_cr_line_endings(size):
    assert await collect(split_every(STREAM.replace(b"\n", b"\r"), size)) == EXPECTED


async def test_crlf_split_between_chunks_is_one_line_end():
    chunks = [b"data: a\r", b"\n\r", b"\ndata: b\r\n", b"\r\n"]
    assert await collect(chunks) == [SSEEvent(b"a"), SSEEvent(b"b")]


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
async def test_event_is_dispatched_at_its_blank_line_without_waiting_for_more_data(ending):
    # The blank line ends the event; a final CR must not hold it back until the next chunk.
    produced: list[str] = []

    async def source():
        produced.append("first")
        yield b"data: 1" + ending + ending
        produced.append("second")
        yield b"data: 2" + ending + ending

    events = iter_sse(source())
    first = await anext(events)
    assert (first, produced) == (SSEEvent(b"1"), ["first"])
    await events.aclose()


async def test_trailing_event_without_blank_line_is_yielded():
    assert await collect([b"data: 1\n\ndata: last\n"]) == [SSEEvent(b"1"), SSEEvent(b"last")]
    assert await collect([b"data: last"]) == [SSEEvent(b"last")]
    assert await collect([b"data: last\r\n"]) == [SSEEvent(b"last")]


async def test_comment_only_stream_yields_nothing():
    assert await collect([b": ping\n\n: ping\n\n", b"\n\n"]) == []


def test_parse_block_fields():
    assert parse_block(b"event: delta\ndata: x\ndata:  y") == SSEEvent(b"x\n y", "delta")
    assert parse_block(b"data: only") == SSEEvent(b"only")
    assert parse_block(b": comment\nid: 3") is None
    assert parse_block(b"event: ping") == SSEEvent(b"", "ping")


@pytest.mark.parametrize(
    "event",
    [
        SSEEvent(b'{"x": 1}'),
        SSEEvent(b"a\nb\n\nc"),
        SSEEvent(b" leading space"),
        SSEEvent(b""),
        SSEEvent(b"with: colon", "named"),
        SSEEvent.from_data({"type": "content_block_delta", "text": "hi\nthere"}, "content_block_delta"),
        DONE,
    ],
)
async def test_frame_round_trips_through_the_parser(event):
    frame = event.frame()
    assert frame.endswith(b"\n\n")
    assert parse_block(frame[:-2]) == event
    assert await collect(split_every(frame * 2, 3)) == [event, event]


def test_frame_format():
    assert SSEEvent(b"a\nb", "ev").frame() == b"event: ev\ndata: a\ndata: b\n\n"
    assert DONE.frame() == b"data: [DONE]\n\n"
    assert DONE.is_done and not SSEEvent(b"{}").is_done
    assert SSEEvent(b'{"k": [1]}').json() == {"k": [1]}


async def test_an_event_is_framed_as_it_arrived_until_it_is_named():
    [event] = await collect([b'data: {"type":"response.created"}\n\n'])
    assert event.frame() == b'data: {"type":"response.created"}\n\n'
    event.event = "response.created"  # the Responses relay names unnamed events on the way
    assert event.frame() == b'event: response.created\ndata: {"type":"response.created"}\n\n'
