"""Built-in extensions (register_extensions): metrics, access log, pricing, health checks."""
