"""Config loading: read gateway.toml, interpolate ${VAR}s, structure strictly, list every problem."""

from sluicegate.config.loader import LoadedConfig, load_config, load_config_text
from sluicegate.config.schema import GatewayConfig

__all__ = ["GatewayConfig", "LoadedConfig", "load_config", "load_config_text"]
