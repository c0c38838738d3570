"""``PoolTransport``: the gateway's own HTTP/1.1 client for vendor calls (``[server]
upstream_client = "pool"``, the default).

A ``Transport`` (``sluicegate.transport``) with what the gateway's calls need and nothing else:
keep-alive connections per origin (most recently used first, closed after ``keepalive`` idle
seconds), addresses remembered for five minutes and raced (Happy Eyeballs), at most ``limit`` open at once (a call waits for one, within its deadline), TLS with the
system's trust store, the request head encoded in one string and written with its body in one
call, and aiohttp's ``ClientTimeout`` fields honoured (``total``: the whole call including the
body; ``connect``/``sock_connect``: getting a connection; ``sock_read``: each wait for bytes).
No cookies, redirects, proxies or request compression, as the aiohttp session it replaces was
set up (``trust_env=False``); answers in gzip or deflate are decoded, though none is asked for.
"""

from __future__ import annotations

import asyncio
import collections
import socket
import ssl
from collections.abc import Callable, Mapping
from typing import NamedTuple
from urllib.parse import urlsplit

import aiohappyeyeballs
import aiohttp

from sluicegate import __version__
from sluicegate.http_connection import ConnectFailed, PooledResponse, UpstreamConnection

#: Seconds an idle connection is kept for reuse (aiohttp's connector used 60 here too).
KEEPALIVE = 60.0
#: Distinct URLs whose parts are remembered; past this the memory starts over (a vendor whose
#: URLs carry the model name sees at most one per model).
MAX_URLS = 4096
USER_AGENT = f"sluicegate/{__version__}"
#: Seconds a host's addresses are remembered (aiohttp's connector's ``ttl_dns_cache`` here too).
DNS_TTL = 300.0
#: Seconds before the next address is tried while one still connects (RFC 8305's default).
HAPPY_EYEBALLS_DELAY = 0.25


class Target(NamedTuple):
    """A URL taken apart once: where to connect and what the request line and Host say."""

    origin: tuple[str, str, int]  # scheme, host, port
    host: str
    port: int
    tls: bool
    path: str  # with the query
    host_header: str


