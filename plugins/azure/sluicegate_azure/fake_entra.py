"""Fakes of Microsoft Entra ID for tests of ``auth = "entra"``.

- ``FakeEntra``: a token endpoint (``/{tenant}/oauth2/v2.0/token``, OAuth client credentials, as
  Entra ID answers it) on 127.0.0.1 over HTTPS with a certificate of its own, so that
  azure-identity itself, which takes only an ``https://`` authority, can be pointed at it; the
  credential must trust ``ca_file`` (azure-core's ``connection_verify``).
- ``ScriptedCredential``: a credential with azure-core's async ``get_token`` protocol whose tokens
  expire by a test's clock, for what azure-identity cannot show without real waiting: it keeps its
  own cache by the real ``time.time()``, so a token it issued is not renewed before the real
  hour has passed, whatever the gateway's injected clock says.

Both need the ``entra`` extra's dependencies (``cryptography`` comes with azure-identity).
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from attrs import define, field
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

#: What Entra ID answers a wrong client secret with (HTTP 401).
BAD_SECRET = {
    "error": "invalid_client",
    "error_description": "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request "
                         "is the client secret value, not the client secret ID.\r\nTrace ID: 00000000-0000-0000-0000-"
                         "000000000000\r\nTimestamp: 2026-01-01 00:00:00Z",
    "error_codes": [7000215],
}


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, signed by its own key: (certificate, key) PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-entra.localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "fake-entra.pem", directory / "fake-entra.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_file, key_file


@define
class TokenRequest:
    path: str
    form: dict[str, str]


class FakeEntra:
    """Issues ``entra-token-1``, ``entra-token-2``, ... valid ``lifetime`` seconds; refuses every
    request with ``BAD_SECRET`` while ``refuse`` is set. Records each request."""

    def __init__(self, directory: Path, *, lifetime: int = 3600) -> None:
        self.ca_file, self._key_file = self_signed(directory)
        self.lifetime = lifetime
        self.refuse = False
        self.requests: list[TokenRequest] = []
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    @property
    def authority(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    async def _token(self, request: web.Request) -> web.Response:
        form = {name: str(value) for name, value in (await request.post()).items()}
        self.requests.append(TokenRequest(request.path, form))
        if self.refuse:
            return web.json_response(BAD_SECRET, status=401)
        return web.json_response({
            "token_type": "Bearer",
            "expires_in": self.lifetime,
            "ext_expires_in": self.lifetime,
            "access_token": f"entra-token-{len(self.requests)}",
        })

    async def __aenter__(self) -> FakeEntra:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.ca_file, self._key_file)
        app = web.Application()
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


@define
class Token:
    """azure-core's ``AccessToken``: the token and its expiry in epoch seconds."""

    token: str
    expires_on: int


@define
class ScriptedCredential:
    """Tokens ``scripted-token-1``, ``-2``, ... expiring ``lifetime`` seconds after ``clock()``.

    ``gate``, when given, holds every ``get_token`` until it is set (a slow Entra ID); ``fail``,
    when set, is raised instead of answering.
    """

    clock: Callable[[], float]
    lifetime: int = 3600
    gate: asyncio.Event | None = None
    fail: BaseException | None = None
    scopes: list[tuple[str, ...]] = field(factory=list)
    closed: bool = False

    async def get_token(self, *scopes: str, **_: Any) -> Token:
        self.scopes.append(scopes)
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return Token(f"scripted-token-{len(self.scopes)}", int(self.clock()) + self.lifetime)

    async def close(self) -> None:
        self.closed = True
