"""Default plugin: access_log (being written)."""
