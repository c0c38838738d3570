"""Gemini's ``generateContent`` in front of an OpenAI chat provider: the answer and the stream.

A ``chat.completion`` becomes a ``GenerateContentResponse`` (one candidate per choice, text,
``functionCall`` and, when the client asked for them, thought parts, the finish reason, the
usage metadata); a chunk stream becomes the ``GenerateContentResponse`` events of
``:streamGenerateContent?alt=sse``. A function call is sent whole, once its arguments are
complete; the last event carries the finish reasons and the usage, as Google's does.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from sluicegate.translate.chat_tools import object_arguments
from sluicegate.translate.gemini_dialect import finish_reason, usage_metadata

# The part of an empty answer: Gemini clients read a candidate's text from its parts.
_EMPTY_TEXT = {"text": ""}


def new_call_id() -> str:
    """An id for a function call the vendor gave none (the client may send it back with the
    call's response, which is then matched by it)."""
    return "call_" + uuid.uuid4().hex[:24]


def response_id(chat_id: Any) -> str:
    if isinstance(chat_id, str) and chat_id:
        return chat_id.removeprefix("chatcmpl-")
    return uuid.uuid4().hex


# --- answer: OpenAI chat completion -> GenerateContentResponse ---------------------------------


def chat_to_gemini(data: dict[str, Any], requested_model: str, *, include_thoughts: bool = False) -> dict[str, Any]:
    """The ``GenerateContentResponse`` for an OpenAI ``chat.completion``.

    Raises ``ValueError`` when there is no choice to translate; the caller turns that into an
    upstream error naming the provider, which this module does not know.
    """
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not all(isinstance(choice, dict) for choice in choices):
        raise ValueError("the chat completion has no choices")
    candidates = [_candidate(choice, position, include_thoughts) for position, choice in enumerate(choices)]
    response: dict[str, Any] = {"candidates": candidates}
    usage = usage_metadata(data.get("usage"))
    if usage is not None:
        response["usageMetadata"] = usage
    response["modelVersion"] = data.get("model") or requested_model
    response["responseId"] = response_id(data.get("id"))
    return response


def _candidate(choice: dict[str, Any], position: int, include_thoughts: bool) -> dict[str, Any]:
    message = choice.get("message")
    if not isinstance(message, dict):
        message = {}
    parts: list[dict[str, Any]] = []
    if include_thoughts:
        thoughts = _reasoning(message)
        if thoughts:
            parts.append({"text": thoughts, "thought": True})
    text = _answer_text(message.get("content")) or _answer_text(message.get("refusal"))
    if text:
        parts.append({"text": text})
    calls = message.get("tool_calls")
    if not calls and isinstance(message.get("function_call"), dict):
        calls = [{"function": message["function_call"]}]  # the legacy single-function form
    for call in calls if isinstance(calls, list) else ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            call_id = call.get("id")
            parts.append(_call_part(call_id if isinstance(call_id, str) and call_id else new_call_id(),
                                    function.get("name"), function.get("arguments")))
    index = choice.get("index")
    return {
        "content": {"parts": parts or [dict(_EMPTY_TEXT)], "role": "model"},
        "finishReason": finish_reason(choice.get("finish_reason")),
        "index": index if type(index) is int else position,
    }


def _reasoning(message: dict[str, Any]) -> str:
    # DeepSeek and Qwen say reasoning_content; vLLM and OpenRouter say reasoning.
    for name in ("reasoning_content", "reasoning"):
        value = message.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


def _answer_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # some vendors answer in content parts
        return "".join(
            part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def _call_part(call_id: str, name: Any, arguments: Any) -> dict[str, Any]:
    return {"functionCall": {"id": call_id, "name": name if isinstance(name, str) else "", "args": object_arguments(arguments)}}


# --- stream: OpenAI chat.completion.chunk -> GenerateContentResponse events --------------------


class _PendingCall:
    """A function call whose argument fragments are still arriving."""

    __slots__ = ("index", "given_id", "id", "name", "arguments")

    def __init__(self, index: Any, given_id: Any) -> None:
        self.index = index
        self.given_id = given_id if isinstance(given_id, str) and given_id else None
        self.id = self.given_id or new_call_id()
        self.name = ""
        self.arguments: list[str] = []


class _Choice:
    """One choice of the stream: its calls in the making and its finish reason."""

    __slots__ = ("calls", "finish")

    def __init__(self) -> None:
        self.calls: list[_PendingCall] = []
        self.finish: Any = None

    def fragment(self, call: dict[str, Any]) -> None:
        function = call.get("function")
        if not isinstance(function, dict):
            function = {}
        index, call_id = call.get("index"), call.get("id")
        current = self.calls[-1] if self.calls else None
        # A new call starts at a new index or a new id; some servers repeat the id (and name)
        # on every fragment of the same call, and some number every call 0.
        if (
            current is None
            or (index is not None and index != current.index)
            or (isinstance(call_id, str) and call_id and current.given_id and call_id != current.given_id)
        ):
            current = _PendingCall(index, call_id)
            self.calls.append(current)
        name = function.get("name")
        if isinstance(name, str) and name:
            current.name = name
        arguments = function.get("arguments")
        if isinstance(arguments, dict):
            arguments = orjson.dumps(arguments).decode()
        if isinstance(arguments, str) and arguments:
            current.arguments.append(arguments)

    def call_parts(self) -> list[dict[str, Any]]:
        return [_call_part(call.id, call.name, "".join(call.arguments)) for call in self.calls]


class ChatToGeminiStream:
    """Turns an OpenAI chunk stream into ``GenerateContentResponse`` events, a chunk at a time.

    ``feed`` each parsed chunk, then call ``finish`` at ``[DONE]`` (or the end of the body);
    each returns the events' data. Text and (asked for) thoughts go out as they come; function
    calls are held until the stream ends, when their arguments are whole, and go out in the last
    event with the finish reasons and the usage.
    """

    __slots__ = ("_model", "_include_thoughts", "_id", "_version", "_choices", "_usage", "_finished")

    def __init__(self, requested_model: str, *, include_thoughts: bool = False) -> None:
        self._model = requested_model
        self._include_thoughts = include_thoughts
        self._id: str | None = None
        self._version: str | None = None
        self._choices: dict[int, _Choice] = {}
        self._usage: Any = None
        self._finished = False

    def feed(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        if self._finished:
            return []
        if self._id is None:
            self._id = response_id(chunk.get("id"))
        if self._version is None and isinstance(chunk.get("model"), str) and chunk["model"]:
            self._version = chunk["model"]
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
        candidates = []
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else ():
            if not isinstance(choice, dict):
                continue
            index = choice.get("index")
            index = index if type(index) is int else 0
            state = self._choices.setdefault(index, _Choice())
            parts = self._delta_parts(choice.get("delta"), state)
            if choice.get("finish_reason"):
                state.finish = choice["finish_reason"]
            if parts:
                candidates.append({"content": {"parts": parts, "role": "model"}, "index": index})
        return [self._response(candidates)] if candidates else []

    def _delta_parts(self, delta: Any, state: _Choice) -> list[dict[str, Any]]:
        if not isinstance(delta, dict):
            return []
        parts: list[dict[str, Any]] = []
        if self._include_thoughts:
            thoughts = _reasoning(delta)
            if thoughts:
                parts.append({"text": thoughts, "thought": True})
        text = delta.get("content")
        if isinstance(text, str) and text:
            parts.append({"text": text})
        calls = delta.get("tool_calls")
        for call in calls if isinstance(calls, list) else ():
            if isinstance(call, dict):
                state.fragment(call)
        return parts

    def finish(self) -> list[dict[str, Any]]:
        if self._finished:
            return []
        self._finished = True
        choices = self._choices or {0: _Choice()}
        candidates = [
            {
                "content": {"parts": state.call_parts() or [dict(_EMPTY_TEXT)], "role": "model"},
                "finishReason": finish_reason(state.finish),
                "index": index,
            }
            for index, state in sorted(choices.items())
        ]
        response = self._response(candidates)
        usage = usage_metadata(self._usage)
        if usage is not None:
            response["usageMetadata"] = usage
        return [response]

    def _response(self, candidates: list[dict[str, Any]]) -> dict[str, Any]:
        if self._id is None:
            self._id = response_id(None)
        return {"candidates": candidates, "modelVersion": self._version or self._model, "responseId": self._id}
