"""The ``admin`` extension: its ``[admin]`` options and the per-assembly object the routes consult."""

from __future__ import annotations

import hmac

from attrs import define

from sluicegate.plugin_options import FeatureOptions
from sluicegate.secrets import Secret
from sluicegate.services import Services
from sluicegate_admin.throttle import GuessThrottle

# Shorter tokens still work; the warning says why they should not be used.
_SHORT_TOKEN = 16


@define(kw_only=True)
class AdminOptions(FeatureOptions):
    """``[admin]``: the admin API and UI are on when this table is present and its token is set."""

    # Bearer token for /admin/api/* and /admin/reload. Client tokens ([auth]) do not work here.
    token: Secret


class Admin:
    """What one assembly's admin routes need: the token to check, and who has been guessing it."""

    def __init__(self, token: Secret, guesses: GuessThrottle) -> None:
        self._token = token.reveal().encode()
        self.guesses = guesses

    def accepts(self, given: str) -> bool:
        # Constant time: the comparison must not tell an attacker how much of a guess was right.
        return hmac.compare_digest(given.encode("utf-8", "replace"), self._token)


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
    return Admin(token, guesses)
