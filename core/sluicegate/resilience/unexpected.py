"""Failures nobody foresaw: an exception from a target that is not a ``GatewayError``.

An adapter bug, or a library refusing a setting (aiohttp raises ``ValueError`` for a
``base_url`` with ``user:pass@`` in it), is still the failure of one target: it is classified
(``unknown`` unless it is a timeout or a network error), the router falls over to the next
target, and the client never sees a bare 500. The traceback is what an operator needs to fix
it, so it is logged, but once per target and exception type: the same failure on every
request would otherwise flood the log.
"""

from __future__ import annotations

import logging
import traceback

from sluicegate.errors import GatewayError, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from sluicegate.exchange import Target
from sluicegate.resilience.classify import TRAITS, ErrorClass, classify
from sluicegate.secrets import scrub

log = logging.getLogger("sluicegate")

#: Distinct (target, exception type) pairs logged with a traceback; beyond that only at debug
#: level, so a plugin raising ever-new exception types cannot grow memory or flood the log.
MAX_REPORTED = 64

_ERRORS: dict[ErrorClass, type[UpstreamError]] = {
    ErrorClass.TIMEOUT: UpstreamTimeout,
    ErrorClass.NETWORK: UpstreamUnavailable,
}


class UnexpectedFailures:
    """Turns unforeseen exceptions into target failures and reports each kind once."""

    def __init__(self) -> None:
        self._reported: set[tuple[str, str]] = set()

    def failure(self, error: Exception, target: Target) -> GatewayError:
        """The target failure ``error`` stands for (logged the first time its kind is seen)."""
        error_class = classify(error)
        kind = f"{type(error).__module__}.{type(error).__qualname__}"
        self._report(error, target, kind, error_class)
        provider = target.provider.name
        return _ERRORS.get(error_class, UpstreamError)(
            f"provider {provider!r} failed unexpectedly ({type(error).__name__}); the gateway's log has the details",
            provider=provider,
            error_class=error_class.value,
            retryable=TRAITS[error_class].retryable,
        )

    def _report(self, error: Exception, target: Target, kind: str, error_class: ErrorClass) -> None:
        key = (target.label, kind)
        if key in self._reported or len(self._reported) >= MAX_REPORTED:
            log.debug("target %s failed unexpectedly again (%s)", target.label, kind)
            return
        self._reported.add(key)
        # The text may quote a key, a header value or a URL with a password: scrub it first.
        text = scrub("".join(traceback.format_exception(error)), target.provider.secrets())
        log.error(
            "target %s failed unexpectedly (%s, error class %s), handled as a failure of that target "
            "(logged once per target and exception type):\n%s",
            target.label, kind, error_class.value, text.rstrip(),
        )
