"""Model routing: which provider and upstream model serve a requested model name."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from attrs import define, field

from sluicegate.config.converter import suggest
from sluicegate.errors import ModelNotFound

if TYPE_CHECKING:
    from sluicegate.config.schema import ModelConfig
    from sluicegate.provider import Provider
    from sluicegate.resilience.balance import StatsBoard


@define(frozen=True, slots=True)
class Target:
    """One place a request can go: a provider instance and the model name it knows."""

    provider: Provider
    model: str
    label: str  # "provider/model", for headers, logs and errors


@define(frozen=True, slots=True)
class Route:
    """Where a requested model may go: its targets, the per-request try order, and extras."""

    targets: tuple[Target, ...]
    # Returns the order to try the targets in for one request (the balancing strategy).
    order: Callable[[], Sequence[Target]] | None = None
    hedge_after: float | None = None
    context_fallbacks: tuple[Target, ...] = ()
    name: str = field(default="")

    def try_order(self) -> Sequence[Target]:
        return self.targets if self.order is None else self.order()

    # A route reads as its targets, so callers that only need those can treat it as a tuple.
    def __iter__(self):
        return iter(self.targets)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> Target:
        return self.targets[index]


class Router:
    """Resolves model names; everything that can be is precomputed when the gateway is built.

    Order: an alias from ``[models]``; then ``provider/model`` for a configured provider; then a
    bare model name listed in some provider's ``models`` (the first provider in config order).
    """

    def __init__(
        self,
        providers: dict[str, Provider],
        models: dict[str, ModelConfig],
        stats: StatsBoard | None = None,
        rng: random.Random | None = None,
    ) -> None:
        from sluicegate.resilience.balance import Balancer, StatsBoard

        self._providers = providers
        stats = stats if stats is not None else StatsBoard()
        rng = rng if rng is not None else random.Random()
        self._aliases: dict[str, Route] = {}
        for alias, model in models.items():
            targets = tuple(self._direct(target) for target in model.targets)
            order = None
            if model.strategy != "ordered":
                order = Balancer(model.strategy, targets, model.weights, stats, rng).order
            self._aliases[alias] = Route(
                targets,
                order,
                model.hedge_after,
                tuple(self._direct(target) for target in model.context_fallbacks),
                alias,
            )
        self._listed: dict[str, Route] = {}
        for provider_id, provider in providers.items():
            for upstream in provider.options.models:
                label = f"{provider_id}/{upstream}"
                self._listed.setdefault(upstream, Route((Target(provider, upstream, label),), name=label))
        self.aliases = tuple(self._aliases)

    def _direct(self, label: str) -> Target:
        provider_id, _, upstream = label.partition("/")
        return Target(self._providers[provider_id], upstream, label)

    def resolve(self, model: str) -> Route:
        route = self._aliases.get(model)
        if route is not None:
            return route
        provider_id, slash, upstream = model.partition("/")
        if slash and upstream:
            provider = self._providers.get(provider_id)
            if provider is not None:
                return Route((Target(provider, upstream, model),), name=model)
        route = self._listed.get(model)
        if route is not None:
            return route
        raise self._not_found(model)

    def _not_found(self, model: str) -> ModelNotFound:
        shown = model if len(model) <= 200 else model[:200] + "..."
        hint = suggest(model, [*self._aliases, *self._listed])
        return ModelNotFound(
            f"The model {shown!r} does not exist on this gateway{hint}. Use an alias from "
            "GET /v1/models or 'provider/model' with a configured provider.",
            param="model",
        )

    def listing(self) -> list[tuple[str, str]]:
        """(model id, owner) pairs for /v1/models: aliases, then provider-listed models."""
        entries = [(alias, "sluicegate") for alias in self._aliases]
        for provider_id, provider in self._providers.items():
            entries.extend((f"{provider_id}/{m}", provider_id) for m in provider.options.models)
        return entries
