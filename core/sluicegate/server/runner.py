"""Run the gateway in this process: bind, serve, drain on SIGTERM within the grace period.

Shutdown, from the signal: ``/health/ready`` answers 503 at once; on SIGTERM the listener stays
open ``[server] drain_delay`` seconds more (load balancers notice; every response says
``Connection: close``); then the listener closes, in-flight requests run on, late requests on
kept-alive connections get 503 + ``Connection: close``; whatever still runs near the end of
``shutdown_grace`` (counted from the signal) is cut (server/drain.py); then the app's resources
close. The phases live in the app's ``Drain``; the connection side in server/protocol.py.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from attrs import define, field

from sluicegate.gateway import Gateway
from sluicegate.server.api_protocol import api_lane
from sluicegate.server.app import create_app
from sluicegate.server.connections import ConnectionCaps, ConnectionGuard, open_file_limit
from sluicegate.server.dispatch import dispatcher
from sluicegate.server.drain import Drain, Phase
from sluicegate.server.keys import DRAIN, GATEWAY
from sluicegate.server.protocol import GatewayServer

log = logging.getLogger("sluicegate")


class GatewayRunner(web.AppRunner):
    """aiohttp's AppRunner serving through ``GatewayServer`` (caps, header timeout, one grace)."""

    def __init__(self, app: web.Application, *, build: Callable[..., GatewayServer], **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._build = build
        self._keepalive_timeout = float(kwargs.get("keepalive_timeout", 75.0))

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()  # starts and freezes the app, as aiohttp does
        # The same request factory and protocol options, in the gateway's server class; the API's
        # POST routes dispatched past the application's plumbing (server/dispatch.py), and served
        # on connections of the gateway's own where the app allows (server/api_protocol.py).
        loop = asyncio.get_running_loop()
        return self._build(
            dispatcher(self.app, plain.request_handler),
            lane=api_lane(self.app, self.app[GATEWAY], self.app[DRAIN], self._keepalive_timeout, loop),
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            loop=loop,
            **plain._kwargs,
        )


@define
class RunningServer:
    runner: web.AppRunner
    host: str
    port: int
    gateway: Gateway
    drain: Drain
    grace: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep
    _stopping: asyncio.Future[None] | None = field(default=None, init=False)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def stop(self, drain_delay: float = 0.0) -> None:
        """Shut down within ``grace`` seconds from now (see the module docstring); keep the
        listener open ``drain_delay`` of them first. Calling it again waits for the same stop."""
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._stop(drain_delay))
        await asyncio.shield(self._stopping)

    async def _stop(self, drain_delay: float) -> None:
        self.drain.begin(self.clock(), self.grace)
        self.gateway.accepting = False  # /health/ready answers 503 from now on
        notice = min(drain_delay, self.grace)
        if notice > 0:
            self.drain.phase = Phase.NOTICE
            await self.sleep(notice)
        # Closes the listener, then GatewayServer.pre_shutdown / shutdown, then the app's cleanup.
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
    # The injected clock, when a test gave one: drain windows and log intervals run on it.
    clock = gateway.clock_overrides.get("clock", time.monotonic)
    sleep = gateway.clock_overrides.get("sleep", asyncio.sleep)
    caps = ConnectionCaps.resolve(
        server_config.max_connections, server_config.max_connections_per_client, open_file_limit()
    )
    app = create_app(gateway)
    drain = app[DRAIN]

    def build(handler: Any, **kwargs: Any) -> GatewayServer:
        return GatewayServer(
            handler, gateway=gateway, guard=ConnectionGuard(caps, clock), drain=drain,
            header_timeout=server_config.header_timeout, clock=clock, sleep=sleep, **kwargs,
        )

    runner = GatewayRunner(
        app,
        build=build,
        access_log=None,
        # Cancel the handler when its client disconnects, so an abandoned stream closes the
        # upstream connection at once instead of at the next chunk.
        handler_cancellation=True,
        shutdown_timeout=grace,
        # read_body inflates gzip/deflate itself, within [server] max_body_mb.
        auto_decompress=False,
        keepalive_timeout=server_config.keepalive_timeout,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None)
    await site.start()
    bound = port
    for sock in site._server.sockets if site._server else ():  # the real port when port was 0
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            bound = sock.getsockname()[1]
            break
    log.info("connection caps: %d open, %s per client address; header timeout %gs, body idle %gs",
             caps.total, caps.per_client or "no cap", server_config.header_timeout,
             server_config.body_idle_timeout)
    return RunningServer(runner, host, bound, gateway, drain, grace, clock, sleep)


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
    """Serve until SIGTERM or SIGINT, then drain (module docstring) and return."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    received: list[signal.Signals] = []

    def on_stop_signal(sig: signal.Signals) -> None:
        received.append(sig)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_stop_signal, sig)
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
    # Only SIGTERM (an orchestrator) gets the notice window; Ctrl-C has no balancer to tell.
    drain_delay = gateway.config.server.drain_delay if received[0] == signal.SIGTERM else 0.0
    log.info("shutting down: draining in-flight requests (grace %gs, listener open %gs more)",
             server.grace, min(drain_delay, server.grace))
    await server.stop(drain_delay)
