"""The ``admin`` extension: its ``[admin]`` options and the per-assembly object the routes consult."""

from __future__ import annotations

import enum
import hmac

from attrs import define

from sluicegate.plugin_options import FeatureOptions
from sluicegate.secrets import Secret
from sluicegate.services import Services
from sluicegate_admin.throttle import GuessThrottle

# Shorter tokens still work; the warning says why they should not be used.
_SHORT_TOKEN = 16


class Role(enum.StrEnum):
    """What a bearer may do: the admin token everything, the viewer token only read."""

    ADMIN = "admin"
    VIEWER = "viewer"


@define(kw_only=True)
class AdminOptions(FeatureOptions):
    """``[admin]``: the admin API and UI are on when this table is present and its token is set."""

    # Bearer token for /admin/api/* and /admin/reload. Client tokens ([auth]) do not work here.
    token: Secret
    # A second bearer that may read every /admin/api route (GET) and change nothing.
    viewer_token: Secret | None = None


class Admin:
    """What one assembly's admin routes need: the tokens to check, and who has been guessing them."""

    def __init__(self, token: Secret, guesses: GuessThrottle, viewer_token: Secret | None = None) -> None:
        self._token = token.reveal().encode()
        self._viewer = viewer_token.reveal().encode() if viewer_token else None
        self.guesses = guesses

    def role_of(self, given: str) -> Role | None:
        """The role ``given`` grants, or None. Both comparisons always run, in constant time: the
        answer must not tell an attacker how much of a guess was right, nor which token it was near."""
        given_bytes = given.encode("utf-8", "replace")
        admin = hmac.compare_digest(given_bytes, self._token)
        viewer = self._viewer is not None and hmac.compare_digest(given_bytes, self._viewer)
        if admin:
            return Role.ADMIN
        return Role.VIEWER if viewer else None

    def accepts(self, given: str) -> bool:
        """Whether ``given`` is the admin token (full rights)."""
        return self.role_of(given) is Role.ADMIN


def _viewer_token(options: AdminOptions, services: Services) -> Secret | None:
    viewer = options.viewer_token
    if viewer is None:
        return None
    if not viewer:
        reason = f"{', '.join(viewer.missing)} is not set" if viewer.missing else "it is empty"
        services.log.warning("[admin] viewer_token: %s, so there is no read-only access", reason)
        return None
    if viewer.reveal() == options.token.reveal():
        # The admin token wins the comparison, so this "viewer" could write: refuse the mix-up.
        services.log.warning("[admin] viewer_token is the admin token; it is ignored (give the viewer its own)")
        return None
    if len(viewer.reveal()) < _SHORT_TOKEN:
        services.log.warning("[admin] viewer_token is shorter than %d characters; use a long random one",
                             _SHORT_TOKEN)
    return viewer


def make_admin(*, options: AdminOptions, services: Services) -> Admin | None:
    token = options.token
    if not token:
        reason = f"{', '.join(token.missing)} is not set" if token.missing else "it is empty"
        services.log.warning("[admin] token: %s, so the admin API and UI stay off", reason)
        return None
    if len(token.reveal()) < _SHORT_TOKEN:
        services.log.warning("[admin] token is shorter than %d characters; use a long random one",
                             _SHORT_TOKEN)
    # Kept across reloads: a guesser must not get fresh attempts whenever the config changes.
    guesses = services.lasting.setdefault("admin.guesses", GuessThrottle(services.clock))
    return Admin(token, guesses, _viewer_token(options, services))
