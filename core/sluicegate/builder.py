"""The one component builder: every factory the core calls is called one way, with one rule.

- A factory returning ``None`` leaves its component out.
- ``ConfigError`` from a factory is the plugin's own verdict on its config: its problems are
  kept, their paths put under the component's table.
- Any other exception is a config problem naming the component, its plugin and distribution
  (the traceback goes to the debug log only: ``sluicegate serve --log-level debug``).
- What a factory returns is checked once against its kind's contract (``sluicegate.conformance``).
- Whatever was built is closed (``aclose``) once, in reverse order: when the assembly is retired,
  or at once when the assembly fails (``AssemblyFailed.aclose``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from attrs import define, field

from sluicegate.conformance import contract_problems
from sluicegate.errors import ConfigError, ConfigProblem, GatewayError
from sluicegate.registry import Component
from sluicegate.secrets import config_secrets, scrub

log = logging.getLogger("sluicegate")


def _join(path: str, sub: str) -> str:
    if not path:
        return sub
    return f"{path}.{sub}" if sub else path


class AssemblyFailed(ConfigError):
    """An assembly was refused; ``aclose()`` closes what had been built before the refusal."""

    def __init__(self, problems: list[ConfigProblem], source: str, closers: list[Closer]) -> None:
        super().__init__(problems, source)
        self._closers = closers

    async def aclose(self) -> None:
        await close_all(self._closers)


@define(frozen=True)
class Closer:
    what: str
    aclose: Callable[[], Awaitable[Any]]


async def close_all(closers: list[Closer]) -> None:
    """Close in reverse order of building; one that fails is logged and the rest still close."""
    while closers:
        closer = closers.pop()
        try:
            await closer.aclose()
        except Exception:
            log.exception("%s failed to close", closer.what)


@define
class Builder:
    """Builds the components of one assembly and remembers what to close."""

    problems: list[ConfigProblem] = field(factory=list)
    closers: list[Closer] = field(factory=list)
    # Components built through ``nested`` while the outer factory runs: owned by that component
    # once it is built, closed by the core if it is not.
    _pending: list[list[Closer]] = field(factory=list)

    def build(self, component: Component, path: str, **kwargs: Any) -> Any:
        """``component.factory(**kwargs)`` by the one rule; problems recorded under ``path``."""
        self._pending.append([])
        try:
            made, problems = self._make(component, kwargs)
        finally:
            nested = self._pending.pop()
        if made is None:
            # The factory failed after asking for others (or left itself out): nobody owns them.
            self.closers.extend(nested)
        self.problems.extend(ConfigProblem(_join(path, p.path), p.message) for p in problems)
        return None if problems else made

    def nested(self, component: Component, options: Any, services: Any) -> Any:
        """Build a component another factory asked for (``services.build``).

        Returns it (or None when its factory returned None); raises ConfigError with paths
        relative to the asking component's table, so that component's factory stops there.
        """
        made, problems = self._make(component, {"options": options, "services": services}, owned=True)
        if problems:
            raise ConfigError(problems)
        return made

    def _make(self, component: Component, kwargs: dict[str, Any], owned: bool = False) -> tuple[Any, list[ConfigProblem]]:
        """(what the factory made or None, problems); a made object is registered for closing."""
        try:
            made = component.factory(**kwargs)
        except ConfigError as exc:
            return None, list(exc.problems)
        except GatewayError as exc:
            return None, [ConfigProblem("", exc.message)]
        except Exception as exc:  # a plugin's bug: name it, keep the traceback for --log-level debug
            log.debug("%s failed to build", component.describe(), exc_info=True)
            message = scrub(f"{type(exc).__name__}: {exc}", config_secrets(kwargs.get("options")))
            return None, [ConfigProblem("", f"{component.describe()} failed to build: {message}")]
        if made is None:
            return None, []
        aclose = getattr(made, "aclose", None)
        if callable(aclose):
            closer = Closer(component.describe(), aclose)
            (self._pending[-1] if owned and self._pending else self.closers).append(closer)
        problems = contract_problems(component.kind, made)
        return made, [ConfigProblem("", f"{component.describe()} {problem}") for problem in problems]
