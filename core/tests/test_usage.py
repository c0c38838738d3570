"""Reading token usage from relayed answers and streams without parsing them whole."""

from __future__ import annotations

import orjson
import pytest

from sluicegate.exchange import Endpoint, GatewayRequest, Reply, SSEEvent
from sluicegate.telemetry import RequestRecord
from sluicegate.usage import StreamUsage, note_usage, reply_usage, request_stream_usage, usage_object

OPENAI = orjson.dumps({
    "id": "chatcmpl-1", "object": "chat.completion",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": 'quote: "usage": {"prompt_tokens": 999} }'}}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46,
              "prompt_tokens_details": {"cached_tokens": 2}, "completion_tokens_details": {"reasoning_tokens": 0}},
    "system_fingerprint": "fp_1",
})


@pytest.mark.parametrize(("data", "expected"), [
    (OPENAI, {"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46,
              "prompt_tokens_details": {"cached_tokens": 2}, "completion_tokens_details": {"reasoning_tokens": 0}}),
    (b'{"usage" :\n  {"input_tokens": 5, "output_tokens": 7}}', {"input_tokens": 5, "output_tokens": 7}),
    (b'{"choices": [], "usage": null}', None),
    (b'{"text": "the word usage alone"}', None),
    (b'{"usage": {"prompt_tokens": 1, "x": {"y": 2}', None),  # cut off: unbalanced, never guessed
    (b'{"usage": {"prompt_tokens": 1}, "more": {"usage": 3}}', {"prompt_tokens": 1}),  # a later non-object key
])
def test_usage_object_is_cut_out_of_the_bytes(data, expected):
    assert usage_object(data) == expected


def counts(usage):
    record = RequestRecord("r", "POST", "/", 0.0, 0.0)
    note_usage(record, usage)
    return record.tokens_in, record.tokens_out, record.tokens_cached, record.tokens_cache_written


def test_reply_usage_reads_bytes_or_an_already_parsed_answer():
    assert counts(reply_usage(Reply(OPENAI))) == (12, 34, 2, None)
    anthropic = {"input_tokens": 3, "cache_read_input_tokens": 4, "cache_creation_input_tokens": 6,
                 "output_tokens": 5}
    assert counts(reply_usage(Reply.from_data({"usage": anthropic}))) == (13, 5, 4, 6)
    assert counts(reply_usage(Reply(b'{"data": []}'))) == (None, None, None, None)


def test_stream_usage_reads_openai_and_anthropic_streams():
    seen = StreamUsage()
    chunk = b'{"choices":[{"delta":{"content":"hi"}}],"usage":null}'
    assert seen.see(SSEEvent(chunk)) is False
    usage_chunk = b'{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4}}'
    assert seen.see(SSEEvent(usage_chunk)) is True  # usage only: may be held back from the client
    assert (seen.prompt, seen.completion) == (9, 4)
    inline = StreamUsage()  # some vendors put usage on the last content chunk
    assert inline.see(SSEEvent(b'{"choices":[{"delta":{}}],"usage":{"prompt_tokens":1,"completion_tokens":2}}')) is False
    assert (inline.prompt, inline.completion) == (1, 2)

    claude = StreamUsage()
    claude.see(SSEEvent(b'{"type":"message_start","message":{"usage":{"input_tokens":20,'
                        b'"cache_read_input_tokens":5,"output_tokens":1}}}', "message_start"))
    claude.see(SSEEvent(b'{"type":"content_block_delta","delta":{"text":"usage"}}', "content_block_delta"))
    claude.see(SSEEvent(b'{"type":"message_delta","usage":{"output_tokens":42}}', "message_delta"))
    assert (claude.prompt, claude.completion, claude.cached, claude.written) == (25, 42, 5, None)
    assert (seen.cached, inline.cached) == (None, None)
    cached = StreamUsage()
    cached.see(SSEEvent(b'{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4,'
                        b'"prompt_tokens_details":{"cached_tokens":8}}}'))
    assert (cached.prompt, cached.cached) == (9, 8)


def test_request_stream_usage_amends_body_and_bytes_once():
    body = {"model": "m", "messages": [], "stream": True, "stream_options": {"x": 1}}
    req = GatewayRequest(Endpoint.CHAT, body, orjson.dumps(body), "m", True, (), add_stream_usage=True)
    request_stream_usage(req)
    assert req.body["stream_options"] == {"x": 1, "include_usage": True}
    assert orjson.loads(req.raw) == req.body
    assert req.add_stream_usage is False
