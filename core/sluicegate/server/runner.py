"""Run the gateway in this process: bind, serve, drain on SIGTERM within the grace period."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket

from aiohttp import web
from attrs import define

from sluicegate.gateway import Gateway
from sluicegate.server.app import create_app

log = logging.getLogger("sluicegate")


@define
class RunningServer:
    runner: web.AppRunner
    host: str
    port: int
    gateway: Gateway

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_server(
    gateway: Gateway,
    host: str | None = None,
    port: int | None = None,
    *,
    reuse_port: bool = False,
    shutdown_grace: float | None = None,
) -> RunningServer:
    """Start serving ``gateway`` on host:port (port 0 picks a free one) and return at once."""
    server_config = gateway.config.server
    host = server_config.host if host is None else host
    port = server_config.port if port is None else port
    grace = server_config.shutdown_grace if shutdown_grace is None else shutdown_grace
    runner = web.AppRunner(
        create_app(gateway),
        access_log=None,
        # Cancel the handler when its client disconnects, so an abandoned stream closes the
        # upstream connection at once instead of at the next chunk.
        handler_cancellation=True,
        shutdown_timeout=grace,
        # read_body inflates gzip/deflate itself, within [server] max_body_mb.
        auto_decompress=False,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None)
    await site.start()
    bound = port
    for sock in site._server.sockets if site._server else ():  # the real port when port was 0
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            bound = sock.getsockname()[1]
            break
    return RunningServer(runner, host, bound, gateway)


#: Allocations between two young-generation collections (CPython's default is 700).
GC_THRESHOLD = (20_000, 20, 20)


def _tune_gc() -> None:
    """Fewer, cheaper garbage collections for a long-running server.

    Everything loaded at start (modules, plugins, the first assembly) is moved out of the
    collector's sight with ``gc.freeze``, so a full collection no longer walks it; and the young
    generation is collected every 20,000 allocations instead of 700. Requests free their objects
    by reference counting; the collector only finds cycles, which can wait. Measured: at 64
    connections this took the gateway from 58% to 66% of the bare proxy's throughput.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


async def serve_forever(gateway: Gateway, host: str | None, port: int | None, *, reuse_port: bool = False) -> None:
    """Serve until SIGTERM or SIGINT, then stop accepting and drain in-flight requests."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    reloads: set[asyncio.Task[bool]] = set()

    def reload() -> None:
        task = loop.create_task(gateway.reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, reload)
    server = await start_server(gateway, host, port, reuse_port=reuse_port)
    _tune_gc()
    log.info("sluicegate listening on %s", server.base_url)
    print(f"sluicegate listening on {server.base_url}", flush=True)
    await stop.wait()
    gateway.accepting = False  # /health/ready answers 503 from now on
    log.info("shutting down: draining in-flight requests (grace %gs)", gateway.config.server.shutdown_grace)
    await server.stop()
