"""Token usage as vendors report it, read from answers and streams without parsing them whole."""

from __future__ import annotations

from typing import Any

import orjson

from sluicegate.exchange import GatewayRequest, Reply, SSEEvent

_USAGE_KEY = b'"usage"'
# Responses API stream events that carry the finished Response, and with it the usage.
_RESPONSE_ENDS = frozenset({"response.completed", "response.incomplete", "response.failed"})


def request_stream_usage(req: GatewayRequest) -> None:
    """Add ``stream_options.include_usage`` to the request's body (and its bytes, re-encoded
    once, so a pass-through provider sends the amended body)."""
    options = req.body.get("stream_options")
    amended = {**options, "include_usage": True} if isinstance(options, dict) else {"include_usage": True}
    req.body["stream_options"] = amended
    req.raw = orjson.dumps(req.body)
    req.add_stream_usage = False


def usage_counts(usage: Any) -> tuple[int | None, int | None]:
    """(prompt, completion) tokens from an OpenAI or Anthropic usage object; None where absent.

    Anthropic reports cache reads and writes apart from ``input_tokens``; they are added back so
    both dialects count every prompt token the model processed (OpenAI's ``prompt_tokens`` does).
    """
    if not isinstance(usage, dict):
        return None, None
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
    if "cache_read_input_tokens" in usage or "cache_creation_input_tokens" in usage:
        read, written = usage.get("cache_read_input_tokens"), usage.get("cache_creation_input_tokens")
        return (read if _number(read) else None), (written if _number(written) else None)
    # The Responses API names the same details after its input tokens.
    details = usage.get("prompt_tokens_details", usage.get("input_tokens_details"))
    if isinstance(details, dict) and _number(details.get("cached_tokens")):
        return details["cached_tokens"], None
    return None, None


def usage_object(data: bytes) -> Any:
    """The ``"usage"`` object of a JSON document, cut out and parsed alone; None if there is none.

    Answers are relayed as bytes; parsing a whole completion to read three numbers would cost
    more than the rest of the request path. The last ``"usage"`` key is taken (vendors put it
    last); text inside JSON strings cannot fake it, because its quotes would be escaped.
    """
    at = data.rfind(_USAGE_KEY)
    while at >= 0:
        start = _object_start(data, at + len(_USAGE_KEY))
        if start >= 0:
            return _first_object(data, start)
        at = data.rfind(_USAGE_KEY, 0, at)
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


def reply_usage(reply: Reply) -> Any:
    """The usage object a complete answer reports (None when it reports none)."""
    parsed = reply._data  # already parsed by someone (a translation): no need to look at bytes
    if isinstance(parsed, dict):
        return parsed.get("usage")
    if reply._body is None:
        return None
    return usage_object(reply._body)


def note_usage(record: Any, usage: Any) -> None:
    """Put a usage object's counts on a request record."""
    record.tokens_in, record.tokens_out = usage_counts(usage)
    record.tokens_cached, record.tokens_cache_written = cache_counts(usage)


class StreamUsage:
    """Reads the usage a stream reports as its events go by.

    OpenAI-dialect streams report it in one chunk (``stream_options.include_usage``), the
    Anthropic Messages API in ``message_start`` (input) and ``message_delta`` (output), the
    Responses API in the Response of its last event (``response.completed``).
    """

    __slots__ = ("prompt", "completion", "cached", "written")

    def __init__(self) -> None:
        self.prompt: int | None = None
        self.completion: int | None = None
        self.cached: int | None = None
        self.written: int | None = None

    def note(self, record: Any) -> None:
        """Put what the stream reported on a request record."""
        record.tokens_in, record.tokens_out = self.prompt, self.completion
        record.tokens_cached, record.tokens_cache_written = self.cached, self.written

    def _cache(self, usage: Any) -> None:
        read, written = cache_counts(usage)
        if read is not None:
            self.cached = read
        if written is not None:
            self.written = written

    def see(self, event: SSEEvent) -> bool:
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
        if _USAGE_KEY not in data:
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
        return b'"choices":[]' in data or b'"choices": []' in data


def _loads(data: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
