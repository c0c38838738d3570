"""Conformance: what a factory returned, checked against its kind's contract, once per assembly.

The contracts are the Protocols of ``sluicegate.contracts`` (read from their own signatures) and,
for providers, the ``sluicegate.provider.Provider`` base class. A component is refused when a
required method is missing, a method the core awaits is a plain ``def`` (or one it calls plainly
is ``async``), a method cannot take the arguments the core passes, or a public method's name is
a slip of a contract method the component lacks (one edit away, two for names of 8+
characters: ``request_finshed`` for ``request_finished``). Nothing here runs per request.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

from attrs import define

from sluicegate.contracts import (
    Authenticator,
    BreakerBoard,
    CacheBackend,
    Closeable,
    Extension,
    RateLimiter,
    ResponseStore,
    Store,
    TargetGate,
)
from sluicegate.provider import Provider
from sluicegate.registry import (
    AUTHENTICATOR,
    BREAKER_POLICY,
    CACHE_BACKEND,
    EXTENSION,
    MIDDLEWARE,
    PROVIDER,
    RATE_LIMITER,
    RESPONSE_STORE,
    STORE,
)


@define(frozen=True)
class Method:
    """A method the core calls on a component: how, and whether it must be there."""

    name: str
    is_async: bool
    # Positional arguments the core may pass, then keyword-only ones (bound as None to check).
    positional: int
    keywords: tuple[str, ...]
    required: bool
    shown: str  # "request_finished(record)", for problems


def _methods(protocol: type, required: Iterable[str]) -> tuple[Method, ...]:
    """The methods a Protocol class declares, read from its own signatures."""
    wanted = set(required)
    found = []
    for name, function in vars(protocol).items():
        if name.startswith("_") or not inspect.isfunction(function):
            continue
        params = list(inspect.signature(function).parameters.values())[1:]  # without self
        positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        keywords = tuple(p.name for p in params if p.kind is p.KEYWORD_ONLY)
        found.append(Method(name, inspect.iscoroutinefunction(function), len(positional), keywords,
                            name in wanted, f"{name}({', '.join(positional)})"))
    return tuple(found)


@define(frozen=True)
class Contract:
    """What a component of one kind must offer."""

    methods: tuple[Method, ...] = ()
    # The contract is a base class (providers): an instance of it is required.
    base: type | None = None
    # The component itself is called (a middleware).
    is_callable: bool = False

    @property
    def names(self) -> frozenset[str]:
        return frozenset(method.name for method in self.methods)


_ACLOSE = _methods(Closeable, ())

CONTRACTS: dict[str, Contract] = {
    PROVIDER: Contract(base=Provider),
    MIDDLEWARE: Contract(_methods(TargetGate, ()) + _ACLOSE, is_callable=True),
    EXTENSION: Contract(_methods(Extension, ())),
    AUTHENTICATOR: Contract(_methods(Authenticator, ("authenticate",)) + _ACLOSE),
    BREAKER_POLICY: Contract(_methods(BreakerBoard, ("get", "snapshot")) + _ACLOSE),
    CACHE_BACKEND: Contract(_methods(CacheBackend, ("get", "set", "aclose"))),
    RATE_LIMITER: Contract(_methods(RateLimiter, ("acquire", "enter", "leave", "aclose"))),
    RESPONSE_STORE: Contract(_methods(ResponseStore, ("put", "get", "delete", "history", "aclose"))),
    STORE: Contract(_methods(Store, (
        "open", "version", "snapshot", "put_team", "delete_team", "put_key", "delete_key", "record",
        "spend", "usage", "logs", "purge", "aclose"))),
}


def contract_problems(kind: str, made: Any) -> list[str]:
    """Everything wrong with ``made`` as a component of ``kind``; [] when it conforms."""
    contract = CONTRACTS[kind]
    problems: list[str] = []
    if contract.base is not None and not isinstance(made, contract.base):
        return [f"must return a {contract.base.__module__}.{contract.base.__name__}, not {type(made).__name__}"]
    if contract.is_callable and not callable(made):
        problems.append(f"must return something called as (ctx, req, call_next), not {type(made).__name__}")
    present: set[str] = set()
    for method in contract.methods:
        attribute = getattr(made, method.name, None)
        if attribute is None:
            if method.required:
                problems.append(f"has no method {method.shown}")
            continue
        present.add(method.name)
        problem = _method_problem(method, attribute)
        if problem:
            problems.append(problem)
    known = contract.names | _base_names(contract)
    lacking = known - present - _overridden(made, contract)
    for name in sorted(_public_methods(made, contract)):
        if name in known:
            continue
        meant = _near(name, lacking)
        if meant is not None:
            problems.append(f"has a method {name}() that the core never calls: did you mean {meant}?")
    return problems


def _method_problem(method: Method, attribute: Any) -> str | None:
    if not callable(attribute):
        return f"{method.name} is not a method"
    if method.is_async and (inspect.isfunction(attribute) or inspect.ismethod(attribute)) \
            and not inspect.iscoroutinefunction(attribute):
        return f"{method.name} must be a coroutine (async def): the core awaits it"
    if not method.is_async and inspect.iscoroutinefunction(attribute):
        return f"{method.name} must be a plain def: the core calls it without awaiting (an async one never runs)"
    try:
        signature = inspect.signature(attribute)
    except (TypeError, ValueError):  # a builtin without a signature: nothing to check
        return None
    try:
        signature.bind(*([None] * method.positional), **dict.fromkeys(method.keywords))
    except TypeError:
        return f"{method.name} cannot be called as the core calls it: {method.shown}"
    return None


def _base_names(contract: Contract) -> frozenset[str]:
    if contract.base is None:
        return frozenset()
    return frozenset(name for name, value in vars(contract.base).items()
                     if not name.startswith("_") and inspect.isfunction(value))


def _overridden(made: Any, contract: Contract) -> set[str]:
    """For a base-class contract: the base's methods the component's own classes define."""
    if contract.base is None:
        return set()
    own: set[str] = set()
    for cls in type(made).__mro__:
        if cls is contract.base:
            break
        own.update(vars(cls))
    return own


def _public_methods(made: Any, contract: Contract) -> set[str]:
    """Public methods the component defines itself (below a base-class contract)."""
    names: set[str] = set()
    for cls in type(made).__mro__:
        if cls is object or cls is contract.base:
            break
        names.update(name for name, value in vars(cls).items()
                     if not name.startswith("_") and inspect.isfunction(value))
    instance = getattr(made, "__dict__", None)
    if isinstance(instance, dict) and not inspect.isfunction(made):
        names.update(name for name, value in instance.items() if not name.startswith("_") and callable(value))
    return names


def _near(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate ``name`` is a slip of: one edit away (two for names of 8+ characters)."""
    best = None
    for candidate in sorted(candidates):
        allowed = 2 if len(candidate) >= 8 else 1
        distance = _edit_distance(name, candidate)
        if distance <= allowed and (best is None or distance < best[0]):
            best = (distance, candidate)
    return best[1] if best else None


def _edit_distance(a: str, b: str) -> int:
    """Insertions, deletions, substitutions and swaps of neighbours (optimal string alignment)."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, other in enumerate(b, 1):
            cost = char != other
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and char == b[j - 2] and a[i - 2] == other:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]
