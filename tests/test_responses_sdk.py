"""The official ``openai`` SDK drives the Responses API through the real gateway to every kind of
vendor (``responses_vendors``): an OpenAI-compatible chat vendor, Anthropic and DashScope (all
bridged: Responses -> chat -> the vendor's dialect) and OpenAI's own ``/v1/responses`` (native
pass-through). Each test runs against each: text, streams (the SDK's accumulator agrees with the
complete answer), function tools, ``previous_response_id`` follow-ups,
``retrieve``/``delete``/``input_items``, tenant scoping, ``store: false``, bad input, and a
stream broken mid-way."""

from __future__ import annotations

import json

import openai
import pytest
from responses_vendors import BACKENDS

from sluicegate.testing.vendor import ToolCall

CLIENT = "client-token-responses-a"
OTHER = "client-token-responses-b"
KEY = "sk-vendor-secret-responses-1"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
CALL = ToolCall("call_weather_1", "get_weather", {"city": "Paris"})


@pytest.fixture(params=sorted(BACKENDS))
async def setup(request, gateway, fake_upstream):
    backend = BACKENDS[request.param]()
    server = await gateway(f"""
[auth]
tokens = ["{CLIENT}", "{OTHER}"]

[providers.up]
{backend.provider(fake_upstream.url)}
api_key = "{KEY}"

[models.assistant]
targets = ["up/{backend.model}"]

[retry]
attempts = 1
""")
    client = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=CLIENT, max_retries=0)
    other = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=OTHER, max_retries=0)
    yield backend, client, other, fake_upstream
    await client.close()
    await other.close()


async def test_text_complete_and_streamed_agree(setup):
    backend, client, _, upstream = setup
    backend.on(upstream, backend.text("The sky is blue today."))
    complete = await client.responses.create(model="assistant", input="What colour is the sky?")
    assert complete.status == "completed"
    assert complete.output_text == "The sky is blue today."
    assert complete.usage is not None and complete.usage.output_tokens > 0

    async with client.responses.stream(model="assistant", input="What colour is the sky?") as stream:
        events = [event async for event in stream]
        final = await stream.get_final_response()
    assert final.output_text == complete.output_text
    assert [item.type for item in final.output] == [item.type for item in complete.output]
    assert final.status == "completed" and final.id != complete.id
    kinds = [event.type for event in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert "response.output_text.delta" in kinds and "response.output_item.done" in kinds
    # One response id across the stream; sequence numbers strictly increase.
    assert {event.response.id for event in events if hasattr(event, "response")} == {final.id}
    numbers = [event.sequence_number for event in events]
    assert numbers == sorted(set(numbers))
    sent = backend.calls(upstream)
    assert [backend.summarize(call).stream for call in sent] == [False, True]
    assert all(backend.summarize(call).credential == KEY for call in sent)


async def test_function_tool_round_trip_with_previous_response_id(setup):
    backend, client, _, upstream = setup
    backend.on(upstream, backend.tool_call(CALL), backend.text("It is 22 degrees and sunny in Paris."))
    first = await client.responses.create(model="assistant", input="Weather in Paris?", tools=[WEATHER])
    (call,) = [item for item in first.output if item.type == "function_call"]
    assert (call.name, call.call_id) == ("get_weather", CALL.id)
    assert call.arguments and json.loads(call.arguments) == CALL.arguments

    answer = await client.responses.create(
        model="assistant",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "22C, sunny"}],
        tools=[WEATHER],
    )
    assert answer.output_text == "It is 22 degrees and sunny in Paris."
    assert answer.previous_response_id == first.id
    # The vendor saw the whole conversation: the question, the call, its output.
    seen = backend.summarize(backend.calls(upstream)[-1])
    assert seen.turns[0] == ("user", "Weather in Paris?")
    assert seen.tool_calls == [CALL]
    assert seen.tool_results == [(CALL.id, "22C, sunny")]
    assert seen.tools == ["get_weather"]


