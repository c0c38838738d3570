"""The kinds of vendor the Responses API tests run against, scripted on a FakeUpstream.

- ``chat``: an OpenAI-compatible chat vendor; the gateway bridges Responses onto chat.
- ``anthropic``: Anthropic; bridged onto chat, which the anthropic provider translates again.
- ``dashscope``: Qwen through DashScope's native API; bridged onto chat, then translated again.
- ``gemini``: Google's Gemini API; bridged onto chat, then translated to generateContent.
- ``vertex-gemini``, ``vertex-claude``: Vertex AI's two families (Gemini's and Anthropic's
  dialects under Vertex's paths and OAuth token); bridged onto chat, then translated.
- ``bedrock``: AWS Bedrock's Converse API (its binary event stream); bridged onto chat.
- ``azure``: Azure OpenAI's classic paths (api-version, a deployment); bridged onto chat.
- ``azure-native``: Azure's own Responses API (its v1 API), passed through.
- ``native``: OpenAI's own ``/v1/responses`` (``responses = true``), passed through.

A vendor may answer streams at another path than complete answers (Gemini's
``:streamGenerateContent``, Vertex's ``:streamRawPredict``): ``Backend.on`` answers both paths
from one queue of responders and ``Backend.calls`` lists the calls to either, in order.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from attrs import define

from sluicegate.testing.upstream import FakeUpstream, RecordedRequest
from sluicegate.testing.vendor import RequestSummary, Responder, ToolCall, Usage, VendorScript
from sluicegate_anthropic.fake import AnthropicScript
from sluicegate_azure.fake import AzureScript
from sluicegate_bedrock.fake import BedrockScript
from sluicegate_dashscope.fake import DashScopeScript
from sluicegate_gemini.fake import GeminiScript
from sluicegate_openai.fake import OpenAIScript, ResponsesScript
from sluicegate_vertex.fake import VertexClaudeScript, VertexGeminiScript


@define
class Backend:
    """One kind of vendor behind the gateway: its provider table and how it is scripted."""

    name: str
    table: str  # the provider table's lines but the key, "{url}" standing for the fake's address
    paths: tuple[str, ...]  # where the vendor is called (complete answers, then streams if apart)
    text: Callable[[str], Responder]  # each answers streamed or not, as the request asks
    tool_call: Callable[[ToolCall], Responder]
    broken: Callable[[], Responder]  # a stream that says "Hello" and then fails, in the vendor's way
    summarize: Callable[[RecordedRequest], RequestSummary]
    model: str = "vendor-model"  # the model the provider is asked for

    def provider(self, url: str) -> str:
        return self.table.replace("{url}", url)

    def on(self, upstream: FakeUpstream, *responders: Responder) -> None:
        """Answer the vendor's calls, at whichever of its paths, with these in turn; the last
        one repeats."""
        answered = 0

        async def respond(request: web.Request) -> web.StreamResponse:
            nonlocal answered
            responder = responders[min(answered, len(responders) - 1)]
            answered += 1
            return await responder(request)

        for path in self.paths:
            upstream.on(path, respond)

    def calls(self, upstream: FakeUpstream) -> list[RecordedRequest]:
        return [request for request in upstream.requests if request.path in self.paths]


def either(complete: Responder, streamed: Responder) -> Responder:
    """Answer with ``streamed`` when the request asks for a stream, else with ``complete``."""

    async def respond(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        # DashScope asks for a stream in a header; Gemini, Vertex and Bedrock at paths of their own.
        stream = (body.get("stream") is True or request.headers.get("X-DashScope-SSE") == "enable"
                  or ":stream" in request.path or request.path.endswith("-stream"))
        return await (streamed if stream else complete)(request)

    return respond


def pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [word + " " for word in words[:-1]] + [words[-1]]


def _bridged(name: str, script: VendorScript, table: str, *, model: str = "vendor-model") -> Backend:
    paths = tuple(dict.fromkeys((script.chat_path(False), script.chat_path(True))))
    return Backend(
        name,
        table,
        paths,
        lambda text: either(script.answer_text(text, Usage()), script.answer_stream(pieces(text), Usage())),
        lambda call: either(script.answer_tool_call(call, Usage(), stream=False),
                            script.answer_tool_call(call, Usage(), stream=True)),
        lambda: script.answer_stream_error(["Hel", "lo"]),
        script.summarize,
        model,
    )


def chat() -> Backend:
    return _bridged("chat", OpenAIScript(), 'type = "openai"\nbase_url = "{url}/v1"')


def anthropic() -> Backend:
    return _bridged("anthropic", AnthropicScript(), 'type = "anthropic"\nbase_url = "{url}/v1"')


def dashscope() -> Backend:
    script = DashScopeScript()
    return _bridged("dashscope", script, f'type = "dashscope"\nbase_url = "{script.base_url("{url}")}"')


def gemini() -> Backend:
    script = GeminiScript()
    return _bridged("gemini", script, f'type = "gemini"\nbase_url = "{script.base_url("{url}")}"',
                    model=script.upstream_model)


def _vertex(name: str, script: VertexGeminiScript | VertexClaudeScript) -> Backend:
    # api_key: a ready access token (no OAuth exchange): the token tests cover that part.
    table = f'type = "vertex"\nbase_url = "{script.base_url("{url}")}"\n{script.provider_options()}'
    return _bridged(name, script, table, model=script.upstream_model)


def vertex_gemini() -> Backend:
    return _vertex("vertex-gemini", VertexGeminiScript())


def vertex_claude() -> Backend:
    return _vertex("vertex-claude", VertexClaudeScript())


def bedrock() -> Backend:
    """AWS Bedrock's Converse API (a Bedrock API key: the signing tests cover SigV4)."""
    script = BedrockScript()
    table = f'type = "bedrock"\nbase_url = "{{url}}"\n{script.provider_options()}'
    return _bridged("bedrock", script, table, model=script.upstream_model)


def azure() -> Backend:
    """Azure OpenAI on its classic paths (api-version, deployments), Responses bridged onto chat."""
    script = AzureScript(api_version="2024-10-21", deployments={"gpt-4o-mini": "chat-deployment"})
    table = f'type = "azure"\nbase_url = "{{url}}"\nresponses = false\n{script.provider_options()}'
    return _bridged("azure", script, table, model=script.upstream_model)


def azure_native() -> Backend:
    """Azure OpenAI's own Responses API (its v1 API), passed through."""
    script = AzureScript()
    return Backend(
        "azure-native",
        'type = "azure"\nbase_url = "{url}"',
        (script.path("responses"),),
        lambda text: script.answer_responses(text),
        lambda call: script.answer_responses(calls=(call,)),
        lambda: script.answer_responses_error("Hello there"),
        script.summarize_responses,
        script.upstream_model,
    )


def native() -> Backend:
    script = ResponsesScript()
    return Backend(
        "native",
        'type = "openai"\nbase_url = "{url}/v1"\nresponses = true',
        (script.path,),
        lambda text: script.answer(text),
        lambda call: script.answer(calls=(call,)),
        lambda: script.answer_stream_error("Hello there"),
        script.summarize,
    )


BACKENDS = {"chat": chat, "anthropic": anthropic, "dashscope": dashscope, "gemini": gemini,
            "vertex-gemini": vertex_gemini, "vertex-claude": vertex_claude, "azure": azure, "bedrock": bedrock,
            "azure-native": azure_native, "native": native}
