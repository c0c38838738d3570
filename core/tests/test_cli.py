"""The ``sluicegate`` command: check (good and bad configs) and plugins listing."""

from __future__ import annotations

import importlib.metadata
import re

import pytest

from sluicegate import __version__
from sluicegate.cli import main
from sluicegate.plugins import load_plugins
from sluicegate.registry import PROVIDER

KEY_VALUE = "sk-cli-test-0123456789abcdef"

GOOD = """
[server]
port = 9123

[providers.openai]
type = "openai"
api_key = "${SG_TEST_OPENAI_KEY}"

[providers.deepseek]
type = "openai"
base_url = "https://api.deepseek.com/v1"
api_key = "${SG_TEST_DEEPSEEK_KEY}"

[providers.mock]
type = "mock"

[models.chat]
targets = ["deepseek/deepseek-chat", "mock/echo"]
"""

BAD = """
[server]
port = "8080"
prot = 1

[providers.x]
type = "opena"

[models.chat]
targets = ["x/gpt", "nope"]
"""


@pytest.fixture
def config_file(tmp_path):
    def write(text: str):
        path = tmp_path / "gateway.toml"
        path.write_text(text)
        return str(path)

    return write


def section(out: str, title: str) -> list[str]:
    """The indented lines under ``title:`` in check's output."""
    lines = out.splitlines()
    start = lines.index(f"{title}:") + 1
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("  ")), len(lines))
    return lines[start:end]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_check_prints_providers_models_and_plugins(capsys, config_file, monkeypatch):
    monkeypatch.setenv("SG_TEST_DEEPSEEK_KEY", KEY_VALUE)
    monkeypatch.delenv("SG_TEST_OPENAI_KEY", raising=False)
    path = config_file(GOOD)
    code, out, err = run(capsys, "check", "--config", path)
    assert (code, err) == (0, "")
    assert out.startswith(f"{path}: OK\n")
    assert "server: http://127.0.0.1:9123  workers=1  max_body_mb=32" in out
    assert "auth: 0 client token(s) -- OPEN: anyone can call this gateway" in out
    providers, models, plugins = (section(out, name) for name in ("providers", "models", "plugins"))
    assert len(providers) == 3
    assert re.fullmatch(r"  openai +type=openai +UNCONFIGURED \(SG_TEST_OPENAI_KEY not set\)  https://api.openai.com/v1",
                        providers[0])
    assert re.fullmatch(r"  deepseek +type=openai +key set  https://api.deepseek.com/v1", providers[1])
    assert re.fullmatch(r"  mock +type=mock +no key", providers[2])
    assert len(models) == 1
    assert re.fullmatch(r"  chat +-> deepseek/deepseek-chat, mock/echo", models[0])
    assert re.fullmatch(rf"  sluicegate\.openai_errors +sluicegate {re.escape(__version__)}", plugins[0])
    for dist, name in (("sluicegate-openai", "openai"), ("sluicegate-mock", "mock")):
        version = importlib.metadata.version(dist)
        assert any(re.fullmatch(rf"  {name} +{dist} {re.escape(version)}", line) for line in plugins)
    assert KEY_VALUE not in out + err


def test_check_counts_client_tokens_without_printing_them(capsys, config_file, monkeypatch):
    monkeypatch.setenv("SG_TEST_TOKEN", "client-secret-token-42")
    path = config_file('[auth]\ntokens = ["${SG_TEST_TOKEN}", "${SG_TEST_UNSET_TOKEN}"]\n'
                       '[providers.mock]\ntype = "mock"\n')
    monkeypatch.delenv("SG_TEST_UNSET_TOKEN", raising=False)
    code, out, err = run(capsys, "check", "--config", path)
    assert code == 0
    assert "auth: 1 client token(s)\n" in out
    assert "(none; use 'provider/model' names)" in out
    assert "client-secret-token-42" not in out + err