async def test_streamed_follow_up_right_after_completed(setup):
    """A response is stored before its ``response.completed`` reaches the client: a follow-up
    sent the moment that event is read finds it."""
    backend, client, _, upstream = setup
    backend.on(upstream, backend.text("First answer."), backend.text("Second answer."))
    stream = await client.responses.create(model="assistant", input="one", stream=True)
    first_id = None
    async for event in stream:
        if event.type == "response.completed":
            first_id = event.response.id
            break
    assert first_id is not None
    follow_up = await client.responses.create(model="assistant", input="two", previous_response_id=first_id)
    await stream.close()
    assert follow_up.output_text == "Second answer."
    seen = backend.summarize(backend.calls(upstream)[-1])
    assert seen.turns == [("user", "one"), ("assistant", "First answer."), ("user", "two")]


async def test_a_stream_broken_mid_way_raises_in_the_sdk(setup):
    """After the first byte no status can change: the stream ends with ``response.failed`` (what
    the gateway knows of a bridged answer) and an ``error`` event, on which the SDK raises."""
    backend, client, _, upstream = setup
    backend.on(upstream, backend.broken())
    seen: list[str] = []
    text: list[str] = []
    ids: set[str] = set()
    with pytest.raises(openai.APIError) as caught:
        stream = await client.responses.create(model="assistant", input="hi", stream=True)
        async for event in stream:
            seen.append(event.type)
            if event.type == "response.output_text.delta":
                text.append(event.delta)
            if hasattr(event, "response"):
                ids.add(event.response.id)
    assert "".join(text).startswith("Hel")
    assert "response.completed" not in seen
    assert caught.value.message
    (response_id,) = ids
    with pytest.raises(openai.NotFoundError):  # a failed answer is not stored
        await client.responses.retrieve(response_id)


async def test_retrieve_input_items_and_delete(setup):
    backend, client, _, upstream = setup
    backend.on(upstream, backend.text("Stored words."))
    created = await client.responses.create(
        model="assistant",
        input=[{"role": "user", "content": "first"}, {"role": "user", "content": "second"}],
    )
    retrieved = await client.responses.retrieve(created.id)
    assert retrieved.id == created.id
    assert retrieved.output_text == "Stored words."

    items = [item async for item in client.responses.input_items.list(created.id, order="asc")]
    assert [item.content[0].text for item in items] == ["first", "second"]
    assert all(item.id for item in items)
    newest_first = await client.responses.input_items.list(created.id, limit=1)
    assert [item.content[0].text for item in newest_first.data] == ["second"]
    assert newest_first.has_more is True

    await client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        await client.responses.delete(created.id)


async def test_another_client_cannot_see_or_continue_a_response(setup):
    backend, client, other, upstream = setup
    backend.on(upstream, backend.text("Private answer."))
    created = await client.responses.create(model="assistant", input="a secret")
    with pytest.raises(openai.NotFoundError):
        await other.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        await other.responses.input_items.list(created.id)
    with pytest.raises(openai.NotFoundError):
        await other.responses.delete(created.id)
    calls = len(upstream.requests)
    with pytest.raises(openai.NotFoundError) as caught:
        await other.responses.create(model="assistant", input="go on", previous_response_id=created.id)
    assert caught.value.code == "previous_response_not_found"
    assert caught.value.body["param"] == "previous_response_id"
    assert len(upstream.requests) == calls  # nothing was sent upstream
    # The owner still has it.
    assert (await client.responses.retrieve(created.id)).id == created.id


async def test_store_false_keeps_nothing(setup):
    backend, client, _, upstream = setup
    backend.on(upstream, backend.text("Unstored."))
    created = await client.responses.create(model="assistant", input="forget me", store=False)
    assert created.output_text == "Unstored."
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        await client.responses.create(model="assistant", input="and?", previous_response_id=created.id)
    assert len(upstream.requests) == 1


async def test_bad_input_is_a_400_naming_the_field_and_nothing_goes_upstream(setup):
    backend, client, _, upstream = setup
    backend.on(upstream, backend.text("never"))
    with pytest.raises(openai.BadRequestError) as caught:
        await client.responses.create(model="assistant", input=42)  # type: ignore[arg-type]
    assert caught.value.body["param"] == "input"
    with pytest.raises(openai.BadRequestError) as caught:
        await client.responses.create(model="assistant", input="hi", store="yes")  # type: ignore[arg-type]
    assert caught.value.body["param"] == "store"
    assert upstream.requests == []
