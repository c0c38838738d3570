"""Model routing: which provider and upstream model serve a requested model name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from attrs import define

from sluicegate.config.converter import suggest
from sluicegate.errors import ModelNotFound

if TYPE_CHECKING:
    from sluicegate.config.schema import ModelConfig
    from sluicegate.provider import Provider


@define(frozen=True, slots=True)
class Target:
    """One place a request can go: a provider instance and the model name it knows."""

    provider: Provider
    model: str
    label: str  # "provider/model", for headers, logs and errors


class Router:
    """Resolves model names; everything that can be is precomputed when the gateway is built.

    Order: an alias from ``[models]``; then ``provider/model`` for a configured provider; then a
    bare model name listed in some provider's ``models`` (the first provider in config order).
    """

    def __init__(self, providers: dict[str, Provider], models: dict[str, ModelConfig]) -> None:
        self._providers = providers
        self._aliases: dict[str, tuple[Target, ...]] = {}
        for alias, model in models.items():
            self._aliases[alias] = tuple(self._direct(target) for target in model.targets)
        self._listed: dict[str, tuple[Target, ...]] = {}
        for provider_id, provider in providers.items():
            for upstream in provider.options.models:
                label = f"{provider_id}/{upstream}"
                self._listed.setdefault(upstream, (Target(provider, upstream, label),))
        self.aliases = tuple(self._aliases)

    def _direct(self, label: str) -> Target:
        provider_id, _, upstream = label.partition("/")
        return Target(self._providers[provider_id], upstream, label)

    def resolve(self, model: str) -> tuple[Target, ...]:
        targets = self._aliases.get(model)
        if targets is not None:
            return targets
        provider_id, slash, upstream = model.partition("/")
        if slash and upstream:
            provider = self._providers.get(provider_id)
            if provider is not None:
                return (Target(provider, upstream, model),)
        targets = self._listed.get(model)
        if targets is not None:
            return targets
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
