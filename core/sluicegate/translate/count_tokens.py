"""``/v1/messages/count_tokens`` for vendors that cannot count: an estimate from the request's text.

Anthropic counts with its own tokenizer (the ``anthropic`` provider passes the request through);
every other provider answers with this estimate, marked by the ``x-sluicegate-estimate: true``
response header. About four characters a token is the usual rule for English and code; images
are counted flat at Anthropic's figure for a typical image. The gateway checks only what
routing needs before this, so the estimate checks the conversation's shape itself (as the
bridge does), rather than count something Anthropic would refuse.
"""

from __future__ import annotations

from typing import Any

import orjson

from sluicegate.exchange import Reply
from sluicegate.translate.anthropic_inbound import check_conversation

#: Tokens counted for one image or document block.
IMAGE_TOKENS = 1600
#: Tokens of framing per message (role markers, separators).
MESSAGE_TOKENS = 4
ESTIMATE_HEADER = "x-sluicegate-estimate"


def estimate_input_tokens(body: dict[str, Any]) -> int:
    counter = _Counter()
    counter.content(body.get("system"))
    messages = body.get("messages") or []
    for message in messages:
        if isinstance(message, dict):
            counter.content(message.get("content"))
    tools = body.get("tools")
    if tools:
        counter.chars += len(orjson.dumps(tools))
    return max(1, -(-counter.chars // 4) + MESSAGE_TOKENS * len(messages) + IMAGE_TOKENS * counter.images)


class _Counter:
    __slots__ = ("chars", "images")

    def __init__(self) -> None:
        self.chars = 0
        self.images = 0

    def content(self, content: Any) -> None:
        if isinstance(content, str):
            self.chars += len(content)
        elif isinstance(content, list):
            for block in content:
                if isinstance(block, dict):
                    self.block(block)

    def block(self, block: dict[str, Any]) -> None:
        kind = block.get("type")
        if kind in ("image", "document"):
            self.images += 1
        elif kind == "text":
            self.content(block.get("text"))
        elif kind == "thinking":
            self.content(block.get("thinking"))
        elif kind == "tool_use":
            self.content(block.get("name"))
            self.chars += len(orjson.dumps(block.get("input", {})))
        elif kind == "tool_result":
            self.content(block.get("content"))


async def estimate_count(ctx: Any, req: Any, target: Any) -> Reply:
    """A provider's sender for ``Endpoint.COUNT_TOKENS`` when it has no counting of its own."""
    check_conversation(req.body)
    return Reply.from_data({"input_tokens": estimate_input_tokens(req.body)}, headers={ESTIMATE_HEADER: "true"})
