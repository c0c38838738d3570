"""Model routing: which provider and upstream model serve a requested model name.

Names resolve in this order, the first that applies wins:

1. an exact alias from ``[models]``;
2. ``provider/model`` with a configured provider (straight to that provider);
3. a bare model name listed in some provider's ``models`` (the first provider in config order);
4. a glob alias (``[models."claude-*"]``, fnmatch-style ``*``, ``?``, ``[...]``): the most
   specific pattern, i.e. the one with the most literal characters, wins; on a tie, the one
   written first. ``[models."*"]`` matches every name left, so it is the default route.

A target ``provider/*`` means "the model name the client asked for", so
``[models."claude-*"] targets = ["anthropic/*"]`` forwards ``claude-opus-4-8`` as it is.

Model names are client-controlled: what cannot be decided at assembly (steps 2 to 4) is
memoised per name in a bounded LRU, so a flood of invented names costs memory only up to it.
"""

from __future__ import annotations

import fnmatch
import functools
import random
import re
from collections.abc import Callable

from attrs import define

from sluicegate.config.converter import suggest
from sluicegate.config.schema import ModelConfig
from sluicegate.errors import ModelNotFound
from sluicegate.exchange import Route, Target
from sluicegate.provider import Provider
from sluicegate.resilience.balance import Balancer, StatsBoard, TargetStats

#: Characters that make an alias a glob pattern.
GLOB_CHARS = frozenset("*?[")
#: The target model that stands for the name the client asked for.
SAME_NAME = "*"
#: Distinct names whose resolution is remembered (least recently used forgotten first).
MEMO_SIZE = 1024
#: Longer names are resolved every time rather than remembered (a memo entry holds the name).
MEMO_NAME_LIMIT = 256


def is_glob(alias: str) -> bool:
    return not GLOB_CHARS.isdisjoint(alias)


def literal_count(pattern: str) -> int:
    """Characters of a glob that match only themselves (``*``, ``?`` and a ``[...]`` set do not)."""
    count, index, size = 0, 0, len(pattern)
    while index < size:
        char = pattern[index]
        index += 1
        if char in "*?":
            continue
        if char == "[":
            end = index
            if end < size and pattern[end] == "!":
                end += 1
            if end < size and pattern[end] == "]":
                end += 1
            end = pattern.find("]", end)
            if end >= 0:  # a closed set: one character of several
                index = end + 1
                continue
            # An unclosed "[" matches itself (as fnmatch reads it).
        count += 1
    return count


@define(frozen=True, slots=True)
class _Glob:
    """A glob alias, compiled once."""

    pattern: str
    match: Callable[[str], re.Match[str] | None]
    model: ModelConfig
    # A route shared by every name it matches; None when a target is "provider/*" (per name).
    route: Route | None


class _Unpinned:
    """The stats board as a balancer of client-named targets sees it: nothing is pinned, so a
    flood of names cannot grow the never-forgotten part of the board."""

    __slots__ = ("_board",)

    def __init__(self, board: StatsBoard) -> None:
        self._board = board

    def pin(self, key: str) -> TargetStats:
        return self._board.get(key)


class Router:
    """Resolves model names; everything that can be is precomputed when the gateway is built."""

    def __init__(
        self,
        providers: dict[str, Provider],
        models: dict[str, ModelConfig],
        stats: StatsBoard | None = None,
        rng: random.Random | None = None,
        memo_size: int = MEMO_SIZE,
    ) -> None:
        self._providers = providers
        self._stats = stats if stats is not None else StatsBoard()
        self._rng = rng if rng is not None else random.Random()
        self._aliases: dict[str, Route] = {}
        globs: list[tuple[int, int, _Glob]] = []
        for index, (alias, model) in enumerate(models.items()):
            if is_glob(alias):
                shared = None if _names_the_request(model) else self._route(alias, model, alias, self._stats)
                glob = _Glob(alias, re.compile(fnmatch.translate(alias)).match, model, shared)
                globs.append((-literal_count(alias), index, glob))
            else:
                self._aliases[alias] = self._route(alias, model, alias, self._stats)
        self._globs = tuple(glob for _, _, glob in sorted(globs, key=lambda entry: entry[:2]))
        self._listed: dict[str, Route] = {}
        for provider_id, provider in providers.items():
            for upstream in provider.options.models:
                label = f"{provider_id}/{upstream}"
                target = self._target(provider, upstream, label)
                self._listed.setdefault(upstream, Route((target,), name=label))
        self.aliases = tuple(models)
        self._memo = functools.lru_cache(maxsize=memo_size)(self._find)

    # -- assembly ---------------------------------------------------------------------------------

    @staticmethod
    def _target(provider: Provider, model: str, label: str) -> Target:
        return Target(provider, model, label, getattr(provider.options, "max_output_tokens", None))

    def _direct(self, label: str, requested: str) -> Target:
        provider_id, _, upstream = label.partition("/")
        if upstream == SAME_NAME:
            upstream, label = requested, f"{provider_id}/{requested}"
        return self._target(self._providers[provider_id], upstream, label)

    def _route(self, name: str, model: ModelConfig, requested: str, stats: StatsBoard | _Unpinned) -> Route:
        """The route of alias ``name`` for a request that asked for ``requested``."""
        targets = tuple(self._direct(target, requested) for target in model.targets)
        order = None
        if model.strategy != "ordered":
            order = Balancer(model.strategy, targets, model.weights, stats, self._rng).order  # type: ignore[arg-type]
        fallbacks = tuple(self._direct(target, requested) for target in model.context_fallbacks)
        return Route(targets, order, model.hedge_after, fallbacks, name)

    # -- per request ------------------------------------------------------------------------------

    def resolve(self, model: str) -> Route:
        route = self._aliases.get(model)
        if route is None:
            route = self._memo(model) if len(model) <= MEMO_NAME_LIMIT else self._find(model)
            if route is None:
                raise self._not_found(model)
        return route

    def _find(self, model: str) -> Route | None:
        provider_id, slash, upstream = model.partition("/")
        if slash and upstream:
            provider = self._providers.get(provider_id)
            if provider is not None:
                return Route((self._target(provider, upstream, model),), name=model)
        route = self._listed.get(model)
        if route is not None:
            return route
        for glob in self._globs:
            if glob.match(model):
                if glob.route is not None:
                    return glob.route
                # The pattern names the route, so metrics and logs see the pattern, not the name.
                return self._route(glob.pattern, glob.model, model, _Unpinned(self._stats))
        return None

    def _not_found(self, model: str) -> ModelNotFound:
        shown = model if len(model) <= 200 else model[:200] + "..."
        hint = suggest(model, [*self._aliases, *self._listed])
        return ModelNotFound(
            f"The model {shown!r} does not exist on this gateway{hint}. Use an alias from "
            "GET /v1/models or 'provider/model' with a configured provider.",
            param="model",
        )

    def listing(self) -> list[tuple[str, str]]:
        """(model id, owner) pairs for /v1/models: exact aliases, then provider-listed models.

        Glob aliases are not names a client can ask for as they are, so they are not listed.
        """
        entries = [(alias, "sluicegate") for alias in self._aliases]
        for provider_id, provider in self._providers.items():
            entries.extend((f"{provider_id}/{m}", provider_id) for m in provider.options.models)
        return entries


def _names_the_request(model: ModelConfig) -> bool:
    """Whether some target is ``provider/*``, whose model is the name each request asks for."""
    return any(t.partition("/")[2] == SAME_NAME for t in (*model.targets, *model.context_fallbacks))
