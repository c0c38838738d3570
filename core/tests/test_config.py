"""Config validation: every problem at once, with TOML paths, strict types and suggestions."""

from __future__ import annotations

import pytest
from attrs import define, field

from sluicegate import hookimpl
from sluicegate.config.loader import load_config, load_config_text
from sluicegate.config.schema import GatewayConfig
from sluicegate.errors import ConfigError, ConfigProblem
from sluicegate.plugin_options import FeatureOptions
from sluicegate.plugins import load_plugins
from sluicegate.registry import PROVIDER
from sluicegate.secrets import Secret


def installed_types(*without: str) -> str:
    """The provider types installed in this environment, as config errors list them."""
    return ", ".join(sorted(set(load_plugins().registry.of_kind(PROVIDER)) - set(without)))


def problems(text: str, env: dict[str, str] | None = None) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as info:
        load_config_text(text, env=env or {}, use_entry_points=True)
    return info.value.problems


def as_pairs(found: list[ConfigProblem]) -> set[tuple[str, str]]:
    return {(p.path, p.message) for p in found}


def test_valid_config_structures_into_typed_options():
    text = """
    [server]
    host = "0.0.0.0"
    port = 9000
    max_body_mb = 5

    [providers.m]
    type = "mock"
    models = ["a"]

    [models.chat]
    targets = ["m/a"]
    description = "demo"
    """
    config = load_config_text(text, env={}).config
    assert isinstance(config, GatewayConfig)
    assert (config.server.host, config.server.port) == ("0.0.0.0", 9000)
    assert config.server.max_body_mb == 5.0 and type(config.server.max_body_mb) is float
    assert config.providers["m"].type == "mock"
    assert type(config.providers["m"]).__name__ == "MockOptions"
    assert config.models["chat"].targets == ["m/a"]
    assert config.models["chat"].description == "demo"


def test_every_problem_is_listed_at_once_with_its_path():
    text = """
    [server]
    port = "8080"
    max_body_mb = -1

    [auth]
    tokens = [1]

    [providers.x]
    type = "opena"

    [providers.y]
    type = "openai"
    timeout = 0
    api_key = 5

    [models.chat]
    targets = ["y/gpt", "bad", "z/m"]
    """
    found = problems(text)
    assert as_pairs(found) == {
        ("server.port", "expected an integer, got a string"),
        ("server.max_body_mb", "must be greater than 0, got -1"),
        ("auth.tokens[0]", "expected a string, got an integer"),
        (
            "providers.x.type",
            f"unknown provider type 'opena' (did you mean \"openai\"?); installed types: {installed_types()}",
        ),
        ("providers.y.timeout", "must be greater than 0, got 0"),
        ("providers.y.api_key", "expected a string, got an integer"),
        ("models.chat.targets[1]", "'bad' must look like 'provider/model'"),
        ("models.chat.targets[2]", "unknown provider 'z'"),
    }
    assert len(found) == 8


def test_config_error_text_lists_each_problem_with_source():
    with pytest.raises(ConfigError) as info:
        load_config_text("[server]\nport = 'x'\nworkers = 0\n", source="my.toml", env={})
    assert str(info.value) == (
        "my.toml: 2 problem(s):\n"
        "  - server.port: expected an integer, got a string\n"
        "  - server.workers: must be at least 1, got 0"
    )
    assert info.value.source == "my.toml"


def test_unknown_table_suggests_close_name():
    assert as_pairs(problems("[servr]\nport = 1\n")) == {("servr", 'unknown table (did you mean "server"?)')}


def test_unknown_top_level_key_without_close_match_has_no_suggestion():
    assert as_pairs(problems("zzzzqqq = 1\n")) == {("zzzzqqq", "unknown key")}


def test_unknown_key_in_core_table_suggests_close_name():
    assert as_pairs(problems("[server]\nprot = 1\n")) == {("server.prot", 'unknown key (did you mean "port"?)')}


def test_unknown_key_in_nested_table_has_full_path():
    found = problems("[server.cors]\nallow_origin = ['*']\n")
    assert as_pairs(found) == {("server.cors.allow_origin", 'unknown key (did you mean "allow_origins"?)')}


def test_unknown_key_in_provider_table_suggests_close_name():
    found = problems("[providers.x]\ntype = 'openai'\napi_kye = 'k'\n")
    assert as_pairs(found) == {("providers.x.api_kye", 'unknown key (did you mean "api_key"?)')}


def test_unknown_key_in_plugin_owned_provider_options_suggests_close_name():
    found = problems("[providers.m]\ntype = 'mock'\nrepyl = 'hi'\n")
    assert as_pairs(found) == {("providers.m.repyl", 'unknown key (did you mean "reply"?)')}


