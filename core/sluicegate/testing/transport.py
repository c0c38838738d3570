"""Adapters without sockets: a ``MockTransport`` (httpx's idea) that answers from a handler.

Give it to a provider through ``Services(transport=...)`` (or ``running_gateway(services=
{"transport": ...})``)::

    def vendor(sent: SentRequest) -> MockResponse:
        assert sent.json()["model"] == "m"
        return json_response(openai_chat_completion("hi"))

    transport = MockTransport(vendor)
    provider = OpenAIProvider("up", options, Services(http=None, config=None, transport=transport))

The handler may be a coroutine function, may raise what aiohttp raises (``aiohttp.
ClientConnectionError``, ``TimeoutError``) to play a network failure, and may answer with a
streamed body (chunks, or an async iterator of chunks that waits or raises part-way).
``no_sockets()`` (the ``no_sockets`` fixture) proves a test opened no network socket.
"""

from __future__ import annotations

import contextlib
import inspect
import socket
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import orjson
from attrs import define
from multidict import CIMultiDict, CIMultiDictProxy

from sluicegate.testing.upstream import FakeUpstream


@define
class SentRequest:
    """One call a provider made: what would have gone on the wire."""

    method: str
    url: str
    headers: CIMultiDictProxy[str]
    body: bytes
    timeouts: aiohttp.ClientTimeout | None

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.url).query))

    def json(self) -> Any:
        return orjson.loads(self.body)


Body = bytes | Iterable[bytes] | AsyncIterable[bytes]


class _Content:
    """``response.content``: hands out the body's chunks as they come, until the response closes."""

    __slots__ = ("_response", "_reading")

    def __init__(self, response: MockResponse) -> None:
        self._response = response
        self._reading: AsyncIterator[bytes] | None = None

    def iter_any(self) -> AsyncIterator[bytes]:
        return self._response._chunks()

    async def readany(self) -> bytes:
        if self._reading is None:
            self._reading = self._response._chunks()
        async for chunk in self._reading:
            if chunk:
                return chunk
        return b""

    def at_eof(self) -> bool:
        return False  # a scripted body's end is known only when its iterator stops


class MockResponse:
    """A stand-in for ``aiohttp.ClientResponse`` with what ``sluicegate.transport.UpstreamResponse``
    names. ``body`` is bytes, chunks, or an async iterator of chunks (a stream that may wait
    between chunks or raise part-way); each response can be read once, like a real one."""

    def __init__(self, status: int = 200, *, body: Body = b"", headers: Mapping[str, str] | None = None,
                 content_type: str = "application/json") -> None:
        self.status = status
        given = CIMultiDict(headers or {})
        given.setdefault("Content-Type", content_type)
        self.headers = CIMultiDictProxy(given)
        self.content_type = given["Content-Type"].split(";", 1)[0].strip().lower()
        self.content = _Content(self)
        self._body = body
        self._read: bytes | None = None
        self.released = False
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    async def _chunks(self) -> AsyncIterator[bytes]:
        body, self._body = self._body, b""
        if isinstance(body, bytes):
            if body and not self._closed:
                yield body
            return
        if isinstance(body, AsyncIterable):
            async for chunk in body:
                if self._closed:
                    return
                yield chunk
            return
        for chunk in body:
            if self._closed:
                return
            yield chunk

    async def read(self) -> bytes:
        if self._read is None:
            self._read = b"".join([chunk async for chunk in self._chunks()])
        return self._read

    def release(self) -> None:
        self.released = True

    def close(self) -> None:
        self._closed = True


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> MockResponse:
    """A JSON answer; bytes are sent as they are (an HTML page, a truncated body)."""
    body = data if isinstance(data, bytes) else orjson.dumps(data)
    return MockResponse(status, body=body, headers=headers)


def sse_response(events: Iterable[Any], *, done: bool = True, status: int = 200,
                 headers: Mapping[str, str] | None = None) -> MockResponse:
    """A server-sent-event stream, one chunk per event (framed as ``FakeUpstream.frame`` does:
    bytes as they are, ``(name, data)`` as a named event, anything else as ``data: <json>``)."""
    frames = [FakeUpstream.frame(event) for event in events]
    if done:
        frames.append(b"data: [DONE]\n\n")
    return MockResponse(status, body=frames, headers=headers, content_type="text/event-stream")


Handler = Callable[[SentRequest], "MockResponse | Awaitable[MockResponse]"]


class MockTransport:
    """A ``sluicegate.transport.Transport`` that answers every call from ``handler``.

    ``requests`` records what was sent and ``responses`` what was answered (to check, say, that
    closing a stream closed its response), in order.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[SentRequest] = []
        self.responses: list[MockResponse] = []

    async def request(self, method: str, url: str, *, headers: Mapping[str, str], body: bytes | None,
                      timeouts: aiohttp.ClientTimeout | None) -> MockResponse:
        sent = SentRequest(method, url, CIMultiDictProxy(CIMultiDict(headers)), body or b"", timeouts)
        self.requests.append(sent)
        answer = self.handler(sent)
        if inspect.isawaitable(answer):
            answer = await answer
        self.responses.append(answer)
        return answer


_NETWORK_FAMILIES = {-1, socket.AF_INET, socket.AF_INET6}


@contextlib.contextmanager
def no_sockets() -> Iterator[list[tuple[Any, ...]]]:
    """Inside, opening a network socket raises ``OSError`` and fails the test at the end, even if
    the code under test swallowed the error. Unix sockets stay allowed (the event loop wakes
    itself through a socket pair)."""
    attempts: list[tuple[Any, ...]] = []
    real_init = socket.socket.__init__

    def refuse(sock, family=-1, type=-1, proto=-1, fileno=None):  # socket.socket's own signature
        if fileno is None and family in _NETWORK_FAMILIES:
            attempts.append((family, type, proto))
            raise OSError("sluicegate.testing.no_sockets: this test may not open a network socket")
        real_init(sock, family, type, proto, fileno)

    socket.socket.__init__ = refuse  # type: ignore[method-assign]
    try:
        yield attempts
    finally:
        socket.socket.__init__ = real_init  # type: ignore[method-assign]
    assert not attempts, f"network sockets were opened: {attempts}"
