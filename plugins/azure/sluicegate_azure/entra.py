"""A Microsoft Entra ID bearer token for one provider: fetched from an async credential, kept
until shortly before it expires, refreshed by one caller at a time, each fetch bounded.

The credential is anything with azure-core's async ``get_token(*scopes)`` (returning an object
with ``token`` and ``expires_on``, epoch seconds) and ``close()``: azure-identity's
``ClientSecretCredential`` or ``DefaultAzureCredential`` in service (``sluicegate_azure.identity``
builds them), a scripted one in tests. This module imports nothing of azure-identity, so it
works (and is tested) without the ``entra`` extra.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

from sluicegate.errors import GatewayError, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from sluicegate.resilience.classify import ErrorClass

#: Refresh this long before a token expires (azure-identity's own margin); a token that lives
#: shorter is refreshed halfway through its life instead.
REFRESH_MARGIN = 300.0


class AccessToken(Protocol):
    token: str
    expires_on: int


class AsyncTokenCredential(Protocol):
    async def get_token(self, *scopes: str) -> AccessToken: ...

    async def close(self) -> None: ...


class EntraToken:
    """The current token of one provider. ``get()`` answers from the cache while the token is
    fresh; past its refresh time one caller fetches a new one while the others wait for it (or,
    while the old token is still valid, keep using that)."""

    def __init__(
        self,
        credential: AsyncTokenCredential,
        scope: str,
        *,
        provider: str,
        timeout: float,
        wall_clock: Callable[[], float],
        refusals: tuple[type[BaseException], ...] = (),
        clean: Callable[[str], str] = str,
        log: logging.Logger | None = None,
    ) -> None:
        self.credential = credential
        self.scope = scope
        self.provider = provider
        self.timeout = timeout
        self.now = wall_clock
        # What the credential raises when Entra ID (or the environment) refuses: no retry helps.
        self.refusals = refusals
        self.clean = clean
        self.log = log or logging.getLogger("sluicegate")
        self._token: str | None = None
        self._expires_at = 0.0
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()

    @property
    def current(self) -> str | None:
        """The cached token while it is valid (it may be due for refresh), else None."""
        return self._token if self._token is not None and self.now() < self._expires_at else None

    async def get(self) -> str:
        """A valid token; raises a classified ``GatewayError`` when none can be had."""
        token = self._token
        if token is not None and self.now() < self._refresh_at:
            return token
        if self._lock.locked() and (valid := self.current) is not None:
            return valid  # being refreshed ahead of its expiry: the old one still serves
        async with self._lock:
            if self._token is not None and self.now() < self._refresh_at:
                return self._token  # refreshed by the caller this one waited for
            return await self._refresh()

    async def _refresh(self) -> str:
        try:
            async with asyncio.timeout(self.timeout):
                fresh = await self.credential.get_token(self.scope)
            token, expires_on = str(fresh.token), float(fresh.expires_on)
        except Exception as exc:  # whatever the credential raised is told apart below
            error = self._failure(exc)
            valid = self.current
            if valid is None:
                raise error from None
            # Refreshing ahead of expiry failed: the old token still serves, and the next
            # request tries again.
            self.log.warning("%s; using the current token until it expires", error.message)
            return valid
        now = self.now()
        self._token = token
        self._expires_at = expires_on
        self._refresh_at = expires_on - min(REFRESH_MARGIN, max(expires_on - now, 0.0) / 2)
        return token

    def _failure(self, exc: BaseException) -> GatewayError:
        where = f"provider {self.provider!r} could not get a Microsoft Entra ID token"
        if isinstance(exc, TimeoutError):
            return UpstreamTimeout(
                f"{where} within {self.timeout:g}s", provider=self.provider, retryable=True,
                error_class=ErrorClass.TIMEOUT,
            )
        detail = self.clean(_first_line(exc))
        if isinstance(exc, self.refusals):
            # The gateway's own credential was refused: to the client as a vendor refusing the
            # key (401), to the router as a target that needs an operator.
            return UpstreamError(
                f"{where}: {detail}", provider=self.provider, status=401, type="authentication_error",
                code="entra_token_refused", retryable=False, error_class=ErrorClass.AUTHENTICATION,
            )
        return UpstreamUnavailable(
            f"{where}: {exc.__class__.__name__}: {detail}", provider=self.provider, retryable=True,
            error_class=ErrorClass.NETWORK,
        )

    async def aclose(self) -> None:
        await self.credential.close()


def _first_line(exc: BaseException) -> str:
    """An exception's first line: azure-identity's messages go on with troubleshooting links."""
    message: Any = getattr(exc, "message", None) or str(exc)
    return (str(message).strip().splitlines() or ["no detail"])[0][:300]
