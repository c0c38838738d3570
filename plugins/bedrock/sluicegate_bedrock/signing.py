"""AWS credentials and Signature Version 4 for Bedrock calls, with botocore.

``Signer`` signs one call (SigV4, service ``bedrock``) with botocore's ``SigV4Auth`` on an
``AWSRequest``, at the time an injected wall clock gives: pure, no I/O. ``CredentialSource``
finds the credentials: the provider table's keys, else botocore's default chain (environment,
shared config and credentials files with ``profile``, container and instance roles), and a role
assumed through STS when ``role_arn`` is given. Finding and refreshing them may read files or
call STS, so it runs in a worker thread with a time bound, never on the event loop; between
refreshes every call reuses the frozen credentials at no cost.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
from collections.abc import Callable, Mapping

from attrs import frozen
from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import (
    AssumeRoleCredentialFetcher,
    Credentials,
    DeferredRefreshableCredentials,
    ReadOnlyCredentials,
    RefreshableCredentials,
)
from botocore.exceptions import BotoCoreError, ClientError
from botocore.session import Session

SERVICE = "bedrock"

WallClock = Callable[[], float]


class _ClockedSigV4(SigV4Auth):
    """botocore's SigV4 at a given moment instead of the machine's clock."""

    def __init__(self, credentials: ReadOnlyCredentials, service: str, region: str, now: datetime.datetime) -> None:
        super().__init__(credentials, service, region)
        self._now = now
        self.canonical = ""

    def add_auth(self, request: AWSRequest) -> None:
        # SigV4Auth.add_auth with the timestamp taken from self._now.
        request.context["timestamp"] = self._now.strftime(SIGV4_TIMESTAMP)
        self._modify_request_before_signing(request)
        self.canonical = self.canonical_request(request)
        signature = self.signature(self.string_to_sign(request, self.canonical), request)
        self._inject_signature_to_request(request, signature)


@frozen
class Signed:
    """The headers that authenticate one call, and (for tests and the curious) what was signed."""

    headers: dict[str, str]
    canonical_request: str


class Signer:
    """Signs calls for one region (and service, ``bedrock`` unless a test says otherwise)."""

    def __init__(self, region: str, wall_clock: WallClock, service: str = SERVICE) -> None:
        self.region = region
        self.service = service
        self.wall_clock = wall_clock

    def sign(
        self, credentials: ReadOnlyCredentials, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> Signed:
        """Sign ``method url`` with ``headers`` and ``body`` as they will be sent; ``url`` must be
        the URL as the HTTP client sends it (its path is what AWS checks the signature over)."""
        request = AWSRequest(method=method, url=url, headers=dict(headers), data=body)
        now = datetime.datetime.fromtimestamp(self.wall_clock(), datetime.UTC).replace(tzinfo=None)
        auth = _ClockedSigV4(credentials, self.service, self.region, now)
        auth.add_auth(request)
        out = {"Authorization": request.headers["Authorization"], "X-Amz-Date": request.headers["X-Amz-Date"]}
        if credentials.token:
            out["X-Amz-Security-Token"] = credentials.token
        return Signed(out, auth.canonical)


@frozen
class CredentialSettings:
    """Where the credentials come from (the provider table's keys; all optional)."""

    region: str
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    profile: str | None = None
    role_arn: str | None = None
    role_session_name: str = "sluicegate"
    #: Seconds one STS call may take (connect and read), so a refresh thread always ends.
    sts_timeout: float = 10.0


class CredentialsUnavailable(Exception):
    """No credentials could be found or assumed; the message says why and holds no secret."""


class CredentialSource:
    """The credentials for one provider, found once and refreshed before they expire, each
    time in a worker thread bounded by ``timeout`` seconds; one refresh at a time."""

    def __init__(self, settings: CredentialSettings, *, wall_clock: WallClock, timeout: float) -> None:
        self.settings = settings
        self.wall_clock = wall_clock
        self.timeout = timeout
        self._source: Credentials | None = None
        self._frozen: ReadOnlyCredentials | None = None
        self._lock = asyncio.Lock()

    def _stale(self) -> bool:
        source = self._source
        return self._frozen is None or (isinstance(source, RefreshableCredentials) and source.refresh_needed())

    async def current(self) -> ReadOnlyCredentials:
        """The credentials to sign with now; ``CredentialsUnavailable`` or ``TimeoutError``."""
        if not self._stale():
            return self._frozen  # type: ignore[return-value]
        async with self._lock:
            if self._stale():
                self._frozen = await asyncio.wait_for(asyncio.to_thread(self._load), self.timeout)
        return self._frozen  # type: ignore[return-value]

    def _load(self) -> ReadOnlyCredentials:
        """Find (the first time) and freeze (refreshing if due) the credentials: blocking."""
        try:
            if self._source is None:
                self._source = self._resolve()
            return self._source.get_frozen_credentials()
        except (BotoCoreError, ClientError, RuntimeError) as exc:
            # botocore's messages name profiles and roles, never secrets (a RuntimeError: a
            # refresh gave credentials that are expired already).
            raise CredentialsUnavailable(_reason(exc)) from None

    def _resolve(self) -> Credentials:
        settings = self.settings
        if settings.access_key_id:
            source: Credentials | None = Credentials(
                settings.access_key_id, settings.secret_access_key, settings.session_token or None, method="config"
            )
        else:
            source = Session(profile=settings.profile).get_credentials()
        if source is None:
            raise CredentialsUnavailable(
                "no AWS credentials found (provider keys, environment, shared config files, container or instance role)"
            )
        if not settings.role_arn:
            return source
        # The role's credentials are fetched by STS with the source ones, and again before
        # they expire; botocore's fetcher does the call, bounded by short client timeouts.
        config = Config(
            connect_timeout=settings.sts_timeout, read_timeout=settings.sts_timeout, retries={"max_attempts": 2}
        )
        client_creator = functools.partial(Session().create_client, region_name=settings.region, config=config)
        fetcher = AssumeRoleCredentialFetcher(
            client_creator,
            source,
            settings.role_arn,
            extra_args={"RoleSessionName": settings.role_session_name},
            # The refreshable credentials below decide when to refresh, on the injected clock;
            # the fetcher's own cache would answer by the machine's clock instead.
            cache=_NoCache(),
        )
        return DeferredRefreshableCredentials(
            refresh_using=fetcher.fetch_credentials, method="assume-role", time_fetcher=self._now
        )

    def _now(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.wall_clock(), datetime.UTC)


class _NoCache(dict):
    """A cache that keeps nothing (a fetcher's ``cache`` is a mapping it reads and writes)."""

    def __contains__(self, key: object) -> bool:
        return False

    def __setitem__(self, key: str, value: object) -> None:
        pass


def _reason(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".strip()
    return str(exc)
