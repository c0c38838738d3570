"""Fixtures for the end-to-end tests: ``h``, the resilience harness (tests/resilience_harness.py)."""

from resilience_harness import h  # noqa: F401
