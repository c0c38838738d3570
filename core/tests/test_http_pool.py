"""``PoolTransport``, the vendor-call client, against real sockets: an aiohttp server for the
well-behaved cases, raw asyncio servers that misbehave on purpose, and a TLS server with a
certificate made for the test."""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ipaddress
import ssl

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sluicegate.http_connection import HIGH_WATER, ConnectFailed
from sluicegate.http_pool import PoolTransport, parse_target

FAST = aiohttp.ClientTimeout(total=5, sock_connect=2)
STREAM = aiohttp.ClientTimeout(total=None, sock_connect=2, sock_read=5)


class Upstream:
    """An aiohttp app on a free port that records what it was sent and from which peer port."""

    def __init__(self) -> None:
        self.seen: list[dict] = []
        self.release = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_post("/v1/echo", self.echo)
        self.app.router.add_get("/v1/stream", self.stream)
        self.app.router.add_get("/v1/big", self.big)
        self.app.router.add_get("/v1/gzip", self.gzipped)
        self.runner = web.AppRunner(self.app)

    async def start(self) -> str:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def note(self, request: web.Request, body: bytes = b"") -> None:
        self.seen.append({"headers": dict(request.headers), "peer": request.transport.get_extra_info("peername")[1],
                          "body": body, "path": request.path_qs})

    async def echo(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.note(request, body)
        return web.json_response({"got": body.decode()}, headers={"X-Vendor": "yes"})

    async def stream(self, request: web.Request) -> web.StreamResponse:
        self.note(request)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"data: one\n\n")
        await self.release.wait()
        await response.write(b"data: two\n\n")
        await response.write_eof()
        return response

    async def big(self, request: web.Request) -> web.Response:
        self.note(request)
        return web.Response(body=b"x" * (4 * HIGH_WATER))

    async def gzipped(self, request: web.Request) -> web.Response:
        self.note(request)
        return web.Response(body=gzip.compress(b'{"packed": true}' * 100),
                            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})


@pytest.fixture
async def upstream():
    server = Upstream()
    url = await server.start()
    yield server, url
    await server.runner.cleanup()


@pytest.fixture
async def pool():
    transport = PoolTransport(limit=10)
    yield transport
    await transport.aclose()


