"""The ``[degrade]`` answer: a normal-looking completion saying the service is unavailable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sluicegate.exchange import DONE, Endpoint, GatewayRequest, Reply, Result, SSEEvent, StreamReply


def degraded_reply(req: GatewayRequest, message: str) -> Result | None:
    """The message as the client's API would answer it; None for operations it does not fit."""
    if req.endpoint is Endpoint.CHAT:
        return _chat_stream(req.model, message) if req.stream else Reply.from_data(_chat(req.model, message))
    if req.endpoint is Endpoint.MESSAGES:
        return _messages_stream(req.model, message) if req.stream else Reply.from_data(_message(req.model, message))
    return None


def _chat(model: str, message: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-degraded",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": message}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


def _chat_stream(model: str, message: str) -> StreamReply:
    base = {"id": "chatcmpl-degraded", "object": "chat.completion.chunk", "created": 0, "model": model}

    async def events() -> AsyncIterator[SSEEvent]:
        yield SSEEvent.from_data(
            {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": message},
                                  "finish_reason": None}]}
        )
        yield SSEEvent.from_data({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        yield DONE

    return StreamReply(events())


def _message(model: str, message: str) -> dict[str, Any]:
    return {
        "id": "msg_degraded",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": message}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 0, "output_tokens": 0},
    }


def _messages_stream(model: str, message: str) -> StreamReply:
    start = _message(model, message)
    start["content"] = []
    start["stop_reason"] = None
    sequence = [
        ("message_start", {"type": "message_start", "message": start}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": message}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                           "usage": {"output_tokens": 0}}),
        ("message_stop", {"type": "message_stop"}),
    ]

    async def events() -> AsyncIterator[SSEEvent]:
        for name, data in sequence:
            yield SSEEvent.from_data(data, name)

    return StreamReply(events())
