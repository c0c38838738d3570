"""Config: the schema of gateway.toml (``schema``, ``providers``, ``resilience``, ...) and its
loading (``loader``: read, interpolate ${VAR}s, structure strictly, list every problem).

Nothing is re-exported here: importing one of the schema modules must not import the loader
(and with it the plugin machinery), which sits above them.
"""
