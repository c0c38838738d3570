"""The baseline a gateway is measured against: a bare aiohttp pass-through proxy.

What any hand-written aiohttp proxy does and nothing more: one ``web.Application`` with one
catch-all POST route, one shared keep-alive ``ClientSession``, the request body forwarded as
bytes with the upstream key swapped in, the answer relayed as bytes (streams chunk by chunk as
they arrive). No auth check, no parsing, no model rewrite, no error mapping. uvloop, no access
log, 127.0.0.1 only.

    python contrib/bench/bare_proxy.py --port 9002 --upstream http://127.0.0.1:9001 [--api-key KEY]
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import aiohttp
from aiohttp import web

SESSION = web.AppKey("session", aiohttp.ClientSession)


def create_app(upstream: str, api_key: str | None) -> web.Application:
    upstream = upstream.rstrip("/")
    auth = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    async def session_ctx(app: web.Application):
        connector = aiohttp.TCPConnector(limit=1000, keepalive_timeout=60)
        async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:
            app[SESSION] = session
            yield

    async def forward(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {"Content-Type": request.headers.get("Content-Type", "application/json"), **auth}
        async with request.app[SESSION].post(upstream + request.path_qs, data=body, headers=headers) as up:
            content_type = up.headers.get("Content-Type", "application/json")
            if not content_type.startswith("text/event-stream"):
                return web.Response(
                    body=await up.read(), status=up.status, headers={"Content-Type": content_type}
                )
            response = web.StreamResponse(status=up.status, headers={"Content-Type": content_type})
            await response.prepare(request)
            async for chunk in up.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response

    app = web.Application()
    app.cleanup_ctx.append(session_ctx)
    app.router.add_post("/{tail:.*}", forward)
    return app


async def serve(port: int, upstream: str, api_key: str | None) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(create_app(upstream, api_key), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(f"bare proxy listening on http://127.0.0.1:{port} -> {upstream}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:9001")
    parser.add_argument("--api-key", default=None, help="sent upstream as 'Authorization: Bearer KEY'")
    args = parser.parse_args()
    coro = serve(args.port, args.upstream, args.api_key)
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


if __name__ == "__main__":
    main()
