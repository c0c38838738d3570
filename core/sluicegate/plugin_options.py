"""Base attrs classes for plugin-owned config tables."""

from __future__ import annotations

from attrs import define


@define(kw_only=True)
class FeatureOptions:
    """Base for a middleware's table: ``enabled = false`` turns a present table off."""

    enabled: bool = True
