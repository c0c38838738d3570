"""``x-request-id`` on every response: generated when absent, echoed when valid, replaced when not."""

from __future__ import annotations

import re

import aiohttp
import orjson
import pytest

from sluicegate.testing import openai_chat_completion, openai_chunks

GENERATED = re.compile(r"^req_[0-9a-f]{24}$")
CHAT = orjson.dumps({"model": "chat", "messages": [{"role": "user", "content": "hi"}]})
STREAM = orjson.dumps({"model": "chat", "messages": [{"role": "user", "content": "hi"}], "stream": True})


def upstream_request_ids(upstream) -> list[list[str]]:
    """Per recorded upstream request, every x-request-id header value it carried."""
    return [[v for k, v in r.headers.items() if k.lower() == "x-request-id"] for r in upstream.requests]


@pytest.fixture
async def rid(gateway, fake_upstream):
    fake_upstream.json("/v1/chat/completions", openai_chat_completion("ok"))
    server = await gateway(f"""
[providers.up]
type = "openai"
base_url = "{fake_upstream.url}/v1"
[providers.mock]
type = "mock"
[models.chat]
targets = ["up/gpt-4o-mini"]
[models.echo]
targets = ["mock/echo-1"]
""")
    async with aiohttp.ClientSession() as http:

        async def call(method: str, path: str, body: bytes | None = None, request_id: str | None = None):
            headers = {} if request_id is None else {"x-request-id": request_id}
            async with http.request(method, server.base_url + path, data=body, headers=headers) as resp:
                return resp.status, resp.headers.get("x-request-id"), await resp.read()

        yield call, fake_upstream


CASES = [
    pytest.param("POST", "/v1/chat/completions", CHAT, 200, id="success"),
    pytest.param("POST", "/v1/chat/completions", b"{", 400, id="bad-json"),
    pytest.param("POST", "/v1/chat/completions", orjson.dumps({"model": "x", "messages": []}), 400, id="400"),
    pytest.param("GET", "/v1/nowhere", None, 404, id="route-404"),
    pytest.param("GET", "/v1/chat/completions", None, 405, id="405"),
    pytest.param("GET", "/v1/models", None, 200, id="models"),
    pytest.param("GET", "/health", None, 200, id="health"),
]


@pytest.mark.parametrize(("method", "path", "body", "status"), CASES)
async def test_generated_when_absent(rid, method, path, body, status):
    call, _ = rid
    got_status, first, _ = await call(method, path, body)
    assert got_status == status
    assert GENERATED.match(first)
    _, second, _ = await call(method, path, body)
    assert GENERATED.match(second)
    assert first != second


@pytest.mark.parametrize(("method", "path", "body", "status"), CASES)
async def test_client_value_echoed(rid, method, path, body, status):
    call, _ = rid
    mine = "trace-01HX:abc/def@svc.example+1=2"
    got_status, echoed, _ = await call(method, path, body, request_id=mine)
    assert got_status == status
    assert echoed == mine


async def test_client_value_forwarded_upstream(rid):
    call, upstream = rid
    await call("POST", "/v1/chat/completions", CHAT, request_id="my-trace-42")
    assert upstream_request_ids(upstream)[-1] == ["my-trace-42"]
    _, generated, _ = await call("POST", "/v1/chat/completions", CHAT)
    assert upstream_request_ids(upstream)[-1] == [generated]


@pytest.mark.parametrize("model", ["chat", "echo"], ids=["openai-upstream", "mock"])
async def test_streaming_responses(rid, model):
    call, upstream = rid
    upstream.sse("/v1/chat/completions", openai_chunks(["a", "b"]))
    body = orjson.dumps({"model": model, "messages": [{"role": "user", "content": "a b"}], "stream": True})
    status, generated, raw = await call("POST", "/v1/chat/completions", body)
    assert status == 200
    assert raw.endswith(b"data: [DONE]\n\n")
    assert GENERATED.match(generated)
    status, echoed, _ = await call("POST", "/v1/chat/completions", body, request_id="stream-7")
    assert (status, echoed) == (200, "stream-7")


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param("a" * 300, id="300-chars"),
        pytest.param("a" * 129, id="129-chars"),
        pytest.param("has spaces in it", id="spaces"),
        pytest.param("semi;colon", id="semicolon"),
        pytest.param('quote"d', id="quote"),
        pytest.param("ünïcode", id="non-ascii"),
    ],
)
async def test_invalid_value_replaced(rid, bad):
    call, upstream = rid
    for method, path, body in (("POST", "/v1/chat/completions", CHAT), ("GET", "/nope", None),
                               ("POST", "/v1/chat/completions", STREAM)):
        if body is STREAM:
            upstream.sse("/v1/chat/completions", openai_chunks(["x"]))
        _, got, raw = await call(method, path, body, request_id=bad)
        assert GENERATED.match(got), got
        assert bad.encode() not in raw
    sent = upstream_request_ids(upstream)
    assert len(sent) == 2
    assert all(len(ids) == 1 and GENERATED.match(ids[0]) for ids in sent)


async def test_longest_valid_value_kept(rid):
    call, _ = rid
    _, got, _ = await call("POST", "/v1/chat/completions", CHAT, request_id="b" * 128)
    assert got == "b" * 128


def test_generated_ids_are_unique_per_process_and_per_fork():
    import os

    from sluicegate.server.edge import RequestIds, new_request_id

    ids = RequestIds()
    drawn = [ids() for _ in range(1000)]
    assert len(set(drawn)) == 1000 and all(GENERATED.match(i) for i in drawn)
    assert RequestIds()()[:16] != ids()[:16]  # another process's random half
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child, as a forked worker: its ids do not repeat the parent's
        os.write(write, new_request_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    os.close(write)
    assert GENERATED.match(child) and child[:16] != new_request_id()[:16]