@pytest.mark.parametrize(
    ("line", "path", "message"),
    [
        ('port = "8080"', "server.port", "expected an integer, got a string"),
        ("port = true", "server.port", "expected an integer, got a boolean"),
        ("port = 80.0", "server.port", "expected an integer, got a number"),
        ("max_body_mb = true", "server.max_body_mb", "expected a number, got a boolean"),
        ('max_body_mb = "5"', "server.max_body_mb", "expected a number, got a string"),
        ("host = 1", "server.host", "expected a string, got an integer"),
        ("host = [1]", "server.host", "expected a string, got an array"),
        ("cors = 1", "server.cors", "has the wrong type"),
    ],
)
def test_strict_scalars_never_coerce(line, path, message):
    assert as_pairs(problems(f"[server]\n{line}\n")) == {(path, message)}


def test_boolean_field_rejects_integer():
    found = problems("[server.cors]\nallow_credentials = 1\n")
    assert as_pairs(found) == {("server.cors.allow_credentials", "expected a boolean (true or false), got an integer")}


def test_array_field_rejects_string():
    found = problems("[providers.m]\ntype = 'mock'\n[models.chat]\ntargets = 'm/a'\n")
    assert as_pairs(found) == {("models.chat.targets", "expected an array, got a string")}


def test_table_field_value_type_has_key_path():
    found = problems("[providers.x]\ntype = 'openai'\nheaders = {a = 1, b = 'ok'}\n")
    assert as_pairs(found) == {("providers.x.headers.a", "expected a string, got an integer")}


def test_integer_is_accepted_where_a_number_belongs():
    config = load_config_text('[server]\nshutdown_grace = 2\n[providers.m]\ntype = "mock"\n', env={}).config
    assert config.server.shutdown_grace == 2.0


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("port = 70000", "must be a TCP port between 0 and 65535, got 70000"),
        ("port = -1", "must be a TCP port between 0 and 65535, got -1"),
        ("max_body_mb = 0", "must be greater than 0, got 0"),
        ("workers = 0", "must be at least 1, got 0"),
        ("shutdown_grace = -1", "must be 0 or more, got -1"),
    ],
)
def test_validator_alone_is_reported_once_at_its_key(line, message):
    key = line.split(" = ")[0]
    assert problems(f"[server]\n{line}\n") == [ConfigProblem(f"server.{key}", message)]


def test_validators_reported_even_when_another_key_has_a_type_error():
    found = problems("[server]\nhost = 1\nport = 70000\nmax_body_mb = -2\n")
    assert as_pairs(found) == {
        ("server.host", "expected a string, got an integer"),
        ("server.port", "must be a TCP port between 0 and 65535, got 70000"),
        ("server.max_body_mb", "must be greater than 0, got -2"),
    }


def test_provider_validators_reported_alongside_type_errors():
    found = problems("[providers.x]\ntype = 'openai'\ntimeout = '5'\nbase_url = 'ftp://h'\n")
    assert as_pairs(found) == {
        ("providers.x.timeout", "expected a number, got a string"),
        ("providers.x.base_url", "must be an http:// or https:// URL"),
    }


def test_plugin_option_validators_are_reported_with_path():
    found = problems("[providers.m]\ntype = 'mock'\nfail_rate = 2.0\nlatency = 'x'\n")
    assert as_pairs(found) == {
        ("providers.m.latency", "expected a number, got a string"),
        ("providers.m.fail_rate", "must be between 0 and 1, got 2.0"),
    }


def test_unknown_provider_type_lists_installed_types():
    found = problems("[providers.x]\ntype = 'zzzz'\n")
    assert as_pairs(found) == {("providers.x.type", f"unknown provider type 'zzzz'; installed types: {installed_types()}")}


def test_provider_type_is_required():
    found = problems("[providers.x]\nbase_url = 'https://h'\n")
    assert as_pairs(found) == {("providers.x.type", "is required (the provider plugin to use)")}


def test_provider_type_must_be_a_string():
    found = problems("[providers.x]\ntype = 1\n")
    assert as_pairs(found) == {("providers.x.type", "expected a string, got an integer")}


def test_provider_id_with_slash_is_refused():
    found = problems("[providers.'a/b']\ntype = 'mock'\n")
    assert as_pairs(found) == {
        ("providers.a/b", "provider ids may hold only letters, digits, '_', '.' and '-' (no '/')")
    }


@pytest.mark.parametrize(("table", "line"), [("providers", "providers = 1"), ("models", "models = [1]")])
def test_providers_and_models_must_be_tables(table, line):
    kind = "an integer" if table == "providers" else "an array"
    assert as_pairs(problems(line + "\n")) == {(table, f"expected a table, got {kind}")}


def test_target_naming_unknown_provider_suggests_close_id():
    found = problems("[providers.openai]\ntype = 'openai'\n[models.c]\ntargets = ['opnai/gpt']\n")
    assert as_pairs(found) == {("models.c.targets[0]", "unknown provider 'opnai' (did you mean \"openai\"?)")}


@pytest.mark.parametrize("target", ["m", "m/", "/x"])
def test_target_must_look_like_provider_slash_model(target):
    found = problems(f"[providers.m]\ntype = 'mock'\n[models.c]\ntargets = ['{target}']\n")
    assert as_pairs(found) == {("models.c.targets[0]", f"{target!r} must look like 'provider/model'")}


