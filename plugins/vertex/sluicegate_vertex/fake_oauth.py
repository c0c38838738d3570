"""A fake Google OAuth token endpoint, and service-account files that point at it, for tests.

The service account's RSA key is made at test time; its JSON file names the fake as its
``token_uri``, so google-auth signs a JWT assertion with the key and posts it there
(``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``) exactly as it would to
``oauth2.googleapis.com``. The fake checks the assertion's RS256 signature with the public key
and its claims (issuer, audience, scope, lifetime) before it hands out a token, and refuses
anything else as Google does (``400 {"error": "invalid_grant", ...}``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aiohttp import web
from attrs import define, field
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sluicegate_vertex.auth import SCOPE

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_PATH = "/token"
# google-auth signs its assertions for Google's token endpoint whatever the file's token_uri.
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
PROJECT = "test-project"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@define
class ServiceAccount:
    """A service account with a key of its own."""

    key: rsa.RSAPrivateKey = field(factory=new_key)
    email: str = f"sluicegate-test@{PROJECT}.iam.gserviceaccount.com"
    project: str = PROJECT
    key_id: str = "5b1c6e7d0f2a4b9c8d3e1f0a2b4c6d8e0f1a3b5c"

    def private_pem(self) -> str:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    def info(self, token_uri: str) -> dict[str, Any]:
        """The key file's content, as the Cloud console downloads it."""
        return {
            "type": "service_account",
            "project_id": self.project,
            "private_key_id": self.key_id,
            "private_key": self.private_pem(),
            "client_email": self.email,
            "client_id": "103958219412345678901",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/" + self.email,
            "universe_domain": "googleapis.com",
        }

    def write(self, path: Path, token_uri: str) -> Path:
        path.write_text(json.dumps(self.info(token_uri)))
        return path


def _unbase64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verified_claims(assertion: str, public_key: rsa.RSAPublicKey) -> dict[str, Any] | None:
    """The claims of an RS256 JWT whose signature ``public_key`` verifies; None for any other."""
    try:
        header_part, claims_part, signature_part = assertion.split(".")
        header = json.loads(_unbase64(header_part))
        if header.get("alg") != "RS256":
            return None
        public_key.verify(
            _unbase64(signature_part), f"{header_part}.{claims_part}".encode(), padding.PKCS1v15(), hashes.SHA256()
        )
        claims = json.loads(_unbase64(claims_part))
    except (ValueError, binascii.Error, InvalidSignature):
        return None
    return claims if isinstance(claims, dict) else None


def _refusal(description: str) -> web.Response:
    return web.json_response({"error": "invalid_grant", "error_description": description}, status=400)


class TokenEndpoint:
    """The fake ``token_uri``: an aiohttp handler (``FakeUpstream.on(TOKEN_PATH, endpoint)``).

    Hands out ``tokens`` in turn (then ``ya29.fake-<n>``), each good for ``expires_in``
    seconds. ``hold()`` makes it wait before answering until ``release()``; ``arrived`` is set
    when a request comes in.
    """

    def __init__(self, account: ServiceAccount, *, tokens: tuple[str, ...] = (), expires_in: int = 3600) -> None:
        self.account = account
        self.public_key = account.key.public_key()
        self.expires_in = expires_in
        self._tokens: Iterator[str] = iter(tokens)
        #: The tokens handed out, in order.
        self.issued: list[str] = []
        #: Requests received, answered or not.
        self.requests = 0
        self.arrived = asyncio.Event()
        self._gate: asyncio.Event | None = None

    def hold(self) -> None:
        self._gate = asyncio.Event()

    def release(self) -> None:
        if self._gate is not None:
            self._gate.set()
        self._gate = None

    def next_token(self) -> str:
        return next(self._tokens, None) or f"ya29.fake-{len(self.issued) + 1}"

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        self.arrived.set()
        if self._gate is not None:
            await self._gate.wait()
        form = await request.post()
        if form.get("grant_type") != JWT_BEARER:
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        claims = verified_claims(str(form.get("assertion") or ""), self.public_key)
        if claims is None:
            return _refusal("Invalid JWT Signature.")
        if claims.get("iss") != self.account.email or claims.get("aud") not in (GOOGLE_TOKEN_URI, str(request.url)):
            return _refusal("Invalid JWT: issuer or audience does not match.")
        if SCOPE not in str(claims.get("scope") or "").split():
            return web.json_response({"error": "invalid_scope", "error_description": "No scope asked for."}, status=400)
        if not isinstance(claims.get("exp"), int) or not isinstance(claims.get("iat"), int) or claims["exp"] <= claims["iat"]:
            return _refusal("Invalid JWT: Token must be a short-lived token and in a reasonable timeframe.")
        token = self.next_token()
        self.issued.append(token)
        return web.json_response({"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"})

    def valid(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header carries a token this endpoint handed out."""
        scheme, _, token = (authorization or "").partition(" ")
        return scheme == "Bearer" and token in self.issued
