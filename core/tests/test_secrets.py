"""Secrets never print, pickle or leak through config reprs and errors; unset keys mark providers."""

from __future__ import annotations

import pickle

import pytest

from sluicegate.config.loader import load_config_text
from sluicegate.errors import ConfigError, ProviderNotConfigured
from sluicegate.exchange import Endpoint, GatewayRequest
from sluicegate.secrets import Secret, scrub

KEY = "sk-live-0123456789abcdefSECRET"


def test_secret_masks_itself_everywhere():
    secret = Secret(KEY)
    renderings = [
        repr(secret),
        str(secret),
        format(secret),
        format(secret, ">40"),
        f"{secret}",
        f"{secret!r}",
        f"{secret!s}",
        "%s %r" % (secret, secret),  # noqa: UP031 (old-style formatting must mask too)
        "{}".format(secret),  # noqa: UP032 (str.format must mask too)
        repr([secret]),
        repr({"k": secret}),
    ]
    for text in renderings:
        assert KEY not in text
        assert "***" in text
    assert repr(secret) == "Secret('***')"
    assert secret.reveal() == KEY


def test_empty_secret_renders_as_empty_and_is_falsy():
    assert repr(Secret("")) == "Secret('')"
    assert not Secret("")
    assert Secret("x")


def test_secret_equality_and_hash_compare_values():
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert Secret("a") != "a"
    assert hash(Secret("a")) == hash(Secret("a"))


def test_secret_cannot_be_pickled():
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(Secret(KEY))


def test_whole_config_cannot_be_pickled_because_it_holds_secrets():
    text = f'[auth]\ntokens = ["{KEY}"]\n[providers.m]\ntype = "mock"\n'
    config = load_config_text(text, env={}).config
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(config)


def test_config_and_provider_options_reprs_hide_keys():
    text = """
    [auth]
    tokens = ["${TOKEN}"]
    [providers.o]
    type = "openai"
    api_key = "${OPENAI_API_KEY}"
    """
    env = {"TOKEN": "client-token-zzz-999", "OPENAI_API_KEY": KEY}
    config = load_config_text(text, env=env).config
    options = config.providers["o"]
    auth = config.features["auth"]  # the default token authenticator's table
    for text_ in (repr(config), str(config), repr(options), str(options), repr(auth)):
        assert KEY not in text_
        assert "client-token-zzz-999" not in text_
    assert "api_key=Secret('***')" in repr(options)
    assert options.api_key.reveal() == KEY
    assert auth.tokens[0].reveal() == "client-token-zzz-999"


def test_config_error_text_never_contains_secret_values():
    text = """
    [auth]
    tokens = ["${TOKEN}", 5]
    [providers.o]
    type = "openai"
    api_key = "${OPENAI_API_KEY}"
    timeout = "soon"
    api_kye = "${OPENAI_API_KEY}"
    """
    env = {"TOKEN": "client-token-zzz-999", "OPENAI_API_KEY": KEY}
    with pytest.raises(ConfigError) as info:
        load_config_text(text, env=env)
    rendered = str(info.value) + repr(info.value.problems)
    assert len(info.value.problems) == 3
    assert KEY not in rendered
    assert "client-token-zzz-999" not in rendered


@pytest.mark.parametrize("value", ['["sk-secret-in-array-12345"]', '{ k = "sk-secret-in-table-12345" }'])
def test_wrongly_typed_api_key_error_does_not_echo_value(value):
    with pytest.raises(ConfigError) as info:
        load_config_text(f"[providers.o]\ntype = 'openai'\napi_key = {value}\n", env={})
    assert "sk-secret-in" not in str(info.value)
    assert [p.path for p in info.value.problems] == ["providers.o.api_key"]


def test_scrub_removes_exact_secrets():
    assert scrub("token abc123XYZ in text abc123XYZ", ["abc123XYZ"]) == "token *** in text ***"


def test_scrub_ignores_empty_secret_values():
    assert scrub("hello", ["", "zzz"]) == "hello"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Incorrect API key provided: sk-abc12***********wxyz. See docs", "Incorrect API key provided: *** See docs"),
        ("key sk-ant-api03-AAAAbbbbCCCC was refused", "key *** was refused"),
        ("Bearer sk-proj-****************************abcd", "Bearer ***"),
        ("risk-assessment and task-manager stay", "risk-assessment and task-manager stay"),
        ("sk-abc is too short to be a key", "sk-abc is too short to be a key"),
    ],
)
def test_scrub_removes_vendor_key_shaped_strings(text, expected):
    assert scrub(text, []) == expected


def test_unset_key_variable_makes_provider_unconfigured_naming_the_variable(build):
    text = '[providers.o]\ntype = "openai"\napi_key = "${OPENAI_API_KEY}"\n'
    assembly = build(text, env={})
    assert assembly.config.providers["o"].api_key.missing == ("OPENAI_API_KEY",)
    provider = assembly.providers["o"]
    assert provider.unconfigured_reason == "OPENAI_API_KEY is not set"
    assert provider.configured is False
    assert provider.describe()["reason"] == "OPENAI_API_KEY is not set"


def test_unconfigured_provider_refuses_requests_with_503_naming_the_variable(build):
    text = '[providers.o]\ntype = "openai"\napi_key = "${OPENAI_API_KEY}"\n'
    provider = build(text, env={}).providers["o"]
    request = GatewayRequest(Endpoint.CHAT, {"model": "o/x"}, b"{}", "o/x", False, ())
    with pytest.raises(ProviderNotConfigured) as info:
        provider.check_request(request)
    assert info.value.status == 503
    assert info.value.message == "provider 'o' is not configured: OPENAI_API_KEY is not set"


def test_provider_with_key_set_is_configured_and_describe_hides_key(build):
    text = '[providers.o]\ntype = "openai"\napi_key = "${OPENAI_API_KEY}"\n'
    provider = build(text, env={"OPENAI_API_KEY": KEY}).providers["o"]
    assert provider.unconfigured_reason is None
    assert KEY not in repr(provider.describe())
    assert provider.secrets() == (KEY,)
