"""Serve the OpenAI Responses API through a provider that only speaks OpenAI chat.

The request is translated once per attempt, before the provider is called (a request the
bridge cannot take is a 400 with nothing sent), sent with ``provider.send`` as a chat request
without the client's own headers (``client_headers.TRANSLATED``: Codex's ``x-codex-*``,
``originator``, session ids, ...), and the answer translated back, stream included. What
the entrance (``POST /v1/responses``) and this bridge share is a ``ResponsesTurn``, the
request's state under ``TURN``:

- ``stamp``: the ``ResponseStamp`` (response id, creation time). The entrance makes the turn
  before routing, to know the id it stores the response under; when there is none the bridge
  makes one (``resp_<uuid hex>``) at the first attempt and leaves it there, so retries and
  fallbacks answer with the same id.
- ``final``: a stream's final Response, set just before its ``response.completed`` (or
  ``.incomplete``) event is yielded, so the entrance can store it before that event's bytes
  reach the client. A complete answer is the Reply's data itself.
- ``broken``: the ``ChatToResponseStream`` of a stream that broke, set just before its
  ``GatewayError`` is raised; the edge renders the failure in band with its ``fail(error)``,
  whose ``response.failed`` is numbered after the events already sent.

The reply names the built-in tools left out of the call in ``x-sluicegate-dropped-tools``.
A stream's ``response.created`` and ``response.in_progress`` are held back until the vendor's
first content, so that the router's first-byte wait (and its failover) still sees a vendor
that stalls.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from attrs import define, frozen

from sluicegate.client_headers import translated_context
from sluicegate.errors import GatewayError
from sluicegate.exchange import (
    Adapter,
    Endpoint,
    GatewayRequest,
    Reply,
    RequestContext,
    Result,
    Sender,
    SSEEvent,
    StateKey,
    StreamReply,
    Target,
)
from sluicegate.translate.chat_stream import chat_chunks, not_a_completion
from sluicegate.translate.responses_answer import chat_to_response
from sluicegate.translate.responses_chat import responses_to_chat
from sluicegate.translate.responses_stream import ChatToResponseStream, Event
from sluicegate.translate.responses_tools import Tools, dropped_builtin_tools

DROPPED_TOOLS_HEADER = "x-sluicegate-dropped-tools"


@frozen
class ResponseStamp:
    """The id and creation time of one Response, the same across every attempt to make it."""

    id: str
    created_at: int

    @classmethod
    def new(cls, clock: Callable[[], float] = time.time) -> ResponseStamp:
        return cls(f"resp_{uuid.uuid4().hex}", int(clock()))


@define
class ResponsesTurn:
    """What the entrance and the bridge share about one Responses request (``TURN``)."""

    stamp: ResponseStamp
    #: A stream's final Response, set just before its ``response.completed`` (or
    #: ``.incomplete``) event is yielded.
    final: dict[str, Any] | None = None
    #: The translator of a stream that broke, set just before its ``GatewayError`` is raised.
    broken: ChatToResponseStream | None = None


TURN: StateKey[ResponsesTurn] = StateKey("sluicegate.responses.turn")


def turn_of(ctx: RequestContext, clock: Callable[[], float] = time.time) -> ResponsesTurn:
    """The request's turn: the entrance's, or one stamped now and kept for the next attempts."""
    turn = ctx.state.get(TURN)
    if turn is None:
        turn = ResponsesTurn(ResponseStamp.new(clock))
        ctx.state[TURN] = turn
    return turn


def responses_via_chat(provider: Adapter, *, clock: Callable[[], float] = time.time) -> Sender:
    """A sender for ``Endpoint.RESPONSES`` that translates to ``provider.send`` on chat and back."""

    async def send_responses(ctx: RequestContext, req: GatewayRequest, target: Target) -> Result:
        tools = Tools(req.body.get("tools"))  # made once for the request and the answer
        chat_body = responses_to_chat(
            req.body, target.model, reasoning_effort=provider.reasoning_effort, tools=tools
        )
        chat = req.replace(endpoint=Endpoint.CHAT, body=chat_body, stream_usage=False)
        turn = turn_of(ctx, clock)
        stamp = turn.stamp
        result = await provider.send(translated_context(ctx), chat, target)
        headers = result.headers
        dropped = dropped_builtin_tools(req.body)
        if dropped:
            headers = {**headers, DROPPED_TOOLS_HEADER: ", ".join(dropped)}
        if isinstance(result, StreamReply):
            translator = ChatToResponseStream(
                response_id=stamp.id,
                model=req.model,
                request=req.body,
                created_at=stamp.created_at,
                clock=clock,
                tools=tools,
            )
            events = _response_events(result, translator, turn, provider.name)
            return StreamReply(events, headers=headers, on_close=result.aclose)
        try:
            response = chat_to_response(
                result.data,
                response_id=stamp.id,
                model=req.model,
                request=req.body,
                created_at=stamp.created_at,
                completed_at=int(clock()),
                tools=tools,
            )
        except (ValueError, TypeError, AttributeError, KeyError):
            raise not_a_completion(provider.name) from None
        return Reply.from_data(response, status=result.status, headers=headers)

    return send_responses


async def _response_events(
    reply: StreamReply, translator: ChatToResponseStream, turn: ResponsesTurn, provider: str
) -> AsyncIterator[SSEEvent]:
    held = translator.start()
    try:
        async for chunk in chat_chunks(reply, provider):
            events = translator.feed(chunk)
            if events:  # a role-only or usage-only chunk gives none
                if held:
                    events, held = held + events, []
                for sse in _frames(events):
                    yield sse
        events = held + translator.finish()
    except GatewayError:
        turn.broken = translator
        raise
    turn.final = translator.response
    for sse in _frames(events):
        yield sse


def _frames(events: list[Event]) -> list[SSEEvent]:
    """SSE events named by their type; all but the last of a batch marked as followed at once,
    so the writer sends the batch in one write."""
    frames = [SSEEvent.from_data(data, name) for name, data in events]
    for frame in frames[:-1]:
        frame.more = True
    return frames
