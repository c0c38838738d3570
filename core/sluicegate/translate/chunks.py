"""The OpenAI side of a vendor stream translator: ``chat.completion.chunk`` envelopes, the
assistant role once per choice, each choice's finish, and the usage chunk at the end.

A vendor's translator subclasses ``ChunkStream`` and adds only its own ``feed`` (and
``usage_of``, which turns the vendor's usage into OpenAI's); what every OpenAI stream looks like
is written once here.
"""

from __future__ import annotations

from typing import Any


class ChunkStream:
    """``done`` once every choice that began has finished; never ``ended`` (the end of the
    vendor's stream ends ours, so usage arriving after the finish is still read)."""

    ended = False

    def __init__(self, model: str, created: int, include_usage: bool) -> None:
        self.model = model
        self.created = created
        self.include_usage = include_usage
        self.id: str | None = None
        self.usage: Any = None  # the vendor's own usage, last seen
        self._started: set[int] = set()
        self._finished: set[int] = set()

    @property
    def done(self) -> bool:
        return bool(self._finished) and self._finished >= self._started

    def usage_of(self, usage: Any) -> dict[str, Any]:
        """The vendor's ``usage`` as OpenAI's ``usage`` object."""
        raise NotImplementedError

    def finish(self) -> list[dict[str, Any]]:
        """The usage chunk, when the client asked for it and the vendor reported usage."""
        if not (self.include_usage and self.usage is not None):
            return []
        return [{
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": self.usage_of(self.usage),
        }]

    def _with_role(self, index: int, delta: dict[str, Any]) -> dict[str, Any]:
        """``delta`` with the assistant role when it is choice ``index``'s first."""
        if index in self._started:
            return delta
        self._started.add(index)
        return {"role": "assistant", **delta}

    def _chunk(self, index: int, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