async def raw_server(handle) -> tuple[asyncio.AbstractServer, str]:
    """A TCP server whose ``handle(reader, writer)`` says whatever the test wants."""
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def read_head(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


async def test_a_call_sends_one_head_and_reads_the_answer_and_the_connection_is_reused(upstream, pool):
    server, url = upstream
    for n in range(3):
        response = await pool.request("POST", url + "/v1/echo?q=1", headers={"Authorization": "Bearer k", "X-N": str(n)},
                                      body=b"hello", timeouts=FAST)
        assert response.status == 200
        assert response.headers["x-vendor"] == "yes"  # case-insensitive, as aiohttp's
        assert response.content_type == "application/json"
        assert await response.read() == b'{"got": "hello"}'
        assert response.closed
    assert [seen["headers"]["X-N"] for seen in server.seen] == ["0", "1", "2"]
    first = server.seen[0]
    assert first["path"] == "/v1/echo?q=1"
    assert first["headers"]["Host"] == url.removeprefix("http://")
    assert first["headers"]["Content-Length"] == "5"
    assert first["headers"]["Content-Type"] == "application/octet-stream"  # none given: aiohttp's default
    assert first["headers"]["User-Agent"].startswith("sluicegate/")
    assert first["headers"]["Authorization"] == "Bearer k"
    assert len({seen["peer"] for seen in server.seen}) == 1  # one connection, kept
    assert pool.connections == 1 and pool.idle == 1


async def test_a_stream_arrives_as_it_is_sent_and_its_connection_returns_at_the_end(upstream, pool):
    server, url = upstream
    response = await pool.request("GET", url + "/v1/stream", headers={}, body=None, timeouts=STREAM)
    assert response.content_type == "text/event-stream"
    chunks = response.content.iter_any()
    assert await chunks.__anext__() == b"data: one\n\n"  # before the rest was even written
    assert pool.idle == 0
    server.release.set()
    rest = [chunk async for chunk in chunks]
    assert b"".join(rest) == b"data: two\n\n"
    assert response.closed and pool.idle == 1


async def test_readany_reads_a_stream_as_it_is_sent_and_knows_its_end(upstream, pool):
    server, url = upstream
    response = await pool.request("GET", url + "/v1/stream", headers={}, body=None, timeouts=STREAM)
    content = response.content
    assert await content.readany() == b"data: one\n\n"  # before the rest was even written
    assert not content.at_eof() and pool.idle == 0
    server.release.set()
    rest = b""
    while chunk := await content.readany():
        rest += chunk
    assert rest == b"data: two\n\n" and content.at_eof()
    assert response.closed and pool.idle == 1  # the end handed the connection back
    assert await content.readany() == b""


async def test_a_response_released_before_its_end_closes_its_connection(upstream, pool):
    server, url = upstream
    response = await pool.request("GET", url + "/v1/stream", headers={}, body=None, timeouts=STREAM)
    response.release()
    await asyncio.sleep(0.05)
    assert pool.connections == 0
    server.release.set()
    again = await pool.request("POST", url + "/v1/echo", headers={}, body=b"x", timeouts=FAST)
    assert await again.read() == b'{"got": "x"}'
    assert server.seen[0]["peer"] != server.seen[1]["peer"]


async def test_calls_over_the_limit_wait_for_a_connection_within_their_deadline(upstream):
    server, url = upstream
    pool = PoolTransport(limit=1)
    try:
        holding = await pool.request("GET", url + "/v1/stream", headers={}, body=None, timeouts=STREAM)
        with pytest.raises(TimeoutError):  # the one connection stays busy past the deadline
            await pool.request("POST", url + "/v1/echo", headers={}, body=b"late",
                               timeouts=aiohttp.ClientTimeout(total=0.2))
        waiting = asyncio.create_task(pool.request("POST", url + "/v1/echo", headers={}, body=b"next", timeouts=FAST))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        server.release.set()
        assert b"".join([chunk async for chunk in holding.content.iter_any()]).endswith(b"two\n\n")
        answer = await asyncio.wait_for(waiting, 2)
        assert await answer.read() == b'{"got": "next"}'
        assert pool.connections == 1
        assert len({seen["peer"] for seen in server.seen}) == 1
    finally:
        await pool.aclose()


async def test_an_idle_connection_of_another_origin_is_closed_to_make_room(upstream):
    _, url = upstream
    other = Upstream()
    other_url = await other.start()
    pool = PoolTransport(limit=1)
    try:
        await (await pool.request("POST", url + "/v1/echo", headers={}, body=b"a", timeouts=FAST)).read()
        await (await pool.request("POST", other_url + "/v1/echo", headers={}, body=b"b", timeouts=FAST)).read()
        assert pool.connections == 1 and other.seen
    finally:
        await pool.aclose()
        await other.runner.cleanup()


async def test_a_refused_connection_is_a_connect_failure_with_its_os_error(pool):
    server, url = await raw_server(lambda reader, writer: None)
    server.close()
    await server.wait_closed()
    with pytest.raises(ConnectFailed) as caught:
        await pool.request("POST", url + "/v1/echo", headers={}, body=b"x", timeouts=FAST)
    assert isinstance(caught.value.os_error, OSError)
    assert isinstance(caught.value, aiohttp.ClientConnectionError)
    assert pool.connections == 0


async def test_silence_after_the_request_times_out_and_the_connection_is_dropped(pool):
    async def silent(reader, writer):
        await read_head(reader)
        await asyncio.sleep(5)

    server, url = await raw_server(silent)
    async with server:
        with pytest.raises(aiohttp.ServerTimeoutError):
            await pool.request("GET", url + "/", headers={}, body=None,
                               timeouts=aiohttp.ClientTimeout(total=None, sock_read=0.1))
        with pytest.raises(TimeoutError):
            await pool.request("GET", url + "/", headers={}, body=None, timeouts=aiohttp.ClientTimeout(total=0.1))
        await asyncio.sleep(0.05)
        assert pool.connections == 0


async def test_a_body_cut_short_is_an_error_and_a_body_ended_by_close_is_whole(pool):
    async def cut(reader, writer):
        head = await read_head(reader)
        if b"GET /cut " in head:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
        else:  # no length: the body ends with the connection (HTTP/1.0 style)
            writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it")
        await writer.drain()
        writer.close()

    server, url = await raw_server(cut)
    async with server:
        response = await pool.request("GET", url + "/cut", headers={}, body=None, timeouts=FAST)
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await response.read()
        response = await pool.request("GET", url + "/eof", headers={}, body=None, timeouts=FAST)
        assert await response.read() == b"all of it"
        await asyncio.sleep(0.05)
        assert pool.connections == 0  # neither is kept


async def test_garbage_instead_of_http_is_a_payload_error(pool):
    async def garbage(reader, writer):
        await read_head(reader)
        writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")
        await writer.drain()

    server, url = await raw_server(garbage)
    async with server:
        with pytest.raises(aiohttp.ClientPayloadError):
            await pool.request("GET", url + "/", headers={}, body=None, timeouts=FAST)


async def test_a_gzip_answer_is_decoded(upstream, pool):
    _, url = upstream
    response = await pool.request("GET", url + "/v1/gzip", headers={}, body=None, timeouts=FAST)
    assert await response.read() == b'{"packed": true}' * 100


async def test_a_header_with_a_line_break_is_refused_before_anything_is_sent(upstream, pool):
    server, url = upstream
    with pytest.raises(ValueError, match="line break"):
        await pool.request("POST", url + "/v1/echo", headers={"X-Evil": "a\r\nX-Injected: 1"}, body=b"x",
                           timeouts=FAST)
    assert server.seen == [] and pool.connections == 0


async def test_a_slow_reader_stops_the_socket_instead_of_buffering_the_whole_answer(upstream, pool):
    _, url = upstream
    response = await pool.request("GET", url + "/v1/big", headers={}, body=None, timeouts=FAST)
    await asyncio.sleep(0.2)  # the vendor sent everything it could; nothing was read
    assert response._conn.buffered <= 2 * HIGH_WATER
    assert len(await response.read()) == 4 * HIGH_WATER


async def test_idle_connections_close_after_the_keepalive(upstream):
    server, url = upstream
    pool = PoolTransport(limit=4, keepalive=0.1)
    try:
        await (await pool.request("POST", url + "/v1/echo", headers={}, body=b"a", timeouts=FAST)).read()
        assert pool.connections == 1
        await asyncio.sleep(0.3)
        assert pool.connections == 0
        await (await pool.request("POST", url + "/v1/echo", headers={}, body=b"b", timeouts=FAST)).read()
        assert server.seen[0]["peer"] != server.seen[1]["peer"]
    finally:
        await pool.aclose()


async def test_a_connection_the_vendor_closed_while_idle_is_not_used_again(pool):
    peers = []

    async def once(reader, writer):
        peers.append(writer.get_extra_info("peername")[1])
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()  # keep-alive as far as the answer said, closed right after

    server, url = await raw_server(once)
    async with server:
        for _ in range(2):
            assert await (await pool.request("GET", url + "/", headers={}, body=None, timeouts=FAST)).read() == b"ok"
            await asyncio.sleep(0.15)
        assert len(set(peers)) == 2


async def test_after_aclose_calls_fail_at_once(upstream):
    _, url = upstream
    pool = PoolTransport(limit=2)
    await (await pool.request("POST", url + "/v1/echo", headers={}, body=b"a", timeouts=FAST)).read()
    await pool.aclose()
    assert pool.connections == 0
    with pytest.raises(aiohttp.ClientConnectionError):
        await pool.request("POST", url + "/v1/echo", headers={}, body=b"a", timeouts=FAST)


@pytest.mark.parametrize(("url", "origin", "path", "host"), [
    ("https://api.openai.com/v1/chat/completions", ("https", "api.openai.com", 443), "/v1/chat/completions",
     "api.openai.com"),
    ("http://127.0.0.1:8080/v1/x?a=b", ("http", "127.0.0.1", 8080), "/v1/x?a=b", "127.0.0.1:8080"),
    ("HTTP://[::1]:9/", ("http", "::1", 9), "/", "[::1]:9"),
    ("https://h", ("https", "h", 443), "/", "h"),
])
def test_urls_are_taken_apart_once(url, origin, path, host):
    target = parse_target(url)
    assert (target.origin, target.path, target.host_header) == (origin, path, host)


@pytest.mark.parametrize("url", ["ftp://h/x", "http://", "http://u:s3cr3t@h:99999/", "not a url"])
def test_a_url_the_transport_cannot_call_is_an_invalid_url_error_that_does_not_quote_it(url):
    with pytest.raises(aiohttp.InvalidUrlClientError) as caught:
        parse_target(url)
    assert "s3cr3t" not in str(caught.value)


def test_a_url_with_credentials_is_refused_without_quoting_them():
    with pytest.raises(ValueError, match="credentials") as caught:
        parse_target("https://user:s3cr3t@api.example.com/v1")
    assert "s3cr3t" not in str(caught.value)


# -- TLS --------------------------------------------------------------------------------------


def certificate(tmp_path) -> tuple[str, str]:
    """A self-signed certificate for localhost and 127.0.0.1: (cert file, key file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


async def test_https_checks_the_vendor_certificate_and_its_name(tmp_path):
    cert_file, key_file = certificate(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert_file, key_file)
    names = []

    def sni(sock, name, context):
        names.append(name)

    server_context.sni_callback = sni
    upstream = Upstream()
    await upstream.runner.setup()
    site = web.TCPSite(upstream.runner, "127.0.0.1", 0, ssl_context=server_context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    trusting = PoolTransport(limit=2, ssl_context=lambda: ssl.create_default_context(cafile=cert_file))
    default = PoolTransport(limit=2)  # the system's trust store: this certificate is in no store
    try:
        response = await trusting.request("POST", f"https://localhost:{port}/v1/echo", headers={}, body=b"tls",
                                          timeouts=FAST)
        assert await response.read() == b'{"got": "tls"}'
        assert names == ["localhost"]  # SNI
        with pytest.raises(ConnectFailed) as caught:
            await default.request("POST", f"https://localhost:{port}/v1/echo", headers={}, body=b"x", timeouts=FAST)
        assert isinstance(caught.value.os_error, ssl.SSLError)
    finally:
        await trusting.aclose()
        await default.aclose()
        await upstream.runner.cleanup()


async def test_a_finished_response_is_freed_at_once_not_left_to_the_cycle_collector(upstream, pool):
    # A reference cycle per call would keep every answer's headers until a full collection: the
    # gateway's memory grew by megabytes under load before ``content`` became a property.
    import gc

    from sluicegate.http_connection import PooledResponse

    _, url = upstream
    gc.collect()  # what earlier tests left
    gc.disable()
    try:
        for _ in range(20):
            response = await pool.request("POST", url + "/v1/echo", headers={}, body=b"x", timeouts=FAST)
            await response.read()
        del response
        alive = [o for o in gc.get_objects() if isinstance(o, PooledResponse)]
    finally:
        gc.enable()
    assert alive == []


async def test_a_host_name_is_resolved_once_for_many_connections(upstream, monkeypatch):
    server, url = upstream
    loop = asyncio.get_running_loop()
    looked_up = []
    resolve = loop.getaddrinfo

    async def counting(host, port, **kwargs):
        looked_up.append((host, port))
        return await resolve(host, port, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", counting)
    named = url.replace("127.0.0.1", "localhost")
    pool = PoolTransport(limit=4, keepalive=0.0)  # no reuse: every call connects anew
    try:
        for _ in range(3):
            response = await pool.request("POST", named + "/v1/echo", headers={}, body=b"n", timeouts=FAST)
            assert await response.read() == b'{"got": "n"}'
    finally:
        await pool.aclose()
    assert len({seen["peer"] for seen in server.seen}) == 3
    assert looked_up == [("localhost", int(url.rsplit(":", 1)[1]))]


async def test_a_response_dropped_unread_gives_its_place_back(upstream):
    server, url = upstream
    pool = PoolTransport(limit=1)
    try:
        response = await pool.request("GET", url + "/v1/stream", headers={}, body=None, timeouts=STREAM)
        del response  # neither read, released nor closed
        await asyncio.sleep(0.05)
        assert pool.connections == 0
        answer = await pool.request("POST", url + "/v1/echo", headers={}, body=b"after",
                                    timeouts=aiohttp.ClientTimeout(total=2))
        assert await answer.read() == b'{"got": "after"}'
    finally:
        server.release.set()
        await pool.aclose()