def test_check_bad_config_lists_every_problem_and_exits_1(capsys, config_file):
    path = config_file(BAD)
    code, out, err = run(capsys, "check", "--config", path)
    assert (code, out) == (1, "")
    assert "Traceback" not in err
    installed = ", ".join(sorted(load_plugins().registry.of_kind(PROVIDER)))
    assert err.splitlines() == [
        f"error: {path}: 4 problem(s):",
        "  - server.port: expected an integer, got a string",
        '  - server.prot: unknown key (did you mean "port"?)',
        '  - providers.x.type: unknown provider type \'opena\' (did you mean "openai"?); '
        f"installed types: {installed}",
        "  - models.chat.targets[1]: 'nope' must look like 'provider/model'",
    ]


def test_check_toml_syntax_error_exits_1_without_traceback(capsys, config_file):
    path = config_file("[server\n")
    code, out, err = run(capsys, "check", "--config", path)
    assert code == 1
    assert err.startswith(f"error: {path}: 1 problem(s):\n  - invalid TOML: ")
    assert "Traceback" not in err


def test_check_missing_file_exits_1(capsys, tmp_path):
    missing = tmp_path / "absent.toml"
    code, out, err = run(capsys, "check", "--config", str(missing))
    assert code == 1
    assert err == f"error: {missing}: 1 problem(s):\n  - config file {missing} does not exist\n"


def test_no_command_prints_help_and_exits_2(capsys):
    code, out, _ = run(capsys)
    assert code == 2
    assert out.startswith("usage: sluicegate")


def test_plugins_lists_name_distribution_version_and_registrations(capsys):
    code, out, err = run(capsys, "plugins")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert re.fullmatch(r"NAME +DISTRIBUTION +VERSION +REGISTERS", lines[0])
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["sluicegate.openai_errors"] == ["sluicegate.openai_errors", "sluicegate", __version__,
                                                "hook:gateway_error_body"]
    assert rows["openai"] == ["openai", "sluicegate-openai", importlib.metadata.version("sluicegate-openai"),
                              "provider:openai"]
    assert rows["mock"] == ["mock", "sluicegate-mock", importlib.metadata.version("sluicegate-mock"),
                            "provider:mock"]


def test_plugins_lists_every_default_plugin_with_what_its_one_module_registers(capsys):
    from sluicegate.plugins import DEFAULT_PLUGINS

    code, out, _ = run(capsys, "plugins")
    assert code == 0
    rows = {line.split()[0]: " ".join(line.split()[3:]) for line in out.splitlines()[1:]}
    assert all(rows[name] != "-" for name, _ in DEFAULT_PLUGINS)
    assert rows["sluicegate.auth"] == "authenticator:auth"
    assert rows["sluicegate.cache"] == "middleware:cache"
    assert rows["sluicegate.memory_cache"] == "cache_backend:memory"
    assert rows["sluicegate.breakers"] == "breaker_policy:consecutive"
    assert rows["sluicegate.metrics"] == "extension:metrics, hook:gateway_app_created"


def test_check_names_the_plugin_and_distribution_of_a_factory_that_raises_without_a_traceback(
        capsys, config_file, fake_dist):
    fake_dist("sluicegate-wobbly", "0.3.0", {"wobbly": "sg_fake_wobbly"}, {"sg_fake_wobbly": """
        from sluicegate import hookimpl

        def make(*, options, services):
            raise RuntimeError("wobbly fell over")

        @hookimpl
        def register_extensions(register):
            register("wobbly", make, always=True)
        """})
    code, out, err = run(capsys, "check", "--config", config_file('[providers.m]\ntype = "mock"\n'))
    assert (code, out) == (1, "")
    assert ("  - wobbly: extension 'wobbly' from plugin 'wobbly' (distribution sluicegate-wobbly) failed to "
            "build: RuntimeError: wobbly fell over") in err
    assert "Traceback" not in err


def test_check_runs_the_component_factories_like_serve(capsys, config_file):
    # The schema accepts these; only the pricing and access-log factories can tell they are wrong.
    path = config_file(
        '[providers.m]\ntype = "mock"\n'
        '[pricing.prices."nope/x"]\ninput = 1.0\noutput = 1.0\n'
        '[access_log]\ndestination = "/nonexistent-dir/sub/access.log"\n'
    )
    code, out, err = run(capsys, "check", "--config", path)
    assert code == 1
    assert out == ""
    assert "pricing.prices" in err and "unknown provider 'nope'" in err
    assert "access_log.destination" in err
    assert "Traceback" not in err
