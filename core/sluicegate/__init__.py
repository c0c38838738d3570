"""sluicegate: a plugin-based LLM API gateway."""

from sluicegate.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = ["hookimpl", "__version__"]
