"""A chat chunk stream as the Responses event sequence, one chunk at a time.

The items are those ``responses_answer`` makes of a complete answer, opened with
``response.output_item.added`` and closed with ``response.output_item.done``; between them
text comes as ``response.output_text.delta``, reasoning as
``response.reasoning_summary_text.delta`` and arguments as
``response.function_call_arguments.delta``. Events come as ``(type, event)`` pairs; every event
carries its ``type`` and a ``sequence_number`` counting from 0, and names the one response id.
A custom tool's input is relayed whole when its call ends: inside the chat arguments it is a
JSON-escaped string, readable only once complete.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sluicegate.errors import GatewayError
from sluicegate.translate.responses_answer import (
    arguments_text,
    call_fields,
    message_item,
    outcome,
    reasoning_item,
    reasoning_of,
    refusal_part,
    response_object,
    response_usage,
    text_part,
)
from sluicegate.translate.responses_tools import ToolRef, Tools, new_item_id

Event = tuple[str, dict[str, Any]]


class _Item:
    """The output item being streamed: its place, and what has come for it so far."""

    __slots__ = ("kind", "index", "id", "texts", "part", "parts", "chat_index", "call_id", "name", "ref")

    def __init__(self, kind: str, index: int, item_id: str) -> None:
        self.kind = kind  # "reasoning", "message" or "call"
        self.index = index
        self.id = item_id
        self.texts: list[str] = []  # of the open part, or the call's argument fragments
        self.part: str | None = None  # the open part's type, in a message
        self.parts: list[dict[str, Any]] = []  # the message's finished parts
        self.chat_index: Any = None
        self.call_id = ""
        self.name = ""
        self.ref: ToolRef | None = None


class ChatToResponseStream:
    """Turns a chat chunk stream into the Responses event sequence, one chunk at a time.

    ``start`` gives ``response.created`` and ``response.in_progress``; ``feed`` each parsed
    chunk; ``finish`` at ``[DONE]`` (or the end of the body) closes the open item and gives
    ``response.completed`` (or ``response.incomplete``); ``fail`` instead gives
    ``response.failed``. ``feed``/``finish`` start the stream if ``start`` was not called.
    ``response`` is the Response so far, the final one once finished.
    """

    __slots__ = (
        "_id", "_model", "_request", "_created_at", "_clock", "_ids", "_tools", "_seq",
        "_output", "_open", "_started", "_finished", "_finish_reason", "_usage", "_response",
    )  # fmt: skip

    def __init__(
        self,
        *,
        response_id: str,
        model: str,
        request: dict[str, Any],
        created_at: int,
        clock: Callable[[], float] = time.time,
        ids: Callable[[str], str] = new_item_id,
        tools: Tools | None = None,
    ) -> None:
        self._id = response_id
        self._model = model
        self._request = request
        self._created_at = created_at
        self._clock = clock
        self._ids = ids
        self._tools = Tools(request.get("tools")) if tools is None else tools
        self._seq = 0
        self._output: list[dict[str, Any]] = []  # finished items, in output_index order
        self._open: _Item | None = None
        self._started = False
        self._finished = False
        self._finish_reason: Any = None
        self._usage: Any = None
        self._response = self._snapshot("in_progress", [])

    @property
    def response(self) -> dict[str, Any]:
        return self._response

    def start(self) -> list[Event]:
        if self._started:
            return []
        self._started = True
        # Each event gets its own snapshot: they are encoded later than they are made.
        created = self._event("response.created", response=self._snapshot("in_progress", []))
        return [created, self._event("response.in_progress", response=self._snapshot("in_progress", []))]

    def feed(self, chunk: dict[str, Any]) -> list[Event]:
        if self._finished:
            return []
        events = self.start()
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]  # the final usage chunk's is the answer's
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else ():
            # The gateway never asks for n > 1; a stray extra choice must not mix into the answer.
            if isinstance(choice, dict) and choice.get("index") in (0, None):
                self._choice(choice, events)
        return events

    def finish(self) -> list[Event]:
        if self._finished:
            return []
        events = self.start()
        self._finished = True
        status, incomplete = outcome(self._finish_reason)
        self._close(events, status)
        completed_at = int(self._clock()) if incomplete is None else None
        self._response = self._snapshot(
            status, self._output, incomplete=incomplete, completed_at=completed_at
        )
        events.append(self._event(f"response.{status}", response=self._response))
        return events

    def fail(self, error: GatewayError) -> list[Event]:
        """``response.failed`` for a stream broken by ``error``, numbered after what was sent."""
        if self._finished:
            return []
        events = self.start()
        self._finished = True
        if self._open is not None:  # its closing events would follow the failure: not sent
            self._output.append(self._final(self._open, "incomplete"))
            self._open = None
        code = "rate_limit_exceeded" if error.status == 429 else "server_error"
        failure = {"code": code, "message": error.message}
        self._response = self._snapshot("failed", self._output, error=failure)
        events.append(self._event("response.failed", response=self._response))
        return events

    def _snapshot(self, status: str, output: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
        return response_object(
            response_id=self._id,
            model=self._model,
            request=self._request,
            created_at=self._created_at,
            status=status,
            output=list(output),
            tools=self._tools.kept,
            usage=response_usage(self._usage) if status != "in_progress" else None,
            **fields,
        )

    def _event(self, kind: str, **fields: Any) -> Event:
        event = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return kind, event

    def _choice(self, choice: dict[str, Any], events: list[Event]) -> None:
        delta = choice.get("delta")
        if isinstance(delta, dict):
            reasoning = reasoning_of(delta)
            if reasoning:
                self._reasoning(reasoning, events)
            for part, name in (("output_text", "content"), ("refusal", "refusal")):
                text = delta.get(name)
                if isinstance(text, str) and text:
                    self._message(part, text, events)
            calls = delta.get("tool_calls")
            for call in calls if isinstance(calls, list) else ():
                if isinstance(call, dict):
                    self._tool_fragment(call, events)
        if choice.get("finish_reason"):
            self._finish_reason = choice["finish_reason"]

    def _begin(self, kind: str, prefix: str, fields: dict[str, Any], events: list[Event]) -> _Item:
        self._close(events, "completed")
        item = self._open = _Item(kind, len(self._output), self._ids(prefix))
        events.append(
            self._event("response.output_item.added", output_index=item.index, item={"id": item.id, **fields})
        )
        return item

    def _at(self, item: _Item, **fields: Any) -> dict[str, Any]:
        return {"item_id": item.id, "output_index": item.index, **fields}

    def _reasoning(self, text: str, events: list[Event]) -> None:
        item = self._open
        if item is None or item.kind != "reasoning":
            item = self._begin("reasoning", "rs", {"type": "reasoning", "summary": []}, events)
            part = {"type": "summary_text", "text": ""}
            events.append(
                self._event(
                    "response.reasoning_summary_part.added", **self._at(item, summary_index=0, part=part)
                )
            )
        item.texts.append(text)
        events.append(
            self._event(
                "response.reasoning_summary_text.delta", **self._at(item, summary_index=0, delta=text)
            )
        )

    def _message(self, part: str, text: str, events: list[Event]) -> None:
        item = self._open
        if item is None or item.kind != "message":
            fields = {"type": "message", "status": "in_progress", "role": "assistant", "content": []}
            item = self._begin("message", "msg", fields, events)
        if item.part != part:
            self._close_part(item, events)
            item.part = part
            empty = text_part("") if part == "output_text" else refusal_part("")
            events.append(
                self._event(
                    "response.content_part.added", **self._at(item, content_index=len(item.parts), part=empty)
                )
            )
        item.texts.append(text)
        at = self._at(item, content_index=len(item.parts), delta=text)
        if part == "output_text":
            events.append(self._event("response.output_text.delta", **at, logprobs=[]))
        else:
            events.append(self._event("response.refusal.delta", **at))

    def _close_part(self, item: _Item, events: list[Event]) -> None:
        if item.part is None:
            return
        text, at = "".join(item.texts), self._at(item, content_index=len(item.parts))
        if item.part == "output_text":
            events.append(self._event("response.output_text.done", **at, text=text, logprobs=[]))
            part = text_part(text)
        else:
            events.append(self._event("response.refusal.done", **at, refusal=text))
            part = refusal_part(text)
        events.append(self._event("response.content_part.done", **at, part=part))
        item.parts.append(part)
        item.part, item.texts = None, []

    def _tool_fragment(self, call: dict[str, Any], events: list[Event]) -> None:
        function = call.get("function") if isinstance(call.get("function"), dict) else {}
        index, call_id = call.get("index"), call.get("id")
        item = self._open
        # A new call starts at a new index or a new id; some servers repeat the id (and name)
        # on every fragment of the same call, and some number every call 0.
        if (
            item is None
            or item.kind != "call"
            or (index is not None and index != item.chat_index)
            or (call_id and call_id != item.call_id)
        ):
            name = function.get("name") if isinstance(function.get("name"), str) else ""
            ref = self._tools.names.get(name)
            call_id = call_id if isinstance(call_id, str) and call_id else self._ids("call")
            custom = ref is not None and ref.kind == "custom"
            fields = call_fields(ref, name, call_id, "", "in_progress")
            item = self._begin("call", "ctc" if custom else "fc", fields, events)
            item.chat_index, item.call_id, item.name, item.ref = index, call_id, name, ref
        arguments = arguments_text(function.get("arguments"))
        if arguments:
            item.texts.append(arguments)
            if item.ref is None or item.ref.kind == "function":
                events.append(
                    self._event("response.function_call_arguments.delta", **self._at(item, delta=arguments))
                )

    def _close(self, events: list[Event], status: str) -> None:
        item, self._open = self._open, None
        if item is None:
            return
        if item.kind == "reasoning":
            text = "".join(item.texts)
            part = {"type": "summary_text", "text": text}
            at = self._at(item, summary_index=0)
            events.append(self._event("response.reasoning_summary_text.done", **at, text=text))
            events.append(self._event("response.reasoning_summary_part.done", **at, part=part))
        elif item.kind == "message":
            self._close_part(item, events)
        final = self._final(item, status)
        if final["type"] == "custom_tool_call":
            if final["input"]:
                events.append(
                    self._event(
                        "response.custom_tool_call_input.delta", **self._at(item, delta=final["input"])
                    )
                )
            events.append(
                self._event("response.custom_tool_call_input.done", **self._at(item, input=final["input"]))
            )
        elif final["type"] == "function_call":
            at = self._at(item, arguments=final["arguments"])
            events.append(self._event("response.function_call_arguments.done", **at))
        events.append(self._event("response.output_item.done", output_index=item.index, item=final))
        self._output.append(final)

    @staticmethod
    def _final(item: _Item, status: str) -> dict[str, Any]:
        """The finished item (a message's open part included), without events."""
        text = "".join(item.texts)
        if item.kind == "reasoning":
            return reasoning_item(item.id, text)
        if item.kind == "message":
            parts = item.parts
            if item.part is not None:
                parts = [*parts, text_part(text) if item.part == "output_text" else refusal_part(text)]
            return message_item(item.id, parts, status)
        if not text and (item.ref is None or item.ref.kind == "function"):
            text = "{}"  # a call without arguments: "" is not JSON a client can parse
        return {"id": item.id, **call_fields(item.ref, item.name, item.call_id, text, status)}
