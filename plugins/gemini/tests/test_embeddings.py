"""Embeddings through ``type = "gemini"``: the pure translation, then the openai SDK end to end."""

from __future__ import annotations

import base64
import struct

import openai
import pytest

from sluicegate.errors import InvalidRequest
from sluicegate_gemini import embed

KEY = "AIzaSyFakeGeminiKey0123456789abcdefghij"
TOKEN = "client-token"
MODEL = "gemini-embedding-001"
BATCH_PATH = f"/v1beta/models/{MODEL}:batchEmbedContents"
# batchEmbedContents' documented answer: one ContentEmbedding per request, in order.
ANSWER = {"embeddings": [{"values": [0.25, -0.5, 0.125]}, {"values": [1.0, 0.0, -1.0]}]}


def test_request_has_one_entry_per_input():
    body = {"model": "x", "input": ["What is the meaning of life?", "How much wood?"], "dimensions": 3}
    assert embed.embed_request(body, MODEL) == {"requests": [
        {"model": f"models/{MODEL}", "outputDimensionality": 3,
         "content": {"parts": [{"text": "What is the meaning of life?"}]}},
        {"model": f"models/{MODEL}", "outputDimensionality": 3, "content": {"parts": [{"text": "How much wood?"}]}},
    ]}
    assert embed.embed_request({"input": "one"}, "models/" + MODEL)["requests"] == [
        {"model": f"models/{MODEL}", "content": {"parts": [{"text": "one"}]}}]


@pytest.mark.parametrize(
    "body, param",
    [
        ({"input": [[101, 2023]]}, "input[0]"),
        ({"input": []}, "input"),
        ({"input": "x", "dimensions": 0}, "dimensions"),
        ({"input": "x", "encoding_format": "int8"}, "encoding_format"),
    ],
)
def test_bad_requests_are_a_clear_400(body, param):
    with pytest.raises(InvalidRequest) as caught:
        embed.embed_request(body, MODEL)
    assert caught.value.param == param


def test_answer_as_floats_and_as_base64():
    floats = embed.embeddings(ANSWER, model=MODEL, count=2, encoding=None)
    assert floats == {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": [0.25, -0.5, 0.125]},
            {"object": "embedding", "index": 1, "embedding": [1.0, 0.0, -1.0]},
        ],
        "model": MODEL,
        "usage": {"prompt_tokens": 0, "total_tokens": 0},
    }
    packed = embed.embeddings(ANSWER, model=MODEL, count=2, encoding="base64")["data"][0]["embedding"]
    assert struct.unpack("<3f", base64.b64decode(packed)) == (0.25, -0.5, 0.125)


def test_an_answer_with_the_wrong_count_is_not_an_answer():
    with pytest.raises(ValueError):
        embed.embeddings(ANSWER, model=MODEL, count=3, encoding=None)
    with pytest.raises(ValueError):
        embed.embeddings({"embeddings": [{"values": ["a"]}]}, model=MODEL, count=1, encoding=None)


async def test_embeddings_through_the_sdk(gateway, fake_upstream):
    fake_upstream.json(BATCH_PATH, ANSWER)
    server = await gateway(
        f"""
[auth]
tokens = ["{TOKEN}"]

[providers.google]
type = "gemini"
base_url = "{fake_upstream.url}/v1beta"
api_key = "${{GEMINI_KEY}}"

[retry]
attempts = 1
""",
        env={"GEMINI_KEY": KEY},
    )
    client = openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key=TOKEN, max_retries=0)
    # The SDK asks for base64 unless told otherwise and decodes it: the floats come back whole.
    answer = await client.embeddings.create(model=f"google/{MODEL}", input=["first", "second"])
    assert [item.embedding for item in answer.data] == [[0.25, -0.5, 0.125], [1.0, 0.0, -1.0]]
    [sent] = fake_upstream.requests
    assert sent.headers.get("x-goog-api-key") == KEY
    assert [request["content"]["parts"][0]["text"] for request in sent.json()["requests"]] == ["first", "second"]
