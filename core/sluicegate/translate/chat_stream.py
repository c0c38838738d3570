"""What every bridge onto chat reads back: a chat answer's stream as chunks, and the error for an
answer that is not a chat completion."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from sluicegate.errors import UpstreamError
from sluicegate.exchange import StreamReply


def not_a_completion(provider: str) -> UpstreamError:
    """A provider's answer the bridge cannot read as chat (a retryable upstream failure)."""
    return UpstreamError(
        f"provider {provider!r} answered with something that is not a chat completion",
        provider=provider,
        code="upstream_bad_response",
    )


async def chat_chunks(reply: StreamReply, provider: str) -> AsyncIterator[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects of ``reply``, up to ``[DONE]``."""
    async for event in reply.events:
        if event.is_done:
            return
        try:
            chunk = event.json()
        except orjson.JSONDecodeError:
            raise not_a_completion(provider) from None
        if not isinstance(chunk, dict):
            raise not_a_completion(provider)
        yield chunk
