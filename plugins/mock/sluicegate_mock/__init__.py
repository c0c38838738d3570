"""sluicegate provider ``type = "mock"``: deterministic offline answers in the OpenAI format.

It echoes the last user message (or says a fixed ``reply``), streams it word by word, and can
inject latency and failures, so the shipped config answers with no network and tests and
benchmarks have a vendor whose behaviour they control exactly.
"""

from __future__ import annotations

import hashlib
import random
import re
import struct
from collections.abc import AsyncIterator
from typing import Any

from attrs import define, field

from sluicegate import hookimpl
from sluicegate.config.checks import at_least_one, non_negative, probability
from sluicegate.errors import UpstreamError
from sluicegate.exchange import OPENAI_ENDPOINTS, Endpoint, Reply, SSEEvent, StreamReply
from sluicegate.provider import Provider, ProviderOptions
from sluicegate.resilience.classify import TRAITS, ErrorClass, for_status

_WORDS = re.compile(r"\S+\s*|\s+")


def _status(_: Any, attribute: Any, value: int) -> None:
    if not 400 <= value <= 599:
        raise ValueError(f"must be an HTTP error status (400-599), got {value}")


@define(kw_only=True)
class MockOptions(ProviderOptions):
    # A fixed answer; when unset the mock echoes the last user message.
    reply: str | None = None
    # Seconds before the answer (non-streaming) or the first chunk (streaming).
    latency: float = field(default=0.0, validator=non_negative)
    # Seconds between stream chunks.
    chunk_delay: float = field(default=0.0, validator=non_negative)
    # Share of requests (0..1) that fail with fail_status after fail_delay seconds.
    fail_rate: float = field(default=0.0, validator=probability)
    # HTTP status of an injected failure (400-599).
    fail_status: int = field(default=500, validator=_status)
    # Seconds before an injected failure is answered.
    fail_delay: float = field(default=0.0, validator=non_negative)
    # Error message of an injected failure.
    fail_message: str = "mock provider injected failure"
    # Break every stream after this many content chunks (an in-band error reaches the client).
    fail_after_chunks: int | None = None
    # Seed for failure injection; unset uses the gateway's random source.
    seed: int | None = None
    # Length of the vectors /v1/embeddings returns.
    embedding_dims: int = field(default=8, validator=at_least_one)


def message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def prompt_text(body: dict[str, Any]) -> str:
    prompt = body.get("prompt", "")
    return prompt if isinstance(prompt, str) else " ".join(map(str, prompt))


def count_words(text: str) -> int:
    return len(text.split())


