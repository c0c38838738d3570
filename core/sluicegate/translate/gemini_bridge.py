"""Serve Gemini's ``generateContent`` (and its stream) through a provider that speaks OpenAI chat.

The request is checked and translated once per attempt, before the provider is called, so a
request the bridge cannot take is a 400 with nothing sent. The chat request gets the target's
output cap (``GatewayRequest.for_target``), since Gemini's limit sits inside
``generationConfig`` where the router's own lowering does not reach. The provider is handed
the client's headers without the client's own (``client_headers.TRANSLATED``: the SDK's
``x-goog-api-client``, its ``User-Agent``): the vendor is not the one the client speaks to.
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
from sluicegate.translate.chat_stream import chat_chunks, not_a_completion
from sluicegate.translate.gemini_answer import ChatToGeminiStream, chat_to_gemini
from sluicegate.translate.gemini_inbound import gemini_to_chat, wants_thoughts


def generate_via_chat(provider: Adapter) -> Sender:
    """A sender for ``Endpoint.GENERATE_CONTENT`` that translates to ``provider.send`` on chat and back."""

    async def send_generate(ctx: RequestContext, req: GatewayRequest, target: Target) -> Result:
        chat_body = gemini_to_chat(req.body, target.model, stream=req.stream,
                                   reasoning_effort=provider.reasoning_effort)
        chat = req.replace(endpoint=Endpoint.CHAT, body=chat_body, stream_usage=False).for_target(target)
        include_thoughts = wants_thoughts(req.body)
        result = await provider.send(translated_context(ctx), chat, target)
        if isinstance(result, StreamReply):
            translator = ChatToGeminiStream(req.model, include_thoughts=include_thoughts)
            return StreamReply(_gemini_events(result, translator, provider.name), headers=result.headers,
                               on_close=result.aclose)
        try:
            answer = chat_to_gemini(result.data, req.model, include_thoughts=include_thoughts)
        except (ValueError, TypeError, AttributeError, KeyError):
            raise not_a_completion(provider.name) from None
        return Reply.from_data(answer, status=result.status, headers=result.headers)

    return send_generate


async def _gemini_events(reply: StreamReply, translator: ChatToGeminiStream, provider: str) -> AsyncIterator[SSEEvent]:
    async for chunk in chat_chunks(reply, provider):
        for data in translator.feed(chunk):
            yield SSEEvent.from_data(data)
    for data in translator.finish():
        yield SSEEvent.from_data(data)
