"""Google OAuth access tokens for Vertex: found, fetched and refreshed off the event loop.

google-auth is synchronous: loading credentials reads files (and, for application default
credentials, may ask the metadata server), and a refresh is an HTTP call to the token endpoint
(a service account's signed JWT exchanged for a token). So each refresh runs in a worker thread
(``asyncio.to_thread``) on google-auth's ``requests`` transport with every HTTP call's timeout
capped, and callers wait at most ``timeout`` seconds for it.

A token is cached until shortly before it expires (``margin`` seconds, at most half its life,
on the provider's wall clock). One refresh runs at a time: callers that need a token while one
is under way share it, and so do callers that come after a waiter gave up on it, since the
thread cannot be stopped. Every failure is a ``TokenError`` whose message names what went
wrong and never a key or a token.
"""

from __future__ import annotations

import asyncio
import functools
import time
import warnings
from collections.abc import Callable
from datetime import UTC
from typing import Any

import google.auth
import google.auth.exceptions
import google.auth.transport.requests
import requests
from attrs import frozen

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
# Seconds a token counts as good for when its credentials state no expiry.
_UNSTATED_LIFETIME = 1800.0

Loader = Callable[[str | None, Any], tuple[Any, str | None]]


class TokenError(Exception):
    """No access token could be had; the message is safe to show (no secret in it)."""


@frozen
class Grant:
    """What one refresh gave."""

    token: str
    #: Seconds the token is good for, counted from when the refresh began.
    lifetime: float
    #: The project the credentials name (a service account's ``project_id``), if any.
    project: str | None


class BoundedRequest(google.auth.transport.requests.Request):
    """google-auth's ``requests`` transport with every call's timeout capped at ``timeout``
    (google-auth's own default is two minutes)."""

    def __init__(self, session: requests.Session, timeout: float) -> None:
        super().__init__(session)
        self.cap = timeout

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
        if not isinstance(timeout, int | float) or timeout > self.cap:
            timeout = self.cap
        return super().__call__(url, method=method, body=body, headers=headers, timeout=timeout, **kwargs)


def load_credentials(path: str | None, request: Any) -> tuple[Any, str | None]:
    """(credentials, their project): from ``path`` (any credentials file google-auth reads:
    a service account key, an authorized user, workload identity), else application default
    credentials. Blocking."""
    if path is None:
        return google.auth.default(scopes=[SCOPE], request=request)
    # The file is the operator's own config, not input from outside, which is what
    # google-auth's warning on this generic loader is about (its own ADC path silences it too).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return google.auth.load_credentials_from_file(path, scopes=[SCOPE], request=request)


class AccessTokens:
    """The access token of one provider's credentials, cached and refreshed as it nears expiry."""

    def __init__(
        self,
        credentials_file: str | None,
        *,
        timeout: float,
        margin: float,
        wall_clock: Callable[[], float],
        loader: Loader = load_credentials,
    ) -> None:
        self.credentials_file = credentials_file
        self.timeout = timeout
        self.margin = margin
        self.wall_clock = wall_clock
        self._loader = loader
        self._session = requests.Session()
        self._request = BoundedRequest(self._session, timeout)
        # Only the refresh thread touches the credentials, and one runs at a time.
        self._credentials: Any = None
        self._found_project: str | None = None
        self._token: str | None = None
        self._refresh_at = 0.0
        self._pending: asyncio.Future[Grant] | None = None

    @property
    def current(self) -> str | None:
        """The cached token, if any (to scrub it from what a vendor echoes)."""
        return self._token

    @property
    def project(self) -> str | None:
        """The project the credentials name, known after the first refresh."""
        return self._found_project

    async def token(self) -> str:
        """A token good for a while yet: the cached one, or a fresh one."""
        token = self._token
        if token is not None and self.wall_clock() < self._refresh_at:
            return token
        grant = await self.refresh()
        return grant.token

    def invalidate(self) -> None:
        """Refresh before the next call (the vendor refused the token)."""
        self._refresh_at = 0.0

    async def refresh(self) -> Grant:
        """Fetch a token now, or join the fetch under way."""
        pending = self._pending
        if pending is None:
            pending = self._pending = asyncio.ensure_future(asyncio.to_thread(self._fetch))
            pending.add_done_callback(functools.partial(self._settle, self.wall_clock()))
        try:
            return await asyncio.wait_for(asyncio.shield(pending), self.timeout)
        except TimeoutError:
            raise TokenError(f"the Google token endpoint did not answer within {self.timeout:g}s") from None

    def _settle(self, started: float, pending: asyncio.Future[Grant]) -> None:
        """On the loop, once the thread is done: keep what it got (none left waiting may be)."""
        self._pending = None
        if pending.cancelled() or pending.exception() is not None:
            return
        grant = pending.result()
        self._token = grant.token
        self._found_project = grant.project
        # Well before expiry, so a call in flight never carries a token that runs out; at most
        # half the life of a short-lived token, which would otherwise be refreshed every call.
        self._refresh_at = started + grant.lifetime - min(self.margin, grant.lifetime / 2)

    def _fetch(self) -> Grant:
        """In the worker thread: load the credentials once, then refresh them."""
        try:
            if self._credentials is None:
                self._credentials, self._found_project = self._loader(self.credentials_file, self._request)
            credentials = self._credentials
            credentials.refresh(self._request)
        except google.auth.exceptions.DefaultCredentialsError as exc:
            raise TokenError(f"no usable Google credentials: {_first_line(exc)}") from None
        except google.auth.exceptions.RefreshError as exc:
            raise TokenError(f"the Google token endpoint refused the credentials: {_first_line(exc)}") from None
        except google.auth.exceptions.TransportError as exc:
            raise TokenError(f"could not reach the Google token endpoint ({_first_line(exc)})") from None
        except Exception as exc:  # a malformed key, a file that is no credentials: google-auth raises many kinds
            raise TokenError(f"could not use the Google credentials ({type(exc).__name__})") from None
        token = credentials.token
        if not isinstance(token, str) or not token:
            raise TokenError("the Google token endpoint gave no access token")
        expiry = credentials.expiry  # naive UTC, as google-auth keeps it
        lifetime = expiry.replace(tzinfo=UTC).timestamp() - time.time() if expiry is not None else _UNSTATED_LIFETIME
        return Grant(token, max(lifetime, 0.0), self._found_project)

    def close(self) -> None:
        self._session.close()


def _first_line(exc: BaseException) -> str:
    """An exception's own message, first line, bounded: google-auth puts the token endpoint's
    error (``invalid_grant: Invalid JWT Signature.``) there, never the key or the assertion."""
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    return text.strip().splitlines()[0][:300] if text.strip() else type(exc).__name__
