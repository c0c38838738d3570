"""attrs validators whose messages read well in a config problem list (values of secrets never shown)."""

from __future__ import annotations

from typing import Any


def positive(_: Any, attribute: Any, value: float) -> None:
    if value <= 0:
        raise ValueError(f"must be greater than 0, got {value}")


def non_negative(_: Any, attribute: Any, value: float) -> None:
    if value < 0:
        raise ValueError(f"must be 0 or more, got {value}")


def port_number(_: Any, attribute: Any, value: int) -> None:
    if not 0 <= value <= 65535:
        raise ValueError(f"must be a TCP port between 0 and 65535, got {value}")


def at_least_one(_: Any, attribute: Any, value: int) -> None:
    if value < 1:
        raise ValueError(f"must be at least 1, got {value}")


def http_url(_: Any, attribute: Any, value: str | None) -> None:
    if value is None:
        return
    missing = getattr(value, "missing", ())
    if missing and not value:
        raise ValueError(f"is empty because {', '.join(missing)} is not set")
    if not value.startswith(("http://", "https://")):
        # The value is not echoed: it may carry a key interpolated from the environment.
        raise ValueError("must be an http:// or https:// URL")


def probability(_: Any, attribute: Any, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"must be between 0 and 1, got {value}")


def optional_positive(instance: Any, attribute: Any, value: float | None) -> None:
    if value is not None:
        positive(instance, attribute, value)
