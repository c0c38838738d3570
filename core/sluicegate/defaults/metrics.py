"""Default plugin: metrics (being written)."""