def test_model_targets_may_not_be_empty():
    found = problems("[models.c]\ntargets = []\n")
    assert as_pairs(found) == {("models.c.targets", "needs at least one target")}


def test_missing_required_targets_is_reported_at_its_own_path():
    assert problems("[models.c]\ndescription = 'no targets'\n") == [ConfigProblem("models.c.targets", "is required")]


def test_toml_syntax_error_is_one_problem_without_traceback_chain():
    with pytest.raises(ConfigError) as info:
        load_config_text("[server\nport = 1\n", env={})
    [problem] = info.value.problems
    assert problem.path == ""
    assert problem.message.startswith("invalid TOML: ")
    assert "(at line 1, column 8)" in problem.message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_load_config_on_missing_file(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(missing, env={})
    assert info.value.problems == [ConfigProblem("", f"config file {missing} does not exist")]
    assert info.value.source == str(missing)


def test_load_config_reads_file_and_records_source(tmp_path):
    path = tmp_path / "g.toml"
    path.write_text('[server]\nport = 1234\n[providers.m]\ntype = "mock"\n')
    config = load_config(path, env={}).config
    assert (config.server.port, config.source) == (1234, str(path))


def test_config_problem_str_and_equality():
    assert str(ConfigProblem("a.b", "bad")) == "a.b: bad"
    assert str(ConfigProblem("", "bad")) == "bad"
    assert ConfigProblem("a", "m") == ConfigProblem("a", "m")
    assert ConfigProblem("a", "m") != ConfigProblem("a", "n")
    assert repr(ConfigProblem("a", "m")) == "ConfigProblem('a', 'm')"


# -- issue 11, defect 10: a wrong type in a validated key never becomes a traceback -----------------


def test_wrong_type_in_a_validated_key_and_an_unknown_target_are_both_listed():
    # base_url has a validator (http_url); it used to be called on the raw 12 and crash the loader
    # with an AttributeError inside a cattrs ClassValidationError instead of listing problems.
    text = """
    [providers.mock]
    type = "openai"
    base_url = 12
    api_key = "sk-test"

    [models.x]
    targets = ["nosuch/model"]
    """
    assert problems(text) == [
        ConfigProblem("providers.mock.base_url", "expected a string, got an integer"),
        ConfigProblem("models.x.targets[0]", "unknown provider 'nosuch'"),
    ]


@pytest.mark.parametrize("value", ["12", "true", '["https://a"]', '{ url = "https://a" }', "1.5"])
def test_every_wrong_type_of_a_validated_key_is_one_problem(value):
    # Each wrong type beside a second broken key, so the per-key validator re-run happens.
    found = problems(f"[providers.o]\ntype = 'openai'\nbase_url = {value}\ntimeout = 'soon'\n")
    assert sorted(p.path for p in found) == ["providers.o.base_url", "providers.o.timeout"]


def _careless_validator(_, attribute, value):
    # Quotes its value, as a plugin's validator may: that must never print a secret.
    text = value.reveal() if isinstance(value, Secret) else value
    if not text.startswith("hvs.") and not text.startswith("https://"):
        raise ValueError(f"{value} is not a vault token or https URL")


@define(kw_only=True)
class VaultOptions(FeatureOptions):
    token: Secret = field(validator=_careless_validator)
    url: str = field(default="https://vault", validator=_careless_validator)
    retries: int = 1


class VaultPlugin:
    @hookimpl
    def register_extensions(self, register):
        register("vault", lambda **_: None, options=VaultOptions)


def test_validators_see_the_structured_value_so_secrets_are_never_quoted():
    text = """
    [providers.m]
    type = "mock"
    [vault]
    token = "hvs-sekrit-value-123456"
    url = "http://me:hunter2pass@vault:8200"
    retries = "x"
    """
    with pytest.raises(ConfigError) as info:
        load_config_text(text, env={}, extra_plugins=[("vault", VaultPlugin())])
    assert as_pairs(info.value.problems) == {
        ("vault.retries", "expected an integer, got a string"),
        # The validator got the Secret (as __init__ would give it), never the bare TOML string.
        ("vault.token", "Secret('***') is not a vault token or https URL"),
        ("vault.url", "http://me:***@vault:8200 is not a vault token or https URL"),
    }
    assert "sekrit" not in str(info.value) and "hunter2" not in str(info.value)


def test_a_secret_from_the_environment_put_in_the_wrong_key_is_not_echoed():
    # Errors quote values with !r; a key interpolated into a non-secret field shows as written.
    key = "gsk_live_0123456789abcdefghijKLMN"
    text = """
    [providers.k]
    type = "${KEY}"
    [providers.m]
    type = "mock"
    [models.x]
    targets = ["${KEY}"]
    [models.y]
    targets = ["m/echo"]
    strategy = "${KEY}"
    """
    found = problems(text, env={"KEY": key})
    rendered = "\n".join(map(str, found))
    assert {p.path for p in found} == {"providers.k.type", "models.x.targets[0]", "models.y.strategy"}
    assert "models.x.targets[0]: '${KEY}' must look like 'provider/model'" in rendered
    assert key[:8] not in rendered
