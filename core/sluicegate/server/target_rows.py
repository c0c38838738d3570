"""Per-target rows for /health and the admin page: configured targets alone, the rest per provider.

Clients may name any ``provider/<model>``, so a row per name would let them grow the page (and
the JSON) without bound. A target the config names (an alias target, a provider's listed model)
keeps its own row; every other model of a provider is summed into that provider's
``provider/*`` row, the label metrics use for them too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Worst first: a row that sums several targets shows the worst state among them.
_SEVERITY = {"open": 2, "half_open": 1, "closed": 0}
_SUMMED = ("in_flight", "calls_1m", "errors_1m", "opened")


def fold_unlisted(rows: dict[str, dict[str, Any]], label_of: Callable[[str], str]) -> dict[str, dict[str, Any]]:
    """``rows`` keyed by "provider/model", with unlisted models folded into "provider/*" rows.

    ``label_of`` maps a target label to itself when configured, else to "provider/*". A folded
    row says how many models it holds (``models``) and how many of them are open
    (``open_targets``).
    """
    folded: dict[str, dict[str, Any]] = {}
    for label, row in rows.items():
        key = label_of(label)
        if key == label:
            folded[label] = row
            continue
        into = folded.get(key)
        if into is None:
            into = folded[key] = {"breaker": "closed", "models": 0, "open_targets": 0}
        _add(into, row)
    return folded


def _add(into: dict[str, Any], row: dict[str, Any]) -> None:
    into["models"] += 1
    state = row.get("breaker", "closed")
    into["open_targets"] += state == "open"
    if _SEVERITY.get(state, 0) > _SEVERITY.get(into["breaker"], 0):
        into["breaker"] = state
    for name in _SUMMED:
        if name in row:
            into[name] = into.get(name, 0) + row[name]
    if "consecutive_failures" in row:
        into["consecutive_failures"] = max(into.get("consecutive_failures", 0), row["consecutive_failures"])
    if "retry_in" in row:  # the soonest an open one lets a probe through
        into["retry_in"] = min(into.get("retry_in", row["retry_in"]), row["retry_in"])
    ttfb, current = row.get("ewma_ttfb_ms"), into.get("ewma_ttfb_ms")
    # The fastest, as a provider's summary shows it.
    into["ewma_ttfb_ms"] = current if ttfb is None else ttfb if current is None else min(current, ttfb)
    if row.get("last_error_at") is not None and row["last_error_at"] >= (into.get("last_error_at") or 0):
        into["last_error"] = row.get("last_error")
        into["last_error_at"] = row["last_error_at"]
