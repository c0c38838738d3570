"""Default plugin: pricing (being written)."""
