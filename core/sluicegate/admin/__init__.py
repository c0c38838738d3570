"""The admin API and web UI (``[admin]``): read and edit providers and aliases, reload the config."""
