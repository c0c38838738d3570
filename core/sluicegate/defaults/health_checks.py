"""Default plugin: health_checks (being written)."""
