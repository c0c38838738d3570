"""Token accounting for rate limits: a request's estimated cost and the usage its answer reports."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import orjson

from sluicegate.exchange import Endpoint, GatewayRequest, Reply, SSEEvent
from sluicegate.usage import StreamUsage, reply_usage, usage_counts

#: Estimated tokens for one base64 payload (an image, a file) instead of its size.
BINARY_TOKENS = 1000
#: Operations whose answer is generated text (and so reserve a completion allowance).
GENERATING = frozenset({Endpoint.CHAT, Endpoint.COMPLETIONS, Endpoint.MESSAGES})

# A run this long of base64 characters is a binary payload, not prose (prose has spaces).
_BASE64_RUN = re.compile(rb"[A-Za-z0-9+/=]{1024,}")


def estimate_prompt_tokens(raw: bytes) -> int:
    """About 4 bytes a token over the whole body (tools and schemas cost tokens too), except that
    base64 payloads count ``BINARY_TOKENS`` each: vendors bill images by pixels, not bytes."""
    size = len(raw)
    if b"base64" in raw:
        for run in _BASE64_RUN.finditer(raw):
            size += 4 * BINARY_TOKENS - (run.end() - run.start())
    return -(-size // 4)


def completion_allowance(req: GatewayRequest, default: int) -> int:
    """The most tokens the answer may hold: ``max_completion_tokens``/``max_tokens`` times ``n``."""
    if req.endpoint not in GENERATING:
        return 0
    body = req.body
    limit = body.get("max_completion_tokens")
    if not _count(limit):
        limit = body.get("max_tokens")
    if not _count(limit):
        limit = default
    n = body.get("n")
    return limit * n if _count(n) else limit


def _count(value: Any) -> bool:
    return type(value) is int and value > 0


def reply_tokens(reply: Reply, prompt_estimate: int) -> int | None:
    """What a complete answer cost, from its ``usage``; None when it reports none."""
    prompt, completion = usage_counts(reply_usage(reply))
    if prompt is None and completion is None:
        return None
    return (prompt_estimate if prompt is None else prompt) + (completion or 0)


class StreamMeter:
    """Watches a stream go by: the vendor's usage when it reports one (read by
    ``sluicegate.usage.StreamUsage``), else a count of what was sent.

    The count needs no JSON parsing per event: content bytes are each event's size less its
    envelope (ids, model, index...), which is measured once on the first event carrying text.
    """

    __slots__ = ("usage", "events", "size", "envelope")

    def __init__(self) -> None:
        self.usage = StreamUsage()
        self.events = 0
        self.size = 0
        self.envelope: int | None = None

    async def watch(self, events: AsyncIterator[SSEEvent]) -> AsyncIterator[SSEEvent]:
        async for event in events:
            self.see(event)
            yield event

    def see(self, event: SSEEvent) -> None:
        usage = self.usage
        usage_only = usage.see(event)
        name = event.event
        if name is not None:  # Anthropic's named events: only deltas carry content
            if name == "content_block_delta":
                self._content(event.data)
            return
        if not usage_only and usage.completion is None and event.data != b"[DONE]":
            self._content(event.data)

    def _content(self, data: bytes) -> None:
        self.events += 1
        self.size += len(data)
        if self.envelope is None:
            text = _text_of(_json(data))
            if text:
                self.envelope = len(data) - len(text.encode())

    def tokens(self, prompt_estimate: int) -> int:
        """The stream's cost so far: reported numbers where known, estimates elsewhere."""
        usage = self.usage
        prompt = usage.prompt if usage.prompt is not None else prompt_estimate
        if usage.completion is not None:
            return prompt + usage.completion
        if self.envelope is None:  # no text was ever sent
            return prompt
        content = max(0, self.size - self.events * self.envelope)
        return prompt + -(-content // 4)


def _json(data: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _text_of(chunk: dict[str, Any]) -> str:
    """The generated text of one OpenAI chunk or Anthropic content delta, or ''."""
    delta = chunk.get("delta")
    if isinstance(delta, dict):  # Anthropic content_block_delta
        for name in ("text", "partial_json", "thinking"):
            if isinstance(delta.get(name), str):
                return delta[name]
        return ""
    choices = chunk.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return ""
    choice = choices[0]
    delta = choice.get("delta")
    if isinstance(delta, dict):
        for name in ("content", "reasoning_content", "refusal"):
            if isinstance(delta.get(name), str) and delta[name]:
                return delta[name]
        return ""
    text = choice.get("text")  # legacy completions
    return text if isinstance(text, str) else ""


# -- headers ----------------------------------------------------------------------------------
