"""The adapter contract every provider plugin runs: one test class, parametrised by a VendorScript.

A plugin's tests subclass it and name their vendor::

    from sluicegate.testing.contract import ProviderContract

    class TestMyVendorContract(ProviderContract):
        script = MyVendorScript()

Each test starts the real gateway server in front of a ``FakeUpstream`` speaking the vendor's
wire format and talks to it with the official ``openai`` SDK (``/v1/chat/completions``) and the
official ``anthropic`` SDK (``/v1/messages``): text, system, images, streams, tools and tool
results, usage, every vendor error, a mid-stream error, timeouts and a client that leaves.
Needs pytest-asyncio and the ``fake_upstream`` / ``gateway`` fixtures of
``sluicegate.testing.pytest_plugin``, and the ``openai`` and ``anthropic`` packages.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from aiohttp import web

from sluicegate.testing.upstream import FakeUpstream
from sluicegate.testing.vendor import Responder, ToolCall, Usage, VendorScript

VENDOR_KEY = "sk-vendor-secret-0123456789abcdef"
CLIENT_TOKEN = "client-token-for-contract"
SYSTEM = "You are terse."
QUESTION = "What is the weather in Paris?"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]
ANTHROPIC_TOOLS = [
    {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "input_schema": TOOLS[0]["function"]["parameters"],
    }
]
WEATHER_CALL = ToolCall("call_w1", "get_weather", {"city": "Paris"})
# A 1x1 transparent PNG.
PIXEL = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


def _config(script: VendorScript, upstream_url: str, timeout: float) -> str:
    return f"""
[auth]
tokens = ["{CLIENT_TOKEN}"]

[providers.vendor]
type = "{script.provider_type}"
base_url = "{script.base_url(upstream_url)}"
api_key = "${{VENDOR_KEY}}"
timeout = {timeout}
{script.provider_options()}

[models.chat]
targets = ["vendor/{script.upstream_model}"]

# The contract checks how each vendor error is mapped, call by call: no retries, no breaker.
[retry]
attempts = 1

