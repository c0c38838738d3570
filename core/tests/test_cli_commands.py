"""Plugin commands on the ``sluicegate`` command line (the ``register_commands`` hook): the hook
reference's example plugin adds a working command, and a plugin that breaks the command line is
named in a one-line error instead of a traceback."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

from sluicegate import cli, hookimpl
from sluicegate.cli import main
from sluicegate.errors import PluginError

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "hooks" / "register_commands.py"

CONFIG = """
[providers.mock]
type = "mock"

[models.chat]
targets = ["mock/echo-1", "mock/echo-2"]

[models.fast]
targets = ["mock/echo-1"]
"""


def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("hook_example_register_commands", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def config(tmp_path) -> str:
    path = tmp_path / "gateway.toml"
    path.write_text(CONFIG)
    return str(path)


def test_the_example_plugin_adds_a_command_that_reads_the_config(capsys, config):
    plugins = [("aliases_example", example())]
    assert main(["aliases", "--config", config], extra_plugins=plugins) == 0
    assert capsys.readouterr().out.splitlines() == ["chat -> mock/echo-1, mock/echo-2", "fast -> mock/echo-1"]

    with pytest.raises(SystemExit):
        main(["--help"], extra_plugins=plugins)
    assert "aliases" in capsys.readouterr().out
    # Without the plugin the command does not exist (argparse says so and exits 2).
    with pytest.raises(SystemExit) as exited:
        main(["aliases", "--config", config])
    assert exited.value.code == 2 and "invalid choice: 'aliases'" in capsys.readouterr().err


def test_a_plugin_commands_bad_config_is_reported_like_the_cores(capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[providers.mock]\ntype = "mokc"\n')
    assert main(["aliases", "--config", str(bad)], extra_plugins=[("aliases_example", example())]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "providers.mock" in err and "Traceback" not in err


class Raises:
    @hookimpl
    def register_commands(self, commands):
        raise RuntimeError("cannot add my command")


class TakesServe:
    @hookimpl
    def register_commands(self, commands):
        commands.add_parser("serve", help="a second serve")


@pytest.mark.parametrize(("plugin", "said"), [(Raises(), "cannot add my command"),
                                              (TakesServe(), "conflicting subparser: serve")])
def test_a_plugin_breaking_the_command_line_is_named_in_one_line(capsys, config, plugin, said):
    assert main(["check", "--config", config], extra_plugins=[("naughty", plugin)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: plugin 'naughty'") and "register_commands" in err and said in err
    assert "Traceback" not in err


def test_plugins_that_cannot_load_leave_the_cores_commands_working(capsys, config, monkeypatch):
    def broken(**_):
        raise PluginError("plugin 'broken' from distribution broken 1.0 failed to load")

    monkeypatch.setattr(cli, "load_plugins", broken)
    assert main(["check", "--config", config]) == 0
    printed = capsys.readouterr()
    assert "warning: plugin commands are unavailable: plugin 'broken'" in printed.err
    assert f"{config}: OK" in printed.out


def test_the_plugins_listing_shows_the_commands_hook(capsys, monkeypatch):
    real = cli.load_plugins
    plugin = SimpleNamespace(register_commands=example().register_commands)
    monkeypatch.setattr(cli, "load_plugins", lambda **kwargs: real(extra=[("aliases_example", plugin)]))
    assert main(["plugins"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("aliases_example"))
    assert "hook:register_commands" in row
