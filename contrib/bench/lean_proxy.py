"""A floor for memory per open stream: the least a proxy on this stack can hold for one.

Not a server to use: a connection protocol of its own on httptools (no aiohttp server objects),
one task per request, the gateway's own vendor client (``PoolTransport``) upstream, the answer
relayed chunk by chunk as it arrives. No error handling, limits, keep-alive rules or anything
else a gateway needs. ``idle_streams.py --target lean`` measures it beside the gateway, the bare
aiohttp proxy and aiohttp's server alone: what a server connection layer of the gateway's own
could reach before the gateway's per-request state is added.

    python contrib/bench/lean_proxy.py PORT http://127.0.0.1:UPSTREAM_PORT
"""

from __future__ import annotations

import asyncio
import sys

import aiohttp
import httptools
import uvloop

from sluicegate.http_pool import PoolTransport

TIMEOUTS = aiohttp.ClientTimeout(total=300, sock_read=300)
UPSTREAM_HEADERS = {"Content-Type": "application/json"}


class LeanConnection(asyncio.Protocol):
    def __init__(self, pool: PoolTransport, upstream: str) -> None:
        self.pool = pool
        self.upstream = upstream
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.BaseTransport | None = None
        self.url = b""
        self.body: list[bytes] = []
        self.task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # uvloop's: an asyncio.Transport in all but its class

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        body, self.body = b"".join(self.body), []
        self.task = asyncio.get_running_loop().create_task(self.relay(self.url.decode(), body))

    async def relay(self, path: str, body: bytes) -> None:
        answer = await self.pool.request("POST", self.upstream + path, headers=UPSTREAM_HEADERS, body=body,
                                         timeouts=TIMEOUTS)
        write = self.transport.write  # type: ignore[union-attr]
        write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        while chunk := await answer.readany():
            write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        write(b"0\r\n\r\n")
        answer.release()


async def serve(port: int, upstream: str) -> None:
    pool = PoolTransport(limit=10_000)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: LeanConnection(pool, upstream), "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(serve(int(sys.argv[1]), sys.argv[2].rstrip("/")))
