"""What translation costs per request: microseconds for each direction on the recorded fixtures,
for the vendor adapters (Anthropic, DashScope) and the bridges of the gateway's own entrances
(Anthropic Messages and the Responses API onto chat).

Run from the repo root: ``python contrib/bench/translate_bench.py``. Each figure is the median of
7 timing rounds; "stream" figures are per event, including the orjson encode of each chunk the
gateway writes. Compare with the JSON parse + encode a pass-through needs anyway.
"""

from __future__ import annotations

import json
import statistics
import timeit
from pathlib import Path

import orjson

from sluicegate.translate.anthropic_inbound import ChatToMessageStream, chat_to_message, messages_to_chat
from sluicegate.translate.responses_answer import chat_to_response
from sluicegate.translate.responses_chat import responses_to_chat
from sluicegate.translate.responses_stream import ChatToResponseStream
from sluicegate_anthropic.translate import StreamTranslator, to_anthropic_request, to_openai_completion
from sluicegate_dashscope.translate import StreamTranslator as DashScopeStream
from sluicegate_dashscope.translate import chat_completion, chat_request

ROOT = Path(__file__).resolve().parents[2]


def load(path: str):
    return json.loads((ROOT / path).read_text())


def per_call_us(fn, number: int = 2000) -> float:
    rounds = timeit.repeat(fn, number=number, repeat=7)
    return statistics.median(rounds) / number * 1e6


def sse_chunks(path: str) -> list[dict]:
    text = (ROOT / path).read_text()
    return [
        json.loads(line[6:])
        for line in text.splitlines()
        if line.startswith("data: ") and line[6:].strip() != "[DONE]"
    ]


def main() -> None:
    openai_request = load("plugins/anthropic/tests/fixtures/request_conversation.json")["openai"]
    anthropic_message = load("plugins/anthropic/tests/fixtures/message_tool_use.json")
    anthropic_events = [data for _, data in load("plugins/anthropic/tests/fixtures/stream_text.json")]
    claude_code = load("core/tests/fixtures/anthropic_inbound/claude_code_request.json")
    openai_answer = load("core/tests/fixtures/anthropic_inbound/openai_completion_tool_calls.json")
    openai_stream = sse_chunks("core/tests/fixtures/anthropic_inbound/openai_stream_parallel_tools.sse")
    dashscope_answer = load("plugins/dashscope/tests/fixtures/text_response.json")
    dashscope_events = load("plugins/dashscope/tests/fixtures/stream_text.json")
    codex_request = load("core/tests/fixtures/responses/codex_request.json")
    chat_answer = load("core/tests/fixtures/responses/deepseek_completion_tools.json")
    chat_stream = sse_chunks("core/tests/fixtures/responses/deepseek_stream_tools.sse")
    raw_request = orjson.dumps(openai_request)

    def anthropic_stream() -> None:
        translator = StreamTranslator(0, include_usage=True)
        for event in anthropic_events:
            for chunk in translator.feed(event):
                orjson.dumps(chunk)

    def inbound_stream() -> None:
        translator = ChatToMessageStream("chat")
        for chunk in openai_stream:
            for _, data in translator.feed(chunk):
                orjson.dumps(data)
        for _, data in translator.finish():
            orjson.dumps(data)

    def responses_stream() -> None:
        translator = ChatToResponseStream(response_id="resp_bench", model="m", request=codex_request,
                                          created_at=0, clock=lambda: 0.0)
        for chunk in chat_stream:
            for _, data in translator.feed(chunk):
                orjson.dumps(data)
        for _, data in translator.finish():
            orjson.dumps(data)

    def dashscope_stream() -> None:
        translator = DashScopeStream("qwen-plus", 0, True)
        for event in dashscope_events:
            for chunk in translator.feed(event):
                orjson.dumps(chunk)

    rows = [
        ("baseline: orjson parse + encode of the OpenAI request", lambda: orjson.dumps(orjson.loads(raw_request)),
         len(raw_request)),
        ("OpenAI chat -> Anthropic request (+ encode)",
         lambda: orjson.dumps(to_anthropic_request(openai_request, "claude", 4096)), None),
        ("Anthropic message -> chat.completion (+ encode)",
         lambda: orjson.dumps(to_openai_completion(anthropic_message, 0)), None),
        (f"Anthropic stream -> chunks, per event ({len(anthropic_events)} events)",
         anthropic_stream, len(anthropic_events)),
        ("Anthropic Messages -> OpenAI chat (Claude Code request, + encode)",
         lambda: orjson.dumps(messages_to_chat(claude_code, "gpt")), None),
        ("chat.completion -> Anthropic message (+ encode)",
         lambda: orjson.dumps(chat_to_message(openai_answer, "chat")), None),
        (f"OpenAI chunks -> Anthropic events, per chunk ({len(openai_stream)} chunks)",
         inbound_stream, len(openai_stream)),
        ("Responses -> OpenAI chat (Codex CLI request, + encode)",
         lambda: orjson.dumps(responses_to_chat(codex_request, "m")), None),
        ("chat.completion -> Response (+ encode)",
         lambda: orjson.dumps(chat_to_response(chat_answer, response_id="resp_bench", model="m",
                                               request=codex_request, created_at=0)), None),
        (f"OpenAI chunks -> Responses events, per chunk ({len(chat_stream)} chunks)",
         responses_stream, len(chat_stream)),
        ("OpenAI chat -> DashScope request (+ encode)",
         lambda: orjson.dumps(chat_request(openai_request, "qwen-plus", stream=False, defaults={})[0]), None),
        ("DashScope answer -> chat.completion (+ encode)",
         lambda: orjson.dumps(chat_completion(dashscope_answer, model="qwen-plus", created=0)), None),
        (f"DashScope stream -> chunks, per event ({len(dashscope_events)} events)",
         dashscope_stream, len(dashscope_events)),
    ]
    print(f"{'translation':72} {'us':>8}")
    for label, fn, per in rows:
        us = per_call_us(fn)
        if per and "per" in label:
            us /= per
        print(f"{label:72} {us:8.2f}")


if __name__ == "__main__":
    main()