[breaker]
enabled = false
"""


def _watch_aborts(upstream: FakeUpstream, responder: Responder) -> Responder:
    """Count a response the gateway abandoned (the server cancels the handler when it hangs up)."""

    async def respond(request: web.Request) -> web.StreamResponse:
        try:
            return await responder(request)
        except (asyncio.CancelledError, ConnectionResetError):
            upstream.aborted += 1
            upstream.abort_event.set()
            raise

    return respond


def _slow(responder: Responder, seconds: float) -> Responder:
    async def respond(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return await responder(request)

    return respond


class ProviderContract:
    """Subclass with ``script = <VendorScript>``; pytest collects the subclass."""

    script: VendorScript

    # -- plumbing ---------------------------------------------------------------------------

    @pytest.fixture
    def start(self, gateway, fake_upstream):
        async def start(vendor_timeout: float = 10):
            server = await gateway(
                _config(self.script, fake_upstream.url, vendor_timeout), env={"VENDOR_KEY": VENDOR_KEY}
            )
            return server

        return start

    def openai_client(self, server):
        import openai

        return openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=CLIENT_TOKEN, max_retries=0)

    def anthropic_client(self, server):
        import anthropic

        return anthropic.AsyncAnthropic(base_url=server.base_url, api_key=CLIENT_TOKEN, max_retries=0)

    def route(self, upstream: FakeUpstream, responder: Responder, *, stream: bool, images: bool = False) -> str:
        path = self.script.chat_path(stream, images=images)
        upstream.on(path, _watch_aborts(upstream, responder))
        return path

    def sent(self, upstream: FakeUpstream, path: str):
        calls = upstream.calls(path)
        assert len(calls) == 1, f"expected one upstream call to {path}, got {len(calls)}"
        request = calls[0]
        assert CLIENT_TOKEN not in " ".join(request.headers.values()), "the client's token went upstream"
        summary = self.script.summarize(request)
        assert summary.credential == VENDOR_KEY
        assert summary.model == self.script.upstream_model
        return summary

    # -- OpenAI entrance ----------------------------------------------------------------------

    async def test_text(self, start, fake_upstream):
        server = await start()
        path = self.route(fake_upstream, self.script.answer_text("Sunny, 18C.", Usage(11, 7)), stream=False)
        answer = await self.openai_client(server).chat.completions.create(
            model="chat",
            messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}],
            max_tokens=50,
        )
        choice = answer.choices[0]
        assert choice.message.content == "Sunny, 18C."
        assert choice.message.role == "assistant"
        assert choice.finish_reason == "stop"
        assert (answer.usage.prompt_tokens, answer.usage.completion_tokens, answer.usage.total_tokens) == (11, 7, 18)
        summary = self.sent(fake_upstream, path)
        assert summary.system == SYSTEM
        assert summary.turns == [("user", QUESTION)]
        assert summary.stream is False
        assert summary.max_tokens == 50

    async def test_stream_with_usage(self, start, fake_upstream):
        server = await start()
        pieces = ["Sun", "ny, ", "18C."]
        path = self.route(fake_upstream, self.script.answer_stream(pieces, Usage(11, 7)), stream=True)
        stream = await self.openai_client(server).chat.completions.create(
            model="chat",
            messages=[{"role": "user", "content": QUESTION}],
            stream=True,
            stream_options={"include_usage": True},
        )
        text, finish, usage = [], None, None
        async for chunk in stream:
            for choice in chunk.choices:
                text.append(choice.delta.content or "")
                finish = choice.finish_reason or finish
            usage = chunk.usage or usage
        assert "".join(text) == "Sunny, 18C."
        assert finish == "stop"
        assert usage is not None
        assert (usage.prompt_tokens, usage.completion_tokens) == (11, 7)
        assert self.sent(fake_upstream, path).stream is True

    async def test_tool_call(self, start, fake_upstream):
        server = await start()
        path = self.route(
            fake_upstream, self.script.answer_tool_call(WEATHER_CALL, Usage(20, 9), stream=False), stream=False
        )
        answer = await self.openai_client(server).chat.completions.create(
            model="chat", messages=[{"role": "user", "content": QUESTION}], tools=TOOLS
        )
        choice = answer.choices[0]
        assert choice.finish_reason == "tool_calls"
        (call,) = choice.message.tool_calls
        assert (call.id, call.type, call.function.name) == (WEATHER_CALL.id, "function", WEATHER_CALL.name)
        assert json.loads(call.function.arguments) == WEATHER_CALL.arguments
        assert self.sent(fake_upstream, path).tools == ["get_weather"]

    async def test_tool_call_stream(self, start, fake_upstream):
        server = await start()
        self.route(fake_upstream, self.script.answer_tool_call(WEATHER_CALL, Usage(20, 9), stream=True), stream=True)
        stream = await self.openai_client(server).chat.completions.create(
            model="chat", messages=[{"role": "user", "content": QUESTION}], tools=TOOLS, stream=True
        )
        calls: dict[int, dict[str, str]] = {}
        finish = None
        async for chunk in stream:
            for choice in chunk.choices:
                finish = choice.finish_reason or finish
                for delta in choice.delta.tool_calls or ():
                    call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                    call["id"] += delta.id or ""
                    if delta.function is not None:
                        call["name"] += delta.function.name or ""
                        call["arguments"] += delta.function.arguments or ""
        assert finish == "tool_calls"
        assert list(calls) == [0]
        assert (calls[0]["id"], calls[0]["name"]) == (WEATHER_CALL.id, WEATHER_CALL.name)
        assert json.loads(calls[0]["arguments"]) == WEATHER_CALL.arguments

    async def test_tool_results_reach_the_vendor(self, start, fake_upstream):
        server = await start()
        path = self.route(fake_upstream, self.script.answer_text("It is 18C.", Usage()), stream=False)
        await self.openai_client(server).chat.completions.create(
            model="chat",
            tools=TOOLS,
            messages=[
                {"role": "user", "content": QUESTION},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": WEATHER_CALL.id,
                            "type": "function",
                            "function": {"name": WEATHER_CALL.name, "arguments": json.dumps(WEATHER_CALL.arguments)},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": WEATHER_CALL.id, "content": "18C and sunny"},
            ],
        )
        summary = self.sent(fake_upstream, path)
        assert summary.tool_calls == [WEATHER_CALL]
        assert summary.tool_results == [(WEATHER_CALL.id, "18C and sunny")]
        assert summary.turns[0] == ("user", QUESTION)

    async def test_image(self, start, fake_upstream):
        server = await start()
        path = self.route(fake_upstream, self.script.answer_text("A pixel.", Usage()), stream=False, images=True)
        data_url = "data:image/png;base64," + PIXEL
        await self.openai_client(server).chat.completions.create(
            model="chat",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Describe this."},
                        {"type": "image_url", "image_url": {"url": data_url}},
                        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                    ],
                }
            ],
        )
        summary = self.sent(fake_upstream, path)
        assert summary.images == [data_url, "https://example.com/cat.png"]
        assert summary.turns == [("user", "Describe this.")]

    async def test_errors(self, start, fake_upstream):
        import anthropic
        import openai

        server = await start()
        client, claude = self.openai_client(server), self.anthropic_client(server)
        cases = self.script.error_cases()
        statuses = {case.status for case in cases}
        assert {400, 401, 429} <= statuses and any(s >= 500 for s in statuses), "cover 400, 401, 429 and 5xx"
        for case in cases:
            path = self.route(fake_upstream, case.responder, stream=False)
            before = len(fake_upstream.calls(path))
            with pytest.raises(openai.APIStatusError) as caught:
                await client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
            error = caught.value
            assert error.status_code == case.status, case.name
            body = error.response.json()
            assert set(body["error"]) >= {"message", "type", "code"}, case.name
            assert VENDOR_KEY not in error.response.text
            if case.message:
                assert case.message in body["error"]["message"], case.name
            if case.retry_after:
                assert error.response.headers.get("retry-after") == case.retry_after, case.name

            with pytest.raises(anthropic.APIStatusError) as caught_claude:
                await claude.messages.create(
                    model="chat", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
                )
            claude_error = caught_claude.value
            assert claude_error.status_code == case.status, case.name
            claude_body = claude_error.response.json()
            assert claude_body["type"] == "error" and claude_body["error"]["type"], case.name
            assert VENDOR_KEY not in claude_error.response.text
            assert len(fake_upstream.calls(path)) == before + 2, case.name  # [retry] attempts = 1

    async def test_error_mid_stream_is_reported_in_band(self, start, fake_upstream):
        import openai

        server = await start()
        self.route(fake_upstream, self.script.answer_stream_error(["Partial "]), stream=True)
        stream = await self.openai_client(server).chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        text = []
        with pytest.raises(openai.APIError):
            async for chunk in stream:
                for choice in chunk.choices:
                    text.append(choice.delta.content or "")
        assert "".join(text) == "Partial "

    async def test_timeout_before_answer(self, start, fake_upstream):
        import openai

        server = await start(vendor_timeout=0.3)
        self.route(fake_upstream, _slow(self.script.answer_text("late", Usage()), 3), stream=False)
        with pytest.raises(openai.APIStatusError) as caught:
            await self.openai_client(server).chat.completions.create(
                model="chat", messages=[{"role": "user", "content": "hi"}]
            )
        assert caught.value.status_code == 504
        self.route(fake_upstream, _slow(self.script.answer_stream(["late"], Usage()), 3), stream=True)
        with pytest.raises(openai.APIStatusError) as caught:
            await self.openai_client(server).chat.completions.create(
                model="chat", messages=[{"role": "user", "content": "hi"}], stream=True
            )
        assert caught.value.status_code == 504

    async def test_client_disconnect_closes_the_upstream(self, start, fake_upstream):
        server = await start()
        pieces = [f"word{i} " for i in range(60)]
        self.route(fake_upstream, self.script.answer_stream(pieces, Usage(), delay=0.05), stream=True)
        async with aiohttp.ClientSession() as session:
            response = await session.post(
                server.base_url + "/v1/chat/completions",
                json={"model": "chat", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
                headers={"Authorization": f"Bearer {CLIENT_TOKEN}"},
            )
            assert response.status == 200
            first = await response.content.readuntil(b"\n\n")
            assert first.startswith(b"data: ")
            response.close()
        await asyncio.wait_for(fake_upstream.abort_event.wait(), 3)
        assert fake_upstream.aborted == 1

    # -- Anthropic entrance -------------------------------------------------------------------

    async def test_messages_text(self, start, fake_upstream):
        server = await start()
        path = self.route(fake_upstream, self.script.answer_text("Sunny, 18C.", Usage(11, 7)), stream=False)
        message = await self.anthropic_client(server).messages.create(
            model="chat", max_tokens=50, system=SYSTEM, messages=[{"role": "user", "content": QUESTION}]
        )
        assert message.type == "message" and message.role == "assistant"
        assert [block.type for block in message.content] == ["text"]
        assert message.content[0].text == "Sunny, 18C."
        assert message.stop_reason == "end_turn"
        assert (message.usage.input_tokens, message.usage.output_tokens) == (11, 7)
        summary = self.sent(fake_upstream, path)
        assert summary.system == SYSTEM
        assert summary.turns == [("user", QUESTION)]
        assert summary.max_tokens == 50

    async def test_messages_stream(self, start, fake_upstream):
        server = await start()
        pieces = ["Sun", "ny, ", "18C."]
        self.route(fake_upstream, self.script.answer_stream(pieces, Usage(11, 7)), stream=True)
        async with self.anthropic_client(server).messages.stream(
            model="chat", max_tokens=50, messages=[{"role": "user", "content": QUESTION}]
        ) as stream:
            texts = [text async for text in stream.text_stream]
            message = await stream.get_final_message()
        assert "".join(texts) == "Sunny, 18C."
        assert message.content[0].text == "Sunny, 18C."
        assert message.stop_reason == "end_turn"
        assert message.usage.output_tokens == 7

    async def test_messages_tool_use(self, start, fake_upstream):
        server = await start()
        path = self.route(
            fake_upstream, self.script.answer_tool_call(WEATHER_CALL, Usage(20, 9), stream=False), stream=False
        )
        message = await self.anthropic_client(server).messages.create(
            model="chat", max_tokens=100, tools=ANTHROPIC_TOOLS, messages=[{"role": "user", "content": QUESTION}]
        )
        assert message.stop_reason == "tool_use"
        (block,) = [block for block in message.content if block.type == "tool_use"]
        assert (block.id, block.name, block.input) == (WEATHER_CALL.id, WEATHER_CALL.name, WEATHER_CALL.arguments)
        assert self.sent(fake_upstream, path).tools == ["get_weather"]

    async def test_messages_tool_use_stream(self, start, fake_upstream):
        server = await start()
        self.route(fake_upstream, self.script.answer_tool_call(WEATHER_CALL, Usage(20, 9), stream=True), stream=True)
        async with self.anthropic_client(server).messages.stream(
            model="chat", max_tokens=100, tools=ANTHROPIC_TOOLS, messages=[{"role": "user", "content": QUESTION}]
        ) as stream:
            message = await stream.get_final_message()
        assert message.stop_reason == "tool_use"
        (block,) = [block for block in message.content if block.type == "tool_use"]
        assert (block.id, block.name, block.input) == (WEATHER_CALL.id, WEATHER_CALL.name, WEATHER_CALL.arguments)

    async def test_messages_tool_result_and_image(self, start, fake_upstream):
        server = await start()
        path = self.route(fake_upstream, self.script.answer_text("Done.", Usage()), stream=False, images=True)
        await self.anthropic_client(server).messages.create(
            model="chat",
            max_tokens=100,
            tools=ANTHROPIC_TOOLS,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": QUESTION},
                        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}},
                    ],
                },
                {
                    "role": "assistant",
                    "content": [
                        {"type": "tool_use", "id": WEATHER_CALL.id, "name": WEATHER_CALL.name,
                         "input": WEATHER_CALL.arguments}
                    ],
                },
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": WEATHER_CALL.id, "content": "18C and sunny"}],
                },
            ],
        )
        summary = self.sent(fake_upstream, path)
        assert summary.images == ["data:image/png;base64," + PIXEL]
        assert summary.tool_calls == [WEATHER_CALL]
        assert summary.tool_results == [(WEATHER_CALL.id, "18C and sunny")]

    async def test_messages_error_mid_stream(self, start, fake_upstream):
        import anthropic

        server = await start()
        self.route(fake_upstream, self.script.answer_stream_error(["Partial "]), stream=True)
        texts: list[str] = []
        with pytest.raises(anthropic.APIError):
            async with self.anthropic_client(server).messages.stream(
                model="chat", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
            ) as stream:
                async for text in stream.text_stream:
                    texts.append(text)
        assert "".join(texts) == "Partial "

