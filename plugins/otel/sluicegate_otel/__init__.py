"""sluicegate-otel: OpenTelemetry tracing (being written)."""
