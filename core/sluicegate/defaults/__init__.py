"""Built-in plugins: the defaults, registered like any other plugin and listed in DEFAULT_PLUGINS."""
