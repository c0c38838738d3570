"""Repository-wide pytest setup: the sluicegate test kit's fixtures for every test directory."""

pytest_plugins = ["sluicegate.testing.pytest_plugin"]
