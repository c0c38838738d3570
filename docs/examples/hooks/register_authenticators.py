"""An authenticator owning ``[proxy_auth]``: behind a sign-in proxy that sets ``x-team``, trust
that header, but only on requests that also carry the proxy's shared secret (so a client cannot
set ``x-team`` itself). Requests without the secret are left to the next authenticator."""

import hmac

from attrs import define

from sluicegate import hookimpl
from sluicegate.contracts import Identity
from sluicegate.errors import AuthenticationFailed
from sluicegate.plugin_options import FeatureOptions
from sluicegate.secrets import Secret


@define(kw_only=True)
class ProxyAuthOptions(FeatureOptions):
    # The secret the proxy sends in x-proxy-secret.
    proxy_secret: Secret
    # Teams the gateway serves; a team name becomes the client name in logs and metrics, so
    # it must come from a bounded list.
    teams: list[str]


class ProxyAuth:
    def __init__(self, options: ProxyAuthOptions):
        self.secret = options.proxy_secret.reveal().encode()  # resolved once, at assembly
        self.teams = frozenset(options.teams)

    async def authenticate(self, headers):
        sent = headers.get("x-proxy-secret")
        if sent is None:
            return None  # not from the proxy: another authenticator may know the caller
        if not hmac.compare_digest(sent.encode(), self.secret):
            raise AuthenticationFailed("Invalid proxy credentials.")
        team = headers.get("x-team", "")
        if team not in self.teams:
            raise AuthenticationFailed("Unknown team.")
        return Identity(tenant=f"team-{team}", client=team)


@hookimpl
def register_authenticators(register):
    register("proxy_auth", lambda options, services: ProxyAuth(options), options=ProxyAuthOptions)
