"""Token accounting for rate limits: a request's estimated cost and the usage its answer reports.

A stream's cost is read by the request's stream observer (``sluicegate.usage.StreamObserver``).
"""

from __future__ import annotations

import re
from typing import Any

from sluicegate.exchange import Endpoint, GatewayRequest, Reply
from sluicegate.translate.gemini_dialect import pick
from sluicegate.usage import usage_counts

#: Estimated tokens for one base64 payload (an image, a file) instead of its size.
BINARY_TOKENS = 1000
#: Operations whose answer is generated text (and so reserve a completion allowance).
GENERATING = frozenset(
    {Endpoint.CHAT, Endpoint.COMPLETIONS, Endpoint.MESSAGES, Endpoint.RESPONSES, Endpoint.GENERATE_CONTENT}
)

# A run this long of base64 characters is a binary payload, not prose (prose has spaces).
_BASE64_RUN = re.compile(rb"[A-Za-z0-9+/=]{1024,}")


def estimate_prompt_tokens(raw: bytes) -> int:
    """About 4 bytes a token over the whole body (tools and schemas cost tokens too), except that
    base64 payloads count ``BINARY_TOKENS`` each: vendors bill images by pixels, not bytes."""
    size = len(raw)
    if raw.find(b"base64") != -1:  # find, not `in` (sluicegate.sse.SSEDecoder.feed says why)
        for run in _BASE64_RUN.finditer(raw):
            size += 4 * BINARY_TOKENS - (run.end() - run.start())
    return -(-size // 4)


#: Each generating operation's own cap, read after ``max_completion_tokens`` (Gemini's is nested).
_CAPS = {Endpoint.CHAT: "max_tokens", Endpoint.COMPLETIONS: "max_tokens", Endpoint.MESSAGES: "max_tokens",
         Endpoint.RESPONSES: "max_output_tokens"}
_GENERATE_CONTENT = Endpoint.GENERATE_CONTENT  # a module name: reading it off the enum costs more


def completion_allowance(req: GatewayRequest, default: int) -> int:
    """The most tokens the answer may hold: ``max_completion_tokens``/``max_tokens`` (the Responses
    API's ``max_output_tokens``, Gemini's ``generationConfig.maxOutputTokens``) times ``n``
    (Gemini's ``candidateCount``)."""
    cap = _CAPS.get(req.endpoint)
    if cap is None:
        return _gemini_allowance(req.body, default) if req.endpoint is _GENERATE_CONTENT else 0
    # _count written out: this runs for every generating request a budget or limit looks at.
    body = req.body
    limit = body.get("max_completion_tokens")
    if not (type(limit) is int and limit > 0):
        limit = body.get(cap)
        if not (type(limit) is int and limit > 0):
            limit = default
    n = body.get("n")
    return limit * n if type(n) is int and n > 0 else limit


def _gemini_allowance(body: dict[str, Any], default: int) -> int:
    config = pick(body, "generationConfig")
    if not isinstance(config, dict):
        return default
    limit, n = pick(config, "maxOutputTokens"), pick(config, "candidateCount")
    limit = limit if _count(limit) else default
    return limit * n if _count(n) else limit


def _count(value: Any) -> bool:
    return type(value) is int and value > 0


def reply_tokens(reply: Reply, prompt_estimate: int) -> int | None:
    """What a complete answer cost, from its ``usage``; None when it reports none."""
    prompt, completion = usage_counts(reply.usage)
    if prompt is None and completion is None:
        return None
    return (prompt_estimate if prompt is None else prompt) + (completion or 0)
