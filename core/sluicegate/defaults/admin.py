"""Default plugin: admin (being written)."""
