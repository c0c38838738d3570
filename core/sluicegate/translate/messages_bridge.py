"""Serve the Anthropic Messages API through a provider that only speaks OpenAI chat.

The request is checked and translated once per attempt, before the provider is called, so a
request the bridge cannot take is a 400 with nothing sent. The provider is handed the
client's headers without the client's own (``client_headers.TRANSLATED``): the vendor is not
the one the client speaks to.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from sluicegate.client_headers import translated_context
from sluicegate.exchange import (
    Adapter,
    Endpoint,
    GatewayRequest,
    Reply,
    RequestContext,
    Result,
    Sender,
    SSEEvent,
    StreamReply,
    Target,
)
from sluicegate.translate.anthropic_inbound import ChatToMessageStream, chat_to_message, messages_to_chat
from sluicegate.translate.chat_stream import chat_chunks, not_a_completion


def messages_via_chat(provider: Adapter) -> Sender:
    """A sender for ``Endpoint.MESSAGES`` that translates to ``provider.send`` on chat and back."""

    async def send_messages(ctx: RequestContext, req: GatewayRequest, target: Target) -> Result:
        chat_body = messages_to_chat(
            req.body, target.model, reasoning_effort=provider.reasoning_effort, cache_control=provider.cache_control
        )
        chat = req.replace(endpoint=Endpoint.CHAT, body=chat_body, stream_usage=False)
        result = await provider.send(translated_context(ctx), chat, target)
        if isinstance(result, StreamReply):
            return StreamReply(
                _message_events(result, req.model, provider.name), headers=result.headers, on_close=result.aclose
            )
        try:
            message = chat_to_message(result.data, req.model)
        except (ValueError, TypeError, AttributeError, KeyError):
            raise not_a_completion(provider.name) from None
        return Reply.from_data(message, status=result.status, headers=result.headers)

    return send_messages


async def _message_events(reply: StreamReply, model: str, provider: str) -> AsyncIterator[SSEEvent]:
    translator = ChatToMessageStream(model)
    async for chunk in chat_chunks(reply, provider):
        for name, data in translator.feed(chunk):
            yield SSEEvent.from_data(data, name)
    for name, data in translator.finish():
        yield SSEEvent.from_data(data, name)
