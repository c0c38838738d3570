"""The event-stream framing: the fake's encoder against botocore's published frames, and the
decoder (botocore's ``EventStreamBuffer``) as the provider reads a stream in arbitrary pieces."""

from __future__ import annotations

import orjson
import pytest

from sluicegate_bedrock import anthropic_native
from sluicegate_bedrock.eventstream import ERROR_EVENT, FramingError, iter_events
from sluicegate_bedrock.fake import chunk, event, exception, frame

# Two frames of botocore's own decoder tests (tests/unit/test_eventstream.py), whose framing
# the AWS event-stream specification defines.
ONE_STRING_HEADER = (
    b"\x00\x00\x00=\x00\x00\x00 \x07\xfd\x83\x96\x0ccontent-type\x07\x00\x10"
    b"application/json{'foo':'bar'}\x8d\x9c\x08\xb1"
)
ERROR_MESSAGE = (
    b"\x00\x00\x00\x52\x00\x00\x00\x42\xbf\x23\x63\x7e"
    b"\x0d:message-type\x07\x00\x05error"
    b"\x0b:error-code\x07\x00\x04code"
    b"\x0e:error-message\x07\x00\x07message"
    b"\x6b\x6c\xea\x3d"
)


def test_the_fake_frames_messages_byte_for_byte_as_the_specification_does():
    assert frame({"content-type": "application/json"}, b"{'foo':'bar'}") == ONE_STRING_HEADER
    assert frame({":message-type": "error", ":error-code": "code", ":error-message": "message"}, b"") == ERROR_MESSAGE


async def pieces(data: bytes, size: int):
    for start in range(0, len(data), size):
        yield data[start:start + size]


async def decode(data: bytes, size: int = 7):
    return [item async for item in iter_events(pieces(data, size))]


@pytest.mark.parametrize("size", [1, 5, 64, 10_000])
async def test_events_come_out_whole_however_the_bytes_arrive(size):
    data = event("messageStart", {"role": "assistant"}) + event(
        "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hé"}}
    )
    events = await decode(data, size)
    assert [item.event for item in events] == ["messageStart", "contentBlockDelta"]
    assert orjson.loads(events[1].data)["delta"] == {"text": "Hé"}


async def test_an_exception_becomes_an_error_event_with_its_type():
    (item,) = await decode(exception("throttlingException", "Too many tokens, please wait before trying again."))
    assert item.event == ERROR_EVENT
    assert orjson.loads(item.data) == {
        "message": "Too many tokens, please wait before trying again.", "__type": "throttlingException",
    }


async def test_a_protocol_error_message_becomes_an_error_event():
    (item,) = await decode(ERROR_MESSAGE)
    assert item.event == ERROR_EVENT
    assert orjson.loads(item.data) == {"__type": "code", "message": "message"}


async def test_a_corrupted_frame_is_a_framing_error():
    data = bytearray(event("messageStart", {"role": "assistant"}))
    data[-6] ^= 0xFF  # a payload byte: the message CRC no longer matches
    with pytest.raises(FramingError):
        await decode(bytes(data))


async def test_a_stream_cut_inside_a_message_just_ends():
    data = event("messageStart", {"role": "assistant"}) + event("messageStop", {"stopReason": "end_turn"})[:20]
    assert [item.event for item in await decode(data)] == ["messageStart"]


async def test_invoke_chunks_carry_anthropic_events():
    start = {"type": "message_start", "message": {"id": "msg_bdrk_1", "role": "assistant", "content": []}}
    (item,) = await decode(chunk(start))
    assert item.event == "chunk"
    relayed = anthropic_native.chunk_event(item.data)
    assert relayed.event == "message_start"
    assert orjson.loads(relayed.data) == start


@pytest.mark.parametrize("payload", [b"{}", b'{"bytes": "%%%"}', b'{"bytes": "e30="}', b"[1]"])
def test_a_chunk_that_is_not_one_fails(payload):
    with pytest.raises(anthropic_native.CHUNK_FAILURES):
        anthropic_native.chunk_event(payload)
