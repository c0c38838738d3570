"""Token usage as vendors report it, read from answers and streams without parsing them whole.

It sits below ``sluicegate.exchange`` (a ``Reply`` reads its usage with ``usage_object``), so it
knows events only by their two fields (``StreamEvent``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

import orjson

_USAGE_KEY = b'"usage"'
# Gemini's (a GenerateContentResponse's, whole or one stream event).
_GEMINI_USAGE_KEY = b'"usageMetadata"'
# What both keys begin with: an event without it carries neither, found with one search.
_USAGE_PREFIX = b'"usage'
# Responses API stream events that carry the finished Response, and with it the usage.
_RESPONSE_ENDS = frozenset({"response.completed", "response.incomplete", "response.failed"})
# The events that end a stream cleanly, per dialect ([DONE] for OpenAI chat).
_STREAM_ENDS = _RESPONSE_ENDS | {"message_stop"}


class StreamEvent(Protocol):
    """What this module reads of an event (``sluicegate.exchange.SSEEvent`` is one)."""

    data: bytes
    event: str | None


def usage_counts(usage: Any) -> tuple[int | None, int | None]:
    """(prompt, completion) tokens from an OpenAI, Anthropic or Gemini usage object; None where
    absent.

    Anthropic reports cache reads and writes apart from ``input_tokens``; they are added back so
    both dialects count every prompt token the model processed (OpenAI's ``prompt_tokens`` does).
    Gemini reports thoughts apart from the candidates; they are output (as OpenAI counts them).
    """
    if not isinstance(usage, dict):
        return None, None
    if "promptTokenCount" in usage or "candidatesTokenCount" in usage:
        prompt = usage.get("promptTokenCount")
        outputs = [usage.get(name) for name in ("candidatesTokenCount", "thoughtsTokenCount")]
        numbers = [part for part in outputs if _number(part)]
        return (prompt if _number(prompt) else None), (sum(numbers) if numbers else None)
    if "input_tokens" in usage or "output_tokens" in usage:
        parts = [usage.get(name) for name in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")]
        numbers = [part for part in parts if _number(part)]
        output = usage.get("output_tokens")
        return (sum(numbers) if numbers else None), (output if _number(output) else None)
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if not _number(prompt) and not _number(completion):
        total = usage.get("total_tokens")
        return (total if _number(total) else None), None
    return (prompt if _number(prompt) else None), (completion if _number(completion) else None)


def _number(value: Any) -> bool:
    return type(value) is int and value >= 0


def cache_counts(usage: Any) -> tuple[int | None, int | None]:
    """(read, written) prompt tokens served from or stored in the vendor's prompt cache, both
    included in the prompt count ``usage_counts`` gives; None where the usage does not say.

    OpenAI (and compatible vendors) report reads as ``prompt_tokens_details.cached_tokens``;
    Anthropic reports ``cache_read_input_tokens`` and ``cache_creation_input_tokens``.
    """
    if not isinstance(usage, dict):
        return None, None
    if "cachedContentTokenCount" in usage:  # Gemini's
        read = usage["cachedContentTokenCount"]
        return (read if _number(read) else None), None
    if "cache_read_input_tokens" in usage or "cache_creation_input_tokens" in usage:
        read, written = usage.get("cache_read_input_tokens"), usage.get("cache_creation_input_tokens")
        return (read if _number(read) else None), (written if _number(written) else None)
    # The Responses API names the same details after its input tokens.
    details = usage.get("prompt_tokens_details", usage.get("input_tokens_details"))
    if isinstance(details, dict) and _number(details.get("cached_tokens")):
        return details["cached_tokens"], None
    return None, None


def usage_object(data: bytes) -> Any:
    """The ``"usage"`` object of a JSON document (Gemini's ``"usageMetadata"``), cut out and
    parsed alone; None if there is none.

    Answers are relayed as bytes; parsing a whole completion to read three numbers would cost
    more than the rest of the request path. The last ``"usage"`` key is taken (vendors put it
    last); text inside JSON strings cannot fake it, because its quotes would be escaped.
    """
    # Gemini's first: a function call's arguments are an object there, which may hold a
    # "usage" key; Gemini puts its usageMetadata after the candidates, so the last one is real.
    if _GEMINI_USAGE_KEY in data:
        usage = _last_object(data, _GEMINI_USAGE_KEY)
        if usage is not None:
            return usage
    return _last_object(data, _USAGE_KEY)


def usage_of(answer: dict[str, Any]) -> Any:
    """The usage object of an answer already parsed (``usage``, or Gemini's ``usageMetadata``)."""
    usage = answer.get("usage")
    return usage if usage is not None else answer.get("usageMetadata")


def _last_object(data: bytes, key: bytes) -> Any:
    at = data.rfind(key)
    while at >= 0:
        start = _object_start(data, at + len(key))
        if start >= 0:
            return _first_object(data, start)
        at = data.rfind(key, 0, at)
    return None


def _object_start(data: bytes, at: int) -> int:
    """Index of the ``{`` after the ``:`` following a key ending at ``at``; -1 if not an object."""
    colon = data.find(b":", at, at + 8)
    if colon < 0 or data[at:colon].strip():
        return -1
    brace = data.find(b"{", colon, colon + 8)
    if brace < 0 or data[colon + 1:brace].strip():
        return -1
    return brace


def _first_object(data: bytes, start: int) -> Any:
    """Parse the object opening at ``start``: it ends at the first ``}`` that balances its
    braces (usage objects hold numbers and nested objects, no strings with braces). Counting
    and parsing run in C: a byte loop in Python cost 20 µs per answer."""
    end = data.find(b"}", start)
    while end >= 0:
        if data.count(b"{", start, end) == data.count(b"}", start, end + 1):
            try:
                return orjson.loads(data[start:end + 1])
            except orjson.JSONDecodeError:
                return None
        end = data.find(b"}", end + 1)
    return None


def hour_cache_writes(usage: Any) -> int | None:
    """Of the cache writes ``cache_counts`` gives, those kept for an hour (Anthropic's
    ``cache_creation.ephemeral_1h_input_tokens``, Claude's on Bedrock and Vertex too): priced
    apart from 5-minute writes. None where the usage does not say."""
    if not isinstance(usage, dict):
        return None
    creation = usage.get("cache_creation")
    if not isinstance(creation, dict):
        return None
    hour = creation.get("ephemeral_1h_input_tokens")
    return hour if _number(hour) else None


class StreamUsage:
    """Reads the usage a stream reports as its events go by.

    OpenAI-dialect streams report it in one chunk (``stream_options.include_usage``), the
    Anthropic Messages API in ``message_start`` (input) and ``message_delta`` (output), the
    Responses API in the Response of its last event (``response.completed``), Gemini in every
    event (the counts so far, so the last is the total).
    """

    __slots__ = ("prompt", "completion", "cached", "written", "written_for_an_hour")

    def __init__(self) -> None:
        self.prompt: int | None = None
        self.completion: int | None = None
        self.cached: int | None = None
        self.written: int | None = None
        self.written_for_an_hour: int | None = None

    def _cache(self, usage: Any) -> None:
        read, written = cache_counts(usage)
        if read is not None:
            self.cached = read
        if written is not None:
            self.written = written
            self.written_for_an_hour = hour_cache_writes(usage)

    def see(self, event: StreamEvent) -> bool:
        """Take the usage from ``event``; True if it is a usage-only chunk (no choices)."""
        name = event.event
        data = event.data
        if name is not None:
            if name == "message_start":
                message = _loads(data).get("message")
                usage = message.get("usage") if isinstance(message, dict) else None
                prompt, _ = usage_counts(usage)
                if prompt:  # 0 is the bridge's placeholder for "not known yet"
                    self.prompt = prompt
                    self._cache(usage)
            elif name == "message_delta":
                usage = _loads(data).get("usage")
                prompt, completion = usage_counts(usage)
                if prompt:
                    self.prompt = prompt
                    self._cache(usage)
                if completion is not None:
                    self.completion = completion
            elif name in _RESPONSE_ENDS:
                usage = usage_object(data)
                prompt, completion = usage_counts(usage)
                self.prompt, self.completion = prompt, completion
                self._cache(usage)
            return False
        # find, not `in` (sluicegate.sse.SSEDecoder.feed says why): this runs for every event of every stream.
        if data.find(_USAGE_PREFIX) == -1:
            return False
        usage = usage_object(data)
        if usage is None:  # "usage": null, on every chunk when include_usage is on
            return False
        prompt, completion = usage_counts(usage)
        if prompt is not None:
            self.prompt = prompt
            self._cache(usage)
        if completion is not None:
            self.completion = completion
        return data.find(b'"choices":[]') != -1 or data.find(b'"choices": []') != -1  # find, not `in` (sluicegate.sse.SSEDecoder.feed says why)


class StreamObserver:
    """The one pass over a stream's events that everyone reading them shares.

    The request record wants the usage the vendor reports; token rate limits want it too, or
    (``count_content``) the size of what was sent when none is reported; the usage-only chunk
    the gateway asked for on the client's behalf (``hide_usage``) must not reach the client.
    Each event is looked at once for all of them, however many want to know (see
    ``RequestContext.observe``). The content count needs no JSON parsing per event: content
    bytes are each event's size less its envelope (ids, model, index...), measured once on the
    first event carrying text.
    """

    __slots__ = ("usage", "hide_usage", "count_content", "ended", "events", "size", "envelope")

    def __init__(self, *, hide_usage: bool = False, count_content: bool = False) -> None:
        self.usage = StreamUsage()
        self.hide_usage = hide_usage
        self.count_content = count_content
        self.ended = False  # the stream's own end arrived ([DONE], message_stop, response.completed)
        self.events = 0
        self.size = 0
        self.envelope: int | None = None

    async def watch(self, events: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for event in events:
            if self.see(event):
                # Marked, not dropped: the writer still sees where a network read ended.
                event.hidden = True
            yield event

    def see(self, event: StreamEvent) -> bool:
        """Take what ``event`` tells; True when the client is not to see it (``hide_usage``)."""
        usage = self.usage
        name = event.event
        data = event.data
        # StreamUsage.see's own first test, here: most events carry no usage, and this runs for
        # every event of every stream.
        if name is None and data.find(_USAGE_PREFIX) == -1:
            usage_only = False
        else:
            usage_only = usage.see(event)
        if name is not None:  # Anthropic's and the Responses API's named events
            if name in _STREAM_ENDS:
                self.ended = True
            elif self.count_content and name == "content_block_delta":
                self._content(event.data)
            return False
        if data == b"[DONE]":
            self.ended = True
            return False
        if self.count_content and not usage_only and usage.completion is None:
            self._content(data)
        return usage_only and self.hide_usage

    def _content(self, data: bytes) -> None:
        self.events += 1
        self.size += len(data)
        if self.envelope is None:
            text = _text_of(_loads(data))
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


def _text_of(chunk: dict[str, Any]) -> str:
    """The generated text of one OpenAI chunk, Anthropic content delta or Gemini event, or ''."""
    delta = chunk.get("delta")
    if isinstance(delta, dict):  # Anthropic content_block_delta
        for name in ("text", "partial_json", "thinking"):
            if isinstance(delta.get(name), str):
                return delta[name]
        return ""
    candidates = chunk.get("candidates")
    if isinstance(candidates, list):  # Gemini's GenerateContentResponse
        content = candidates[0].get("content") if candidates and isinstance(candidates[0], dict) else None
        parts = content.get("parts") if isinstance(content, dict) else None
        if not isinstance(parts, list):
            return ""
        return "".join(part["text"] for part in parts if isinstance(part, dict) and isinstance(part.get("text"), str))
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


def _loads(data: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