class MockProvider(Provider):
    endpoints = OPENAI_ENDPOINTS
    requires_key = False

    def __init__(self, name, options: MockOptions, services) -> None:
        super().__init__(name, options, services)
        self.rng = random.Random(options.seed) if options.seed is not None else services.rng
        self.sleep = services.sleep
        self.wall_clock = services.wall_clock
        self.calls = 0

    async def _maybe_fail(self) -> None:
        options = self.options
        if options.fail_rate and self.rng.random() < options.fail_rate:
            if options.fail_delay:
                await self.sleep(options.fail_delay)
            status = options.fail_status
            # A vendor's answer of this status, classed as one carrying no more specific code.
            error_class = for_status(status)
            raise UpstreamError(
                f"provider {self.name!r} returned HTTP {status}: {options.fail_message}",
                provider=self.name,
                status=status,
                code="mock_failure",
                type="invalid_request_error" if status < 500 and status != 429 else "upstream_error",
                retryable=TRAITS[error_class].retryable,
                error_class=error_class,
            )

    async def send(self, ctx, req, target):
        self.calls += 1
        await self._maybe_fail()
        answer = self._answer(req.endpoint, req.body, target.model, ctx.request_id)
        if req.stream and req.endpoint in (Endpoint.CHAT, Endpoint.COMPLETIONS):
            return StreamReply(self._stream(req, target, ctx.request_id))
        if self.options.latency:
            await self.sleep(self.options.latency)
        return Reply.from_data(answer)

    # -- answers ---------------------------------------------------------------------------

    def _reply_text(self, body: dict[str, Any]) -> str:
        if self.options.reply is not None:
            return self.options.reply
        if "messages" in body:
            for message in reversed(body["messages"]):
                if message.get("role") == "user":
                    return message_text(message)
            return ""
        return prompt_text(body)

    def _limited_words(self, body: dict[str, Any]) -> tuple[list[str], str]:
        words = _WORDS.findall(self._reply_text(body))
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if isinstance(limit, int) and not isinstance(limit, bool) and 0 <= limit < len(words):
            return words[:limit], "length"
        return words, "stop"

    def _usage(self, body: dict[str, Any], completion: int) -> dict[str, int]:
        if "messages" in body:
            prompt = sum(count_words(message_text(m)) for m in body["messages"])
        else:
            prompt = count_words(prompt_text(body))
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def _answer(self, endpoint: Endpoint, body: dict[str, Any], model: str, request_id: str) -> Any:
        created = int(self.wall_clock())
        if endpoint is Endpoint.EMBEDDINGS:
            return self._embeddings(body, model)
        if endpoint is Endpoint.MODERATIONS:
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            return {
                "id": f"modr-{request_id}",
                "model": model,
                "results": [
                    {"flagged": False, "categories": {}, "category_scores": {}} for _ in inputs
                ],
            }
        words, finish = self._limited_words(body)
        text = "".join(words)
        usage = self._usage(body, len(words))
        if endpoint is Endpoint.COMPLETIONS:
            return {
                "id": f"cmpl-{request_id}",
                "object": "text_completion",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": None}],
                "usage": usage,
            }
        return {
            "id": f"chatcmpl-{request_id}",
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "finish_reason": finish,
                    "logprobs": None,
                }
            ],
            "usage": usage,
        }

    def _embeddings(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        dims = self.options.embedding_dims
        data = []
        for index, item in enumerate(inputs):
            digest = hashlib.sha256(str(item).encode()).digest() * (dims // 8 + 1)
            vector = [round(b / 255 * 2 - 1, 6) for b in struct.unpack(f"{dims}B", digest[:dims])]
            data.append({"object": "embedding", "index": index, "embedding": vector})
        tokens = sum(count_words(str(item)) for item in inputs)
        return {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    async def _stream(self, req, target, request_id: str) -> AsyncIterator[SSEEvent]:
        body = req.body
        words, finish = self._limited_words(body)
        created = int(self.wall_clock())
        chat = req.endpoint is Endpoint.CHAT
        base = {
            "id": f"{'chatcmpl' if chat else 'cmpl'}-{request_id}",
            "object": "chat.completion.chunk" if chat else "text_completion",
            "created": created,
            "model": target.model,
        }

        def chunk(delta_or_text: Any, finish_reason: str | None = None) -> SSEEvent:
            choice: dict[str, Any] = {"index": 0, "finish_reason": finish_reason, "logprobs": None}
            if chat:
                choice["delta"] = delta_or_text
            else:
                choice["text"] = delta_or_text
            return SSEEvent.from_data({**base, "choices": [choice]})

        if self.options.latency:
            await self.sleep(self.options.latency)
        if chat:
            yield chunk({"role": "assistant", "content": ""})
        for index, word in enumerate(words):
            if self.options.fail_after_chunks is not None and index >= self.options.fail_after_chunks:
                # Stands for a vendor connection dropped mid-answer.
                raise UpstreamError(
                    f"provider {self.name!r} broke off the stream (injected)",
                    provider=self.name,
                    code="mock_stream_failure",
                    retryable=TRAITS[ErrorClass.NETWORK].retryable,
                    error_class=ErrorClass.NETWORK,
                )
            if self.options.chunk_delay:
                await self.sleep(self.options.chunk_delay)
            yield chunk({"content": word} if chat else word)
        yield chunk({} if chat else "", finish)
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            yield SSEEvent.from_data({**base, "choices": [], "usage": self._usage(body, len(words))})
        yield SSEEvent(b"[DONE]")


@hookimpl
def register_providers(register):
    register("mock", MockProvider, options=MockOptions)
