"""Test kit for sluicegate and its plugins: fake vendors, a real gateway on a free port, and
request values and an upstream transport for unit tests that need no server at all.

Use it from pytest with ``pytest_plugins = ["sluicegate.testing.pytest_plugin"]`` (needs
pytest-asyncio), or directly as async context managers.

- ``FakeUpstream`` (fixture ``fake_upstream``): a real local HTTP server speaking a vendor's
  wire format, recording what it got; ``running_gateway`` (fixture ``gateway``): the real server.
- ``make_request(body, endpoint=..., **fields)`` / ``make_ctx(headers=..., **fields)``: a
  ``GatewayRequest`` / ``RequestContext`` with defaults, for adapter and middleware tests.
- The transport seam (``sluicegate.transport``): every HTTP provider sends through
  ``Services.transport`` when one is set. ``MockTransport(handler)`` answers each call from
  ``handler(SentRequest) -> MockResponse`` (plain or async; may raise
  ``aiohttp.ClientConnectionError`` or ``TimeoutError`` to play a network failure), built with
  ``json_response(data, status, headers)``, ``sse_response(events, done=True)`` or
  ``MockResponse(status, body=<bytes | chunks | async iterator of chunks>, headers=...)``. It
  records ``requests`` and ``responses``. ``no_sockets()`` (fixture ``no_sockets``) fails a test
  that opened a network socket.

  ::

      transport = MockTransport(lambda sent: json_response(openai_chat_completion("hi")))
      provider = OpenAIProvider("up", options, Services(http=None, config=None, transport=transport))
      reply = await provider.send(make_ctx(), make_request({"model": "m", "messages": MESSAGES}), target)
      assert transport.requests[0].path == "/v1/chat/completions"

  A whole gateway takes one too: ``running_gateway(config, services={"transport": transport})``.
"""

from sluicegate.testing.gateway import running_gateway
from sluicegate.testing.request import make_ctx, make_request
from sluicegate.testing.transport import (
    MockResponse,
    MockTransport,
    SentRequest,
    json_response,
    no_sockets,
    sse_response,
)
from sluicegate.testing.upstream import FakeUpstream, RecordedRequest, openai_chat_completion, openai_chunks

__all__ = [
    "FakeUpstream", "MockResponse", "MockTransport", "RecordedRequest", "SentRequest", "json_response", "make_ctx",
    "make_request", "no_sockets", "openai_chat_completion", "openai_chunks", "running_gateway", "sse_response",
]
