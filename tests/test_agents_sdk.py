"""The OpenAI Agents SDK's default model (``OpenAIResponsesModel``, the Responses API) runs a
function-tool round trip through the real gateway: the vendor asks for the tool, the SDK runs
it, the vendor receives the result and gives the final answer. Against every kind of vendor in
``responses_vendors`` (bridged chat, Anthropic and DashScope; native Responses)."""

from __future__ import annotations

import openai
import pytest
from agents import Agent, Runner, function_tool, set_default_openai_client, set_tracing_disabled
from agents.models import _openai_shared
from responses_vendors import BACKENDS

from sluicegate.testing.vendor import ToolCall

CLIENT = "client-token-agents-sdk"
CALL = ToolCall("call_agents_1", "get_weather", {"city": "Paris"})
FINAL = "It is 22C and sunny in Paris."


@pytest.fixture
async def agents_client():
    """Point the SDK's default client at a gateway for one test, and put the old one back."""
    previous = _openai_shared.get_default_openai_client()
    set_tracing_disabled(True)  # nothing is exported anywhere
    clients: list[openai.AsyncOpenAI] = []

    def use(base_url: str) -> None:
        client = openai.AsyncOpenAI(base_url=base_url, api_key=CLIENT, max_retries=0)
        clients.append(client)
        set_default_openai_client(client, use_for_tracing=False)

    yield use
    _openai_shared.set_default_openai_client(previous)
    for client in clients:
        await client.close()


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "run_streamed"])
@pytest.mark.parametrize("vendor", sorted(BACKENDS))
async def test_an_agent_runs_a_function_tool_round_trip(gateway, fake_upstream, agents_client, vendor, streamed):
    backend = BACKENDS[vendor]()
    server = await gateway(f"""
[auth]
tokens = ["{CLIENT}"]

[providers.up]
{backend.provider(fake_upstream.url)}
api_key = "sk-agents-vendor-key"

[models.assistant]
targets = ["up/{backend.model}"]

[retry]
attempts = 1
""")
    backend.on(fake_upstream, backend.tool_call(CALL), backend.text(FINAL))
    agents_client(server.base_url + "/v1")
    asked: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """The current weather in a city."""
        asked.append(city)
        return f"22C, sunny in {city}"

    agent = Agent(name="weather", instructions="Answer weather questions.", model="assistant", tools=[get_weather])
    if streamed:
        result = Runner.run_streamed(agent, "What's the weather in Paris?")
        kinds = {event.type async for event in result.stream_events()}
        assert "raw_response_event" in kinds
    else:
        result = await Runner.run(agent, "What's the weather in Paris?")

    assert result.final_output == FINAL
    assert asked == ["Paris"]
    first, second = backend.calls(fake_upstream)
    assert backend.summarize(first).tools == ["get_weather"]
    assert backend.summarize(first).stream is streamed
    seen = backend.summarize(second)
    assert seen.tool_calls == [CALL]
    assert seen.tool_results == [(CALL.id, "22C, sunny in Paris")]
    assert seen.system == "Answer weather questions."
    assert ("user", "What's the weather in Paris?") in seen.turns
