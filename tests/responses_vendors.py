"""The three kinds of vendor the Responses API tests run against, scripted on a FakeUpstream.

- ``chat``: an OpenAI-compatible chat vendor; the gateway bridges Responses onto chat.
- ``anthropic``: Anthropic; bridged onto chat, which the anthropic provider translates again.
- ``dashscope``: Qwen through DashScope's native API; bridged onto chat, then translated again.
- ``native``: OpenAI's own ``/v1/responses`` (``responses = true``), passed through.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from attrs import define

from sluicegate.testing.upstream import RecordedRequest
from sluicegate.testing.vendor import RequestSummary, Responder, ToolCall, Usage
from sluicegate_anthropic.fake import AnthropicScript
from sluicegate_dashscope.fake import DashScopeScript
from sluicegate_openai.fake import OpenAIScript, ResponsesScript


@define
class Backend:
    """One kind of vendor behind the gateway: its provider table and how it is scripted."""

    name: str
    table: str  # the provider table's lines but the key, "{url}" standing for the fake's address
    path: str  # where the vendor is called
    text: Callable[[str], Responder]  # each answers streamed or not, as the request asks
    tool_call: Callable[[ToolCall], Responder]
    broken: Callable[[], Responder]  # a stream that says "Hello" and then fails, in the vendor's way
    summarize: Callable[[RecordedRequest], RequestSummary]

    def provider(self, url: str) -> str:
        return self.table.replace("{url}", url)


def either(complete: Responder, streamed: Responder) -> Responder:
    """Answer with ``streamed`` when the request asks for a stream, else with ``complete``."""

    async def respond(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        # DashScope asks for a stream in a header, not in the body.
        stream = body.get("stream") is True or request.headers.get("X-DashScope-SSE") == "enable"
        return await (streamed if stream else complete)(request)

    return respond


def pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [word + " " for word in words[:-1]] + [words[-1]]


def _bridged(name: str, script: OpenAIScript | AnthropicScript | DashScopeScript, table: str) -> Backend:
    return Backend(
        name,
        table,
        script.chat_path(False),
        lambda text: either(script.answer_text(text, Usage()), script.answer_stream(pieces(text), Usage())),
        lambda call: either(script.answer_tool_call(call, Usage(), stream=False),
                            script.answer_tool_call(call, Usage(), stream=True)),
        lambda: script.answer_stream_error(["Hel", "lo"]),
        script.summarize,
    )


def chat() -> Backend:
    return _bridged("chat", OpenAIScript(), 'type = "openai"\nbase_url = "{url}/v1"')


def anthropic() -> Backend:
    return _bridged("anthropic", AnthropicScript(), 'type = "anthropic"\nbase_url = "{url}/v1"')


def dashscope() -> Backend:
    script = DashScopeScript()
    return _bridged("dashscope", script, f'type = "dashscope"\nbase_url = "{script.base_url("{url}")}"')


def native() -> Backend:
    script = ResponsesScript()
    return Backend(
        "native",
        'type = "openai"\nbase_url = "{url}/v1"\nresponses = true',
        script.path,
        lambda text: script.answer(text),
        lambda call: script.answer(calls=(call,)),
        lambda: script.answer_stream_error("Hello there"),
        script.summarize,
    )


BACKENDS = {"chat": chat, "anthropic": anthropic, "dashscope": dashscope, "native": native}
