"""Base attrs classes for plugin-owned config tables."""

from __future__ import annotations

from attrs import define


@define(kw_only=True)
class FeatureOptions:
    """Base for a middleware's table: ``enabled = false`` turns a present table off."""

    # false turns a present table off (and an always-on component off).
    enabled: bool = True
