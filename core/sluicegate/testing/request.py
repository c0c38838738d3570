"""A request and its context with sensible defaults, for adapter and middleware unit tests.

``make_request`` and ``make_ctx`` fill in what a test does not care about and pass every other
keyword to the constructor, so a test names only the facts it is about::

    req = make_request({"model": "m", "messages": MESSAGES, "stream": True})
    reply = await provider.send(make_ctx(headers={"x-team": "ops"}), req, target)
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from sluicegate.exchange import Endpoint, GatewayRequest, RequestContext

#: The body ``make_request`` sends when a test gives none: the smallest valid chat request.
DEFAULT_BODY: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def make_request(body: Mapping[str, Any] | None = None, *, endpoint: Endpoint = Endpoint.CHAT,
                 **fields: Any) -> GatewayRequest:
    """A ``GatewayRequest`` for ``body`` (a copy of ``DEFAULT_BODY`` by default): ``model`` and
    ``stream`` are read from the body as the edge reads them, no targets; ``fields`` override
    any constructor keyword."""
    body = dict(body) if body is not None else copy.deepcopy(DEFAULT_BODY)
    values: dict[str, Any] = {
        "endpoint": endpoint,
        "body": body,
        "raw": orjson.dumps(body),
        "model": body.get("model", ""),
        "stream": body.get("stream") is True,
        "targets": (),
    }
    values.update(fields)
    return GatewayRequest(**values)


def make_ctx(*, request_id: str = "req-test", tenant: str | None = None,
             headers: Mapping[str, str] | None = None, started: float = 0.0, **fields: Any) -> RequestContext:
    """A ``RequestContext`` with the client's ``headers`` (none by default); ``fields`` override
    any other constructor keyword."""
    return RequestContext(request_id=request_id, tenant=tenant,
                          client_headers=CIMultiDictProxy(CIMultiDict(headers or {})), started=started, **fields)
