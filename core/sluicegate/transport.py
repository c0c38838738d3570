"""The one seam between HTTP adapters and the network: ``Transport.request``.

``HttpProvider`` sends every upstream call (``post`` and the health-check ``probe``) through
its ``transport``. In production that is the gateway's ``sluicegate.http_pool.PoolTransport``
(``[server] upstream_client = "pool"``, the default), or a ``SessionTransport`` over the shared
``aiohttp.ClientSession`` (``"aiohttp"``), whose response is aiohttp's own. A test puts
``sluicegate.testing.MockTransport`` in ``Services.transport`` instead (httpx's
``MockTransport`` idea): adapters then run against a handler function, with no sockets.

What adapters may use of a response is ``UpstreamResponse``: the part of
``aiohttp.ClientResponse`` the core and the vendor plugins touch, and all a stand-in must offer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

import aiohttp


class ResponseBody(Protocol):
    """``response.content``: the body as it arrives."""

    def iter_any(self) -> AsyncIterator[bytes]: ...

    async def readany(self) -> bytes:
        """The next bytes as they arrive (what ``iter_any`` yields next); ``b""`` at the end."""
        ...

    def at_eof(self) -> bool:
        """True when the body is known to have ended with every byte handed out (False when
        that is not known yet)."""
        ...


class UpstreamResponse(Protocol):
    """A vendor's answer once its status and headers arrived (an ``aiohttp.ClientResponse``)."""

    status: int
    # Case-insensitive (a CIMultiDictProxy in aiohttp).
    headers: Mapping[str, str]
    content_type: str
    content: ResponseBody

    async def read(self) -> bytes: ...

    def release(self) -> Any: ...

    def close(self) -> None: ...

    @property
    def closed(self) -> bool: ...


class Transport(Protocol):
    """Sends one HTTP request and returns once the response's headers arrived.

    ``timeouts`` are aiohttp's per-phase limits (total, connect, read), which the transport
    enforces. Failures raise what aiohttp raises (``aiohttp.ClientError`` subclasses,
    ``TimeoutError``); ``HttpProvider`` maps those to retryable gateway errors. A response of
    any status is returned, not raised.
    """

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeouts: aiohttp.ClientTimeout,
    ) -> UpstreamResponse: ...


class SessionTransport:
    """The production transport: the gateway's shared ``ClientSession`` (its pool, its DNS cache)."""

    __slots__ = ("session",)

    def __init__(self, session: aiohttp.ClientSession | None) -> None:
        # None where no calls are made (``sluicegate check``, unit tests of error mapping).
        self.session = session

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeouts: aiohttp.ClientTimeout,
    ) -> aiohttp.ClientResponse:
        if self.session is None:
            raise RuntimeError("this provider was built without an HTTP session (Services.http is None)")
        return await self.session.request(method, url, data=body, headers=headers, timeout=timeouts)
