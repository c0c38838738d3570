"""Gemini's ``:countTokens`` for vendors that cannot count: an estimate from the request's text.

A Gemini provider counts with Google's tokenizer (it passes the request through); every other
provider answers ``{"totalTokens": N}`` from this estimate, marked by the
``x-sluicegate-estimate: true`` response header, as ``/v1/messages/count_tokens`` is
(``sluicegate.translate.count_tokens``): about four characters a token, a flat figure per
image or file, a few tokens of framing per turn. The body is either ``contents`` alone or a
whole ``generateContentRequest`` (its system instruction and tools count too); its contents
are checked for their shape first, as Google checks them.
"""

from __future__ import annotations

from typing import Any

import orjson

from sluicegate.exchange import Reply
from sluicegate.translate.count_tokens import ESTIMATE_HEADER, MESSAGE_TOKENS
from sluicegate.translate.gemini_dialect import pick, repeated
from sluicegate.translate.gemini_inbound import count_request

#: Tokens counted for one image or file part: Gemini's own figure for an image up to 384 pixels
#: a side (larger ones are tiled, at this much a tile).
MEDIA_TOKENS = 258


def estimate_total_tokens(request: dict[str, Any]) -> int:
    """The estimate for a ``generateContentRequest`` (or a body with only ``contents``)."""
    counter = _Counter()
    system = pick(request, "systemInstruction")
    if isinstance(system, dict):
        counter.parts(repeated(system.get("parts")))
    elif isinstance(system, str):
        counter.chars += len(system)
    contents = repeated(request.get("contents")) or []
    for content in contents:
        if isinstance(content, dict):
            counter.parts(repeated(content.get("parts")))
    tools = request.get("tools")
    if tools:
        counter.chars += len(orjson.dumps(tools))
    return max(1, -(-counter.chars // 4) + MESSAGE_TOKENS * len(contents) + MEDIA_TOKENS * counter.media)


class _Counter:
    __slots__ = ("chars", "media")

    def __init__(self) -> None:
        self.chars = 0
        self.media = 0

    def parts(self, parts: Any) -> None:
        for part in parts if isinstance(parts, list) else ():
            if isinstance(part, dict):
                self.part(part)

    def part(self, part: dict[str, Any]) -> None:
        text = pick(part, "text")
        if isinstance(text, str):
            self.chars += len(text)
        elif pick(part, "inlineData") is not None or pick(part, "fileData") is not None:
            self.media += 1
        else:
            for kind in ("functionCall", "functionResponse"):
                value = pick(part, kind)
                if isinstance(value, dict):
                    self.chars += len(orjson.dumps(value))


async def estimate_count(ctx: Any, req: Any, target: Any) -> Reply:
    """A provider's sender for ``Endpoint.GEMINI_COUNT_TOKENS`` when it has no counting of its own."""
    request = count_request(req.body)
    return Reply.from_data({"totalTokens": estimate_total_tokens(request)}, headers={ESTIMATE_HEADER: "true"})
