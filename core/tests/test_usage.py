"""Reading token usage from relayed answers and streams without parsing them whole, each event
looked at once for everyone (the stream observer)."""

from __future__ import annotations

import orjson
import pytest

from sluicegate.exchange import Endpoint, GatewayRequest, Reply, RequestContext, SSEEvent, StreamReply, Target
from sluicegate.telemetry import NO_RECORD, RequestRecord
from sluicegate.usage import StreamUsage, usage_object

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


def counts(reply):
    record = RequestRecord("r", "POST", "/", 0.0, 0.0)
    record.note_reply(reply)
    return record.tokens_in, record.tokens_out, record.tokens_cached, record.tokens_cache_written


def test_reply_usage_reads_bytes_or_an_already_parsed_answer():
    assert counts(Reply(OPENAI)) == (12, 34, 2, None)
    anthropic = {"input_tokens": 3, "cache_read_input_tokens": 4, "cache_creation_input_tokens": 6,
                 "output_tokens": 5}
    assert counts(Reply.from_data({"usage": anthropic})) == (13, 5, 4, 6)
    assert counts(Reply(b'{"data": []}')) == (None, None, None, None)


def test_a_replys_usage_is_read_once_for_everyone_and_again_after_a_change():
    reply = Reply(OPENAI)
    first = reply.usage
    assert reply.usage is first  # the record and the rate limits share one parse
    reply.replace_data({"usage": {"prompt_tokens": 1}})
    assert reply.usage == {"prompt_tokens": 1}


def test_the_null_record_drops_what_it_is_given():
    NO_RECORD.tokens_in = 5
    NO_RECORD.note_reply(Reply(OPENAI))
    assert not NO_RECORD.watching and not hasattr(NO_RECORD, "tokens_in")


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


def chunks(*datas: bytes):
    async def events():
        for data in datas:
            yield SSEEvent(data)
    return StreamReply(events())


async def test_one_observer_per_request_sees_each_event_once_and_marks_the_hidden_usage_chunk():
    ctx = RequestContext("r", None, None, 0.0)  # type: ignore[arg-type]
    reply = chunks(b'{"choices":[{"delta":{"content":"hello there"}}]}',
                   b'{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4}}', b"[DONE]")
    inner = ctx.observe(reply, count_content=True)  # a token limit asks first (inner in the chain)
    assert ctx.writer_observer(hide_usage=True) is None  # the writer, for the record: already watched
    assert ctx.facts.stream is inner and inner.hide_usage
    seen = [(event.data, event.hidden) async for event in reply]
    assert [hidden for _, hidden in seen] == [False, True, False]  # the writer skips the hidden one
    assert (inner.usage.prompt, inner.usage.completion, inner.ended) == (9, 4, True)
    assert inner.tokens(100) == 13  # reported numbers win over the estimate
    record = RequestRecord("r", "POST", "/", 0.0, 0.0)
    record.note_stream(ctx.facts.stream)
    assert (record.tokens_in, record.tokens_out) == (9, 4)


def test_without_an_observer_in_the_chain_the_writer_feeds_one_itself():
    ctx = RequestContext("r", None, None, 0.0)  # type: ignore[arg-type]
    observer = ctx.writer_observer(hide_usage=True)
    assert observer is not None and ctx.facts.stream is observer
    assert observer.see(SSEEvent(b'{"choices":[],"usage":{"prompt_tokens":2,"completion_tokens":1}}')) is True
    assert NO_RECORD.stream_observer(ctx, True) is None  # nobody watches: nothing is read


def test_a_content_count_asked_for_before_the_call_is_kept_by_whoever_makes_the_observer():
    # A budget reservation asks before the answer exists (facts.count_content), so its
    # middleware need not stay in the chain: the writer's own observer counts, or the chain's.
    for chain_first in (False, True):
        ctx = RequestContext("r", None, None, 0.0)  # type: ignore[arg-type]
        ctx.facts.count_content = True
        if chain_first:
            ctx.observe(chunks(b"[DONE]"))
        observer = ctx.facts.stream if chain_first else ctx.writer_observer(hide_usage=False)
        assert observer is not None and observer.count_content
        observer.see(SSEEvent(b'{"choices":[{"delta":{"content":"hello there"}}]}'))
        assert observer.tokens(5) > 5  # the prompt estimate and what was sent


def test_the_stream_usage_the_edge_asks_for_is_applied_in_the_targets_one_copy():
    body = {"model": "m", "messages": [], "stream": True, "stream_options": {"x": 1}}
    raw = orjson.dumps(body)
    req = GatewayRequest(Endpoint.CHAT, body, raw, "m", True, (), stream_usage=True)
    target = Target(None, "m", "p/m")  # type: ignore[arg-type]
    sent = req.for_target(target)
    assert sent.body["stream_options"] == {"x": 1, "include_usage": True}
    assert orjson.loads(sent.wire) == sent.body
    assert req.body["stream_options"] == {"x": 1} and req.wire is raw  # the client's request is untouched


def test_hour_long_cache_writes_are_read_from_anthropic_usage():
    from sluicegate.usage import hour_cache_writes

    usage = {"input_tokens": 10, "cache_creation_input_tokens": 300, "cache_read_input_tokens": 0,
             "cache_creation": {"ephemeral_5m_input_tokens": 200, "ephemeral_1h_input_tokens": 100}}
    assert hour_cache_writes(usage) == 100
    assert hour_cache_writes({"cache_creation_input_tokens": 300}) is None
    assert hour_cache_writes({"cache_creation": {"ephemeral_1h_input_tokens": -1}}) is None
    assert hour_cache_writes(None) is None
