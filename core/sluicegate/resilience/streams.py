"""How the router treats a stream: what counts as its first content, replaying what was held
back, and the breaker verdict a stream gives when it ends."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from sluicegate.errors import GatewayError
from sluicegate.exchange import SSEEvent
from sluicegate.resilience.classify import TRAITS, classify


def openai_preamble(event: SSEEvent) -> bool:
    """An OpenAI chunk that carries no content yet (the role-only first chunk)."""
    data = event.data
    if not data.startswith(b"{") or data.find(b'"choices"') == -1:  # find, not `in` (sluicegate.sse.SSEDecoder.feed says why)
        return False
    # The usual first content says so in its bytes (text that is not empty), with no parse.
    at = data.find(b'"content":"')
    if at != -1 and data[at + 11:at + 12] != b'"':
        return False
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    choices = chunk.get("choices") if isinstance(chunk, dict) else None
    if not choices or not isinstance(choices, list):
        return False
    for choice in choices:
        if not isinstance(choice, dict) or choice.get("finish_reason"):
            return False
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            return False
        if delta.get("content") or delta.get("tool_calls") or delta.get("reasoning_content") or delta.get("refusal"):
            return False
    return True


class Expiry:
    """What ``asyncio.timeout`` does for the wait for a stream's first content, at a fraction of
    its cost: on Python 3.11 each ``asyncio.timeout`` makes three ``getpid()`` system calls
    (``get_running_loop`` checks for a fork) and five Python calls, on every stream.

    Cancels the current task of ``loop`` after ``delay`` seconds; ``close()`` stops the timer
    and says whether a ``CancelledError`` now is the expiry's own (to be turned into a
    timeout) rather than someone else's cancellation, which must go on up."""

    __slots__ = ("task", "cancelling", "handle", "fired")

    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float) -> None:
        task = asyncio.current_task(loop)  # with the loop given: no system call
        assert task is not None
        self.task = task
        self.cancelling = task.cancelling()
        self.fired = False
        self.handle = loop.call_later(delay, self._fire)

    def _fire(self) -> None:
        self.fired = True
        self.task.cancel()

    def close(self) -> bool:
        self.handle.cancel()
        # As asyncio.Timeout: the cancellation it made is taken back, and only when no other
        # was asked for meanwhile is the CancelledError the expiry's.
        return self.fired and self.task.uncancel() <= self.cancelling


ANTHROPIC_PREAMBLE = frozenset({"message_start", "ping", "content_block_start"})


def anthropic_preamble(event: SSEEvent) -> bool:
    return event.event in ANTHROPIC_PREAMBLE


class StreamVerdict:
    """A stream's breaker verdict, which comes when it ends: a clean end is a success, a break
    (even after content, which is not retried) a failure, so a vendor that always fails after one
    token leaves rotation; a stream abandoned by its client gives no verdict. The router's
    replay of the stream reports to it (no generator of its own per event); ``abandon`` runs
    when the reply is closed."""

    __slots__ = ("breaker", "settled")

    def __init__(self, breaker: Any) -> None:
        self.breaker = breaker
        self.settled = False

    def failed(self, error: GatewayError) -> None:
        if not self.settled:
            self.settled = True
            if TRAITS[classify(error)].counts_for_breaker:
                self.breaker.record_failure(error.retry_after)
            else:
                self.breaker.release()

    def succeeded(self) -> None:
        if not self.settled:
            self.settled = True
            self.breaker.record_success()

    def abandon(self) -> None:
        # Runs when the reply is closed; a stream that ended has already given its verdict.
        if not self.settled:
            self.settled = True
            self.breaker.release()
