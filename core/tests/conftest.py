"""Shared fixtures for the core unit tests: config assembly and throw-away plugin distributions."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from sluicegate.config.loader import load_config_text
from sluicegate.gateway import assemble
from sluicegate.services import Services


@pytest.fixture
def build():
    """``build(toml_text, env={})`` -> an Assembly with real providers and no HTTP session."""

    def build(text: str, env: dict[str, str] | None = None, **kwargs):
        loaded = load_config_text(text, env=env or {}, **kwargs)
        return assemble(loaded, lambda config, registry: Services(http=None, config=config, registry=registry))

    return build


@pytest.fixture
def fake_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Install a distribution (``*.dist-info`` + module) into a tmp dir on sys.path.

    ``fake_dist(dist_name, version, {entry_point_name: module_name}, {module_name: source})``;
    importlib.metadata discovers it like any pip-installed plugin.
    """
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    created: list[str] = []

    def make(dist: str, version: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
        info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        lines = ["[sluicegate]", *(f"{name} = {value}" for name, value in entry_points.items())]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        for module, source in modules.items():
            (site / f"{module}.py").write_text(textwrap.dedent(source))
            created.append(module)

    yield make
    for module in created:
        sys.modules.pop(module, None)
