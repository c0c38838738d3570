"""Client authentication: the authenticator chain, and the default config-token scheme (``[auth]``).

Authenticators are components (``register_authenticators``, ``sluicegate.contracts.Authenticator``)
composed once per assembly into one ``Authenticate`` callable the API handlers await; the chain
makes no plugin-manager call per request.

This module is also the default plugin ``sluicegate.auth``: authenticator ``auth`` checks the
bearer token (or ``x-api-key``, or ``x-goog-api-key``) against ``[auth] tokens`` and
``[auth.clients]``. With neither set it leaves itself out, and with no authenticator at all the
gateway is open.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from attrs import Factory, define

from sluicegate.contracts import Authenticator, Identity
from sluicegate.errors import AuthenticationFailed
from sluicegate.hookspecs import hookimpl
from sluicegate.plugin_options import FeatureOptions
from sluicegate.secrets import Secret

#: Before authenticators registered without an order (500): a token this gateway issued is
#: recognised first.
ORDER = 100

Authenticate = Callable[[Mapping[str, str]], Awaitable[Identity | None]]


def client_token(headers: Mapping[str, str]) -> str | None:
    """The credential a client sent: ``Authorization: Bearer <token>``, else ``x-api-key`` (the
    anthropic SDK's), else ``x-goog-api-key`` (the google-genai SDK's and Gemini CLI's)."""
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer":
            return token.strip() or None
        return None
    return headers.get("x-api-key") or headers.get("x-goog-api-key") or None


def chain(authenticators: Sequence[Authenticator]) -> Authenticate:
    """One callable asking each authenticator in turn; ``None`` only on an open gateway."""
    methods = tuple(authenticator.authenticate for authenticator in authenticators)

    async def open_gateway(headers: Mapping[str, str]) -> Identity | None:
        return None

    async def authenticate(headers: Mapping[str, str]) -> Identity | None:
        for method in methods:
            identity = await method(headers)
            if identity is not None:
                return identity
        if client_token(headers) is None:
            raise AuthenticationFailed(
                "Missing API key. Send 'Authorization: Bearer <token>' with a token from [auth] tokens.",
                code="missing_api_key",
            )
        # Never echo the credential, not even partly.
        raise AuthenticationFailed("Invalid API key provided.")

    return authenticate if methods else open_gateway


def tenant_of(token: str) -> str:
    """The tenant label of a token: a digest prefix, so logs and cache keys can name a client
    without holding its token."""
    return "t-" + hashlib.sha256(token.encode()).hexdigest()[:12]


# -- the default plugin: [auth] tokens -----------------------------------------------------------


@define(kw_only=True)
class AuthOptions(FeatureOptions):
    """``[auth]``: client bearer tokens; none at all leaves the gateway open (warned at start)."""

    # Client bearer tokens (usually "${VAR}"), named client-1, client-2... in logs; none set: the gateway is open.
    tokens: list[Secret] = Factory(list)
    # Named client tokens (name -> token): the name appears in logs and metrics, the token never.
    clients: dict[str, Secret] = Factory(dict)


class TokenAuthenticator:
    """Tokens from the config, each resolved to its ``Identity`` once, at assembly."""

    def __init__(self, identities: dict[str, Identity]) -> None:
        self.identities = identities

    async def authenticate(self, headers: Mapping[str, str]) -> Identity | None:
        token = client_token(headers)
        # An unknown token may be another authenticator's; the chain refuses it if none knows it.
        return self.identities.get(token) if token is not None else None


def make_token_authenticator(*, options: AuthOptions, services: Any) -> TokenAuthenticator | None:
    """``[auth]`` tokens are named "client-1", "client-2"... by position; ``[auth.clients]`` by key."""
    identities: dict[str, Identity] = {}
    for index, token in enumerate(options.tokens, start=1):
        if token:
            identities.setdefault(token.reveal(), Identity(tenant_of(token.reveal()), f"client-{index}"))
    for name, token in options.clients.items():
        if token:
            identities[token.reveal()] = Identity(tenant_of(token.reveal()), name)
    return TokenAuthenticator(identities) if identities else None


@hookimpl
def register_authenticators(register):
    register("auth", make_token_authenticator, options=AuthOptions, order=ORDER, always=True)
