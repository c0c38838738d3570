"""Test kit for sluicegate and its plugins: fake vendor servers and a real gateway on a free port.

Use it from pytest with ``pytest_plugins = ["sluicegate.testing.pytest_plugin"]`` (needs
pytest-asyncio), or directly as async context managers.
"""

from sluicegate.testing.gateway import running_gateway
from sluicegate.testing.upstream import FakeUpstream, RecordedRequest, openai_chat_completion, openai_chunks

__all__ = ["FakeUpstream", "RecordedRequest", "openai_chat_completion", "openai_chunks", "running_gateway"]
