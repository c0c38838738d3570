"""ConverseStream's events to OpenAI ``chat.completion.chunk`` dicts: pure, no I/O.

Bedrock streams one answer as typed events: ``messageStart``, then per content block an optional
``contentBlockStart`` (tool calls only: their id and name), ``contentBlockDelta`` pieces (text,
the tool input's JSON in pieces, reasoning) and ``contentBlockStop``; then ``messageStop`` with
the stop reason and last ``metadata`` with the usage. ``sluicegate_bedrock.eventstream`` has cut
the binary stream into these events already.
"""

from __future__ import annotations

from typing import Any

from attrs import frozen

from sluicegate.translate.chunks import ChunkStream
from sluicegate_bedrock.translate import finish_reason, openai_usage, tool_call


@frozen
class StreamEvent:
    """One event of a Bedrock event stream: its ``:event-type`` and its JSON payload."""

    kind: str
    body: dict[str, Any]


class ConverseStreamTranslator(ChunkStream):
    """A ``sluicegate.translating.StreamTranslator`` for ConverseStream: ``done`` at
    ``messageStop``; the end of the vendor's stream ends ours, as ``metadata`` (the usage)
    comes after the stop."""

    def __init__(self, model: str, created: int, include_usage: bool, completion_id: str) -> None:
        super().__init__(model, created, include_usage)
        self.id = completion_id
        # Content block index -> the OpenAI index of the tool call it carries.
        self._calls: dict[int, int] = {}

    def usage_of(self, usage: dict[str, Any]) -> dict[str, Any]:
        return openai_usage(usage)

    def feed(self, data: StreamEvent) -> list[dict[str, Any]]:
        kind, body = data.kind, data.body
        if kind == "messageStart":
            return [self._chunk(0, self._with_role(0, {"content": ""}), None)]
        if kind == "contentBlockStart":
            return self._block_start(body)
        if kind == "contentBlockDelta":
            return self._delta(body)
        if kind == "messageStop":
            if 0 in self._finished:
                return []
            self._started.add(0)
            self._finished.add(0)
            return [self._chunk(0, {}, finish_reason(body.get("stopReason"), bool(self._calls)))]
        if kind == "metadata":
            if isinstance(body.get("usage"), dict):
                self.usage = body["usage"]
            return []
        return []  # contentBlockStop, and event types added after this was written

    def _block_start(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        use = body["start"].get("toolUse")
        if not isinstance(use, dict):
            return []
        index = len(self._calls)
        self._calls[body["contentBlockIndex"]] = index
        call = {"index": index, **tool_call(use["toolUseId"], use["name"], "")}
        return [self._chunk(0, self._with_role(0, {"tool_calls": [call]}), None)]

    def _delta(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        delta = body["delta"]
        out: dict[str, Any] = {}
        if isinstance(delta.get("text"), str):
            out["content"] = delta["text"]
        elif isinstance(delta.get("toolUse"), dict):
            index = self._calls[body["contentBlockIndex"]]  # a KeyError: input for no started call
            out["tool_calls"] = [{"index": index, "function": {"arguments": delta["toolUse"]["input"]}}]
        elif isinstance(delta.get("reasoningContent"), dict):
            thought = delta["reasoningContent"].get("text")
            if not isinstance(thought, str):
                return []  # the signature or redacted reasoning: nothing an OpenAI client reads
            out["reasoning_content"] = thought
        else:
            return []
        return [self._chunk(0, self._with_role(0, out), None)]