def parse_target(url: str) -> Target:
    """``url`` taken apart; errors never quote it (a URL may hold a password)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise aiohttp.InvalidUrlClientError("(not shown)", "a malformed URL or port") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise aiohttp.InvalidUrlClientError("(not shown)", "not an http(s) URL")
    if "@" in parts.netloc:
        # As aiohttp's client did (beside the Authorization header every provider sends).
        raise ValueError("credentials in a provider URL are not sent; put them in the provider's headers")
    tls = scheme == "https"
    default = 443 if tls else 80
    host = parts.hostname
    port = port or default
    bracketed = f"[{host}]" if ":" in host else host
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target((scheme, host, port), host, port, tls, path,
                  bracketed if port == default else f"{bracketed}:{port}")


class PoolTransport:
    """Connections to vendors, kept and reused; one per gateway process, closed with ``aclose``."""

    def __init__(self, *, limit: int, keepalive: float = KEEPALIVE,
                 ssl_context: Callable[[], ssl.SSLContext] = ssl.create_default_context) -> None:
        self.limit = limit
        self.keepalive = keepalive
        self._make_ssl = ssl_context
        self._ssl: ssl.SSLContext | None = None
        self._ssl_lock = asyncio.Lock()
        self._idle: dict[tuple[str, str, int], list[UpstreamConnection]] = {}
        self._open: set[UpstreamConnection] = set()
        self._connecting = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._targets: dict[str, Target] = {}
        # (host, port) -> (when the addresses expire, loop time; the getaddrinfo answer).
        self._addresses: dict[tuple[str, int], tuple[float, list]] = {}
        self._sweep: asyncio.TimerHandle | None = None
        self._closed = False
        # The loop of the first request: its connections are bound to it, so the pool is too.
        # Kept because asyncio.get_running_loop() makes a getpid() system call on Python 3.11.
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def connections(self) -> int:
        """Connections open now (idle and in use)."""
        return len(self._open)

    @property
    def idle(self) -> int:
        return sum(map(len, self._idle.values()))

    async def request(self, method: str, url: str, *, headers: Mapping[str, str], body: bytes | None,
                      timeouts: aiohttp.ClientTimeout) -> PooledResponse:
        if self._closed:
            raise aiohttp.ClientConnectionError("the gateway is shutting down")
        target = self._targets.get(url)
        if target is None:
            target = parse_target(url)
            if len(self._targets) >= MAX_URLS:
                self._targets.clear()
            self._targets[url] = target
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        total = timeouts.total
        deadline = loop.time() + total if total else None
        head = _head(method, target, headers, body)
        conn = self._reuse(target.origin, loop.time())
        if conn is None:
            conn = await self._connect(target, timeouts, deadline, loop)
        conn.send(head + body if body else head)
        wait = timeouts.sock_read
        if deadline is not None:
            left = max(0.0, deadline - loop.time())
            wait = left if wait is None else min(wait, left)
        try:
            await conn.head(wait)
        except BaseException:
            conn.close()
            raise
        return PooledResponse(conn, self, timeouts.sock_read, deadline)

    # -- connections ------------------------------------------------------------------------------

    def _reuse(self, origin: tuple[str, str, int], now: float) -> UpstreamConnection | None:
        idle = self._idle.get(origin)
        while idle:
            conn = idle.pop()
            if not conn.lost and now - conn.idle_since < self.keepalive and not conn.transport.is_closing():
                return conn
            conn.close()
        return None

    async def _connect(self, target: Target, timeouts: aiohttp.ClientTimeout, deadline: float | None,
                       loop: asyncio.AbstractEventLoop) -> UpstreamConnection:
        bound = _least(timeouts.connect, None if deadline is None else deadline - loop.time())
        started = loop.time()
        try:
            async with asyncio.timeout(bound):
                conn = await self._slot(target.origin, loop)
                if conn is not None:
                    return conn  # one came back while this call waited
                self._connecting += 1
                try:
                    limit = _least(timeouts.sock_connect, None if bound is None else bound - (loop.time() - started))
                    async with asyncio.timeout(limit):
                        context = await self._context() if target.tls else None
                        conn = await self._open_to(target, context, loop)
                finally:
                    self._connecting -= 1
        except TimeoutError:
            self._wake_one()
            raise aiohttp.ConnectionTimeoutError(f"no connection to {target.host_header} in time") from None
        except OSError as exc:  # refused, unreachable, DNS, TLS (ssl.SSLError is an OSError)
            self._wake_one()
            raise ConnectFailed(exc) from None
        except BaseException:
            self._wake_one()
            raise
        if self._closed:
            conn.close()
            raise aiohttp.ClientConnectionError("the gateway is shutting down")
        self._open.add(conn)
        return conn

    async def _open_to(self, target: Target, context: ssl.SSLContext | None,
                       loop: asyncio.AbstractEventLoop) -> UpstreamConnection:
        """A new connection: the addresses (remembered ``DNS_TTL`` seconds), the first of them
        to answer (Happy Eyeballs, RFC 8305: a broken IPv6 route costs a quarter second, not the
        connect timeout; uvloop's own ``create_connection`` has no such option), then TLS."""
        key = (target.host, target.port)
        known = self._addresses.get(key)
        if known is None or known[0] <= loop.time():
            infos = await loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
            if len(self._addresses) >= MAX_URLS:
                self._addresses.clear()
            known = self._addresses[key] = (loop.time() + DNS_TTL, infos)
        sock = await aiohappyeyeballs.start_connection(known[1], happy_eyeballs_delay=HAPPY_EYEBALLS_DELAY,
                                                       interleave=1)
        try:
            _, conn = await loop.create_connection(
                lambda: UpstreamConnection(target.origin, self), sock=sock,
                ssl=context, server_hostname=target.host if context else None)
        except BaseException:
            sock.close()
            raise
        return conn

    async def _slot(self, origin: tuple[str, str, int], loop: asyncio.AbstractEventLoop) -> UpstreamConnection | None:
        """Until a connection may be opened (fewer than ``limit`` are, or an idle one of another
        origin was closed to make room), or one to ``origin`` is free to reuse (returned)."""
        while len(self._open) + self._connecting >= self.limit:
            conn = self._reuse(origin, loop.time())
            if conn is not None:
                return conn
            if self._close_oldest_idle():
                continue
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if not waiter.done():
                    waiter.cancel()
                try:
                    self._waiters.remove(waiter)
                except ValueError:
                    pass
        return None

    def _close_oldest_idle(self) -> bool:
        oldest: UpstreamConnection | None = None
        for stack in self._idle.values():
            if stack and (oldest is None or stack[0].idle_since < oldest.idle_since):
                oldest = stack[0]
        if oldest is None:
            return False
        self._idle[oldest.origin].remove(oldest)
        oldest.close()
        self._open.discard(oldest)
        return True

    async def _context(self) -> ssl.SSLContext:
        if self._ssl is None:
            async with self._ssl_lock:
                if self._ssl is None:
                    # Loading the trust store reads files: not on the event loop.
                    self._ssl = await asyncio.get_running_loop().run_in_executor(None, self._make_ssl)
        return self._ssl

    def give_back(self, conn: UpstreamConnection) -> None:
        """A connection whose exchange ended cleanly: kept for the next call to its origin."""
        if self._closed or conn not in self._open:
            conn.close()
            return
        loop = self._loop  # set by the request that got ``conn``
        conn.idle_since = loop.time()
        self._idle.setdefault(conn.origin, []).append(conn)
        if self._sweep is None:
            self._sweep = loop.call_later(self.keepalive, self._close_expired)
        self._wake_one()

    def forget(self, conn: UpstreamConnection) -> None:
        """A connection that closed (or was lost): no longer counted, nor kept."""
        if conn in self._open:
            self._open.discard(conn)
            stack = self._idle.get(conn.origin)
            if stack and conn in stack:
                stack.remove(conn)
            self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _close_expired(self) -> None:
        """Close the connections idle for ``keepalive`` seconds; come back while any is kept."""
        self._sweep = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        oldest = None
        for origin, stack in list(self._idle.items()):
            while stack and now - stack[0].idle_since >= self.keepalive:
                conn = stack.pop(0)
                conn.close()
                self._open.discard(conn)
            if stack:
                oldest = stack[0].idle_since if oldest is None else min(oldest, stack[0].idle_since)
            else:
                del self._idle[origin]
        if oldest is not None:
            self._sweep = loop.call_later(max(0.0, oldest + self.keepalive - now), self._close_expired)
        self._wake_one()

    async def aclose(self) -> None:
        """Close every connection; calls after this fail at once."""
        self._closed = True
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for conn in list(self._open):
            conn.close()
        self._open.clear()
        self._idle.clear()
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        await asyncio.sleep(0)  # let the transports' connection_lost run


def _least(a: float | None, b: float | None) -> float | None:
    if a is None:
        return None if b is None else max(0.0, b)
    return max(0.0, a if b is None else min(a, b))


def _head(method: str, target: Target, headers: Mapping[str, str], body: bytes | None) -> bytes:
    """The request line and headers, encoded once. Host and Content-Length are the transport's;
    a header value with a line break is refused (it would end the head early)."""
    lines = [f"{method} {target.path} HTTP/1.1\r\nHost: {target.host_header}\r\n"]
    append = lines.append
    has_type = has_agent = False
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in ("host", "content-length", "transfer-encoding", "connection"):
            continue
        if lowered == "content-type":
            has_type = True
        elif lowered == "user-agent":
            has_agent = True
        append(f"{name}: {value}\r\n")
    if not has_agent:
        append(f"User-Agent: {USER_AGENT}\r\n")
    if body is not None or method in ("POST", "PUT", "PATCH"):
        if body and not has_type:
            append("Content-Type: application/octet-stream\r\n")
        append(f"Content-Length: {len(body) if body else 0}\r\n")
    text = "".join(lines) + "\r\n"
    if text.count("\n") != len(lines) + 2 or text.count("\r") != len(lines) + 2:
        raise ValueError("a request header holds a line break")
    return text.encode("utf-8")
