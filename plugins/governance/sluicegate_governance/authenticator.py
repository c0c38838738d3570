"""The ``virtual_keys`` authenticator: keys the gateway issued (``sk-sg-…``), looked up in memory."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from sluicegate.auth import client_token
from sluicegate.contracts import Identity
from sluicegate.errors import AuthenticationFailed, GatewayError
from sluicegate_governance.issued import PREFIX
from sluicegate_governance.keycache import EMPTY, IndexBox


class KeyAuthenticator:
    """Recognises issued keys; any other credential is left to the next authenticator (the
    ``[auth]`` tokens of gateway.toml keep working beside issued keys)."""

    def __init__(self, box: IndexBox, wall_clock: Callable[[], float]) -> None:
        self._box = box  # its index is replaced whole when the store's version moves
        self._wall_clock = wall_clock

    async def authenticate(self, headers: Mapping[str, str]) -> Identity | None:
        token = client_token(headers)
        if token is None or not token.startswith(PREFIX):  # is_issued, without a call
            return None
        index = self._box.index
        grant = index.find(token)
        if grant is None and index is EMPTY:
            # Never loaded (the database was down at start, and still is): the key may well be
            # valid, so say so rather than call it invalid.
            raise GatewayError(
                "The key store is unreachable; issued keys cannot be checked yet. Try again shortly.",
                status=503, type="server_error", code="key_store_unavailable", retryable=True,
                headers={"Retry-After": "5"})
        if grant is None:
            # Never echo the credential, not even partly.
            raise AuthenticationFailed("Invalid API key provided.")
        key = grant.key
        if not key.enabled or key.revoked_at is not None:
            raise AuthenticationFailed("This API key has been revoked.", code="revoked_api_key")
        if key.expires_at is not None and key.expires_at <= self._wall_clock():
            when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(key.expires_at))
            raise AuthenticationFailed(f"This API key expired at {when}.", code="expired_api_key")
        return grant.identity
