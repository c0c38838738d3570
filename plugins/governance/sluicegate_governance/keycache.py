"""The keys and teams the request path reads: a snapshot of the store held in memory, replaced
whole when the store's version moves (a key created, changed or revoked on any instance)."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable

from attrs import define, field

from sluicegate.contracts import Identity
from sluicegate_governance.issued import digest
from sluicegate_governance.model import Snapshot, Team, VirtualKey


def _matcher(patterns: tuple[str, ...]) -> Callable[[str], object] | None:
    """One compiled regular expression for a list of globs; None for an empty list."""
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns)).match


@define(frozen=True, slots=True)
class Grant:
    """What a key may do, resolved once per snapshot: the key, its team, compiled model rules,
    and the ``Identity`` every request with this key carries."""

    key: VirtualKey
    team: Team | None
    allow: Callable[[str], object] | None
    block: Callable[[str], object] | None
    identity: Identity = field(init=False)
    #: The key or its team has an RPM, TPM or concurrency limit (else the guard skips them).
    limited: bool = field(init=False)
    #: The key may call every model (no allow-list, no deny-list): nothing to match per request.
    any_model: bool = field(init=False)

    def __attrs_post_init__(self) -> None:
        identity = Identity(self.key.id, self.key.name, key_id=self.key.id,
                            team_id=self.key.team_id, grant=self)
        object.__setattr__(self, "identity", identity)
        team_limits = self.team.limits if self.team is not None else None
        object.__setattr__(self, "limited", self.key.limits.active or (team_limits is not None and team_limits.active))
        object.__setattr__(self, "any_model", self.allow is None and self.block is None)

    def allows(self, model: str) -> bool:
        if self.block is not None and self.block(model):
            return False
        return self.allow is None or bool(self.allow(model))


#: Keys a snapshot remembers by their text; past it the memory starts over.
MAX_SEEN = 10_000


@define(frozen=True, slots=True)
class KeyIndex:
    """A snapshot by digest: one dictionary lookup per request."""

    version: int
    by_digest: dict[str, Grant]
    by_id: dict[str, Grant]
    teams: dict[str, Team]
    # Keys found in this snapshot, by the text clients send: a repeat costs a dictionary lookup,
    # not a SHA-256. Only keys that exist are kept (a stream of wrong ones cannot fill it), and a
    # new snapshot (a key revoked or changed anywhere) starts with none.
    seen: dict[str, Grant] = field(factory=dict, eq=False, repr=False)

    def find(self, token: str) -> Grant | None:
        """The grant of the key ``token``, if this snapshot has it."""
        grant = self.seen.get(token)
        if grant is None:
            grant = self.by_digest.get(digest(token))
            if grant is not None:
                if len(self.seen) >= MAX_SEEN:
                    self.seen.clear()
                self.seen[token] = grant
        return grant

    @classmethod
    def of(cls, snapshot: Snapshot) -> KeyIndex:
        teams = {team.id: team for team in snapshot.teams}
        grants = [
            Grant(key, teams.get(key.team_id) if key.team_id else None,
                  _matcher(key.models), _matcher(key.blocked_models))
            for key in snapshot.keys
        ]
        return cls(snapshot.version, {g.key.digest: g for g in grants}, {g.key.id: g for g in grants}, teams)


EMPTY = KeyIndex(-1, {}, {}, {})


class IndexBox:
    """The last key index, kept in ``services.lasting`` so a reload starts from what the old
    assembly knew (a database down during a reload does not forget every key)."""

    index: KeyIndex = EMPTY
