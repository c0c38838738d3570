"""``${VAR}`` / ``${VAR:-default}`` / ``$$`` interpolation over parsed TOML trees."""

from __future__ import annotations

from sluicegate.config.interpolate import interpolate_string, interpolate_tree
from sluicegate.config.loader import load_config_text


def test_variable_is_substituted():
    result = interpolate_string("Bearer ${TOKEN}", {"TOKEN": "abc"})
    assert result == "Bearer abc"
    assert result.missing == ()


def test_default_used_when_variable_unset():
    result = interpolate_string("${HOST:-localhost}:${PORT:-80}", {"PORT": "8080"})
    assert result == "localhost:8080"
    assert result.missing == ()


def test_default_used_when_variable_empty():
    assert interpolate_string("${HOST:-fallback}", {"HOST": ""}) == "fallback"


def test_default_may_contain_colons_and_slashes():
    assert interpolate_string("${URL:-http://h:1/v1}", {}) == "http://h:1/v1"


def test_empty_default_is_not_missing():
    result = interpolate_string("x${A:-}y", {})
    assert (result, result.missing) == ("xy", ())


def test_unset_variables_recorded_in_missing_and_replaced_by_empty():
    result = interpolate_string("${A}-${B}-${C}", {"B": "b"})
    assert result == "-b-"
    assert result.missing == ("A", "C")


def test_double_dollar_is_a_literal_dollar():
    result = interpolate_string("cost $$5 and $${NOT_A_VAR}", {"NOT_A_VAR": "x"})
    assert result == "cost $5 and ${NOT_A_VAR}"
    assert result.missing == ()


def test_text_that_is_not_a_reference_is_left_alone():
    assert interpolate_string("$HOME ${1X} $", {"HOME": "/h", "1X": "y"}) == "$HOME ${1X} $"


def test_string_without_dollar_is_returned_unchanged():
    assert interpolate_string("plain", {"plain": "x"}) == "plain"


def test_tree_interpolates_nested_lists_and_tables_but_not_keys():
    tree = {
        "${K}": "${V}",
        "outer": {"list": ["${V}", 3, {"deep": "${MISSING:-d}"}], "flag": True, "n": 1.5},
    }
    result = interpolate_tree(tree, {"K": "key", "V": "value"})
    assert result == {
        "${K}": "value",
        "outer": {"list": ["value", 3, {"deep": "d"}], "flag": True, "n": 1.5},
    }
    assert tree["${K}"] == "${V}"  # the input is not modified


def test_config_load_interpolates_from_given_env_only():
    text = '[server]\nhost = "${HOST}"\n[providers.m]\ntype = "mock"\nreply = "${REPLY:-hi}"\n'
    config = load_config_text(text, env={"HOST": "10.0.0.1"}).config
    assert config.server.host == "10.0.0.1"
    assert config.providers["m"].reply == "hi"


def test_unset_api_key_variable_is_recorded_on_the_secret():
    text = '[providers.o]\ntype = "openai"\napi_key = "${OPENAI_API_KEY}"\n'
    key = load_config_text(text, env={}).config.providers["o"].api_key
    assert key.missing == ("OPENAI_API_KEY",)
    assert key.reveal() == ""
    assert not key
