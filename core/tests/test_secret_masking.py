"""URL masking, scrubbing secrets in part, and the gateway-wide list of secrets (issue 11, defect 4)."""

from __future__ import annotations

import pytest

from sluicegate.config.loader import load_config_text
from sluicegate.secrets import Scrubber, Secret, config_secrets, mask_url, mask_urls, scrub, url_credentials

KEY = "gsk_Q7vR2mXp9LkT4wZs8NcB1yHd6FjU3eGa"


@pytest.mark.parametrize(("url", "masked"), [
    ("https://user:hunter2pass@host/v1", "https://user:***@host/v1"),
    ("https://user:p@ss@word@host:8443/v1", "https://user:***@host:8443/v1"),
    ("redis://:REDISPASS@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
    ("rediss://default:pw@redis.example:bad/1", "rediss://default:***@redis.example:bad/1"),
    ("https://ghp_tokenasuser@git.example/x", "https://***@git.example/x"),
    ("https://host/v1beta?key=AIzaSyA-0123&alt=sse", "https://host/v1beta?key=***&alt=sse"),
    ("https://h/p?API_KEY=a&apiKey=b&access_token=c&sig=d&X-Amz-Signature=e&Password=f",
     "https://h/p?API_KEY=***&apiKey=***&access_token=***&sig=***&X-Amz-Signature=***&Password=***"),
    ("https://h/p?api-version=2024-10-21&keyword=x&model=m#frag",
     "https://h/p?api-version=2024-10-21&keyword=x&model=m#frag"),
    ("https://api.openai.com/v1", "https://api.openai.com/v1"),
    ("http://127.0.0.1:9/v1?token=", "http://127.0.0.1:9/v1?token="),
])
def test_mask_url_keeps_the_user_and_hides_passwords_and_credential_parameters(url, masked):
    assert mask_url(url) == masked


def test_mask_urls_masks_every_url_inside_text():
    text = 'GET "https://u:pw123456@h/x?key=k1" failed; see https://docs.example/errors?code=401.'
    assert mask_urls(text) == 'GET "https://u:***@h/x?key=***" failed; see https://docs.example/errors?code=401.'


def test_url_credentials_lists_password_user_token_and_credential_values():
    assert url_credentials("https://u:pw@h/?key=k&x=1&token=t") == ["pw", "k", "t"]
    assert url_credentials("https://tok@h/") == ["tok"]
    assert url_credentials("https://h/v1") == []


@pytest.mark.parametrize("echo", [
    "Incorrect API key provided: gsk_Q7vR****************3eGa.",  # vendor masking, 8 chars shown
    f"key {KEY[6:22]} is not valid",  # 16 characters from the middle
    f"key {KEY[3:23]} is not valid",  # 20
    f"key {KEY[20:28]} is not valid",  # exactly 8
    f"twice: {KEY[:10]} and {KEY[-9:]}",
    f"whole: {KEY}",
])
def test_scrub_removes_any_eight_character_run_of_a_secret(echo):
    cleaned = scrub(echo, [KEY])
    assert "***" in cleaned
    assert not any(KEY[i:i + 8] in cleaned for i in range(len(KEY) - 7))


def test_scrub_widens_to_the_whole_word_and_keeps_the_text_around_it():
    assert scrub("Incorrect API key provided: gsk_Q7vR****************3eGa. You can find your key at "
                 "https://console.example/keys.", [KEY]) == (
        "Incorrect API key provided: ***. You can find your key at https://console.example/keys.")
    assert scrub(f"a {KEY[2:9]} b", [KEY]) == f"a {KEY[2:9]} b"  # 7 characters are not a leak


def test_scrub_keeps_the_vendor_key_shape_rule_and_removes_short_secrets_whole():
    assert scrub("bad key sk-abc12***wxyz here", []) == "bad key *** here"
    assert scrub("short abc123 stays only if not configured", ["abc123"]) == "short *** stays only if not configured"


def test_a_url_secret_hides_its_password_not_its_host():
    url = "redis://default:REDISPASS-c4ca4238a0b9@127.0.0.1:6379/0"
    text = "Error connecting to redis://127.0.0.1:6379/0 (auth REDISPASS-c4ca as default); url " + url
    assert scrub(text, [url]) == "Error connecting to redis://127.0.0.1:6379/0 (auth *** as default); url ***"


def test_scrubber_on_text_without_secrets_is_unchanged():
    text = "The server had an error while processing your request. " * 200
    assert Scrubber([KEY, "redis://:pw@h/0"])(text) == text


def test_config_secrets_holds_every_configured_secret():
    text = """
    [auth]
    tokens = ["${CLIENT}", "short"]
    [auth.clients]
    team = "${NAMED}"
    [admin]
    token = "${ADMIN}"
    [providers.a]
    type = "openai"
    api_key = "${KEY}"
    headers = { "X-Flag" = "on", "X-Org-Key" = "org-key-0123456789" }
    [providers.p]
    type = "openai"
    base_url = "https://team:proxy-pass-0123@proxy.example/v1?api_key=query-key-0123"
    [cache]
    backend = "redis"
    url = "redis://:${REDIS}@127.0.0.1:6379/0"
    [ratelimit]
    backend = "redis"
    requests_per_minute = 10
    url = "redis://default:limiter-pass-0123@127.0.0.1:6379/1"
    """
    env = {"CLIENT": "client-token-0123", "NAMED": "named-token-0123", "ADMIN": "admin-token-0123",
           "KEY": KEY, "REDIS": "cache-pass-0123"}
    config = load_config_text(text, env=env).config
    found = set(config_secrets(config))
    assert {"client-token-0123", "named-token-0123", "admin-token-0123", KEY, "org-key-0123456789",
            "proxy-pass-0123", "query-key-0123", "redis://:cache-pass-0123@127.0.0.1:6379/0",
            "redis://default:limiter-pass-0123@127.0.0.1:6379/1"} <= found
    # Too short to scrub in part without mangling text; a URL's host is no secret.
    assert "short" not in found and "on" not in found
    assert not any("proxy.example" in value for value in found)
    # And what scrubs a vendor's messages uses them all: a piece of each is removed.
    cleaned = scrub("cache-pass-01 limiter-pass-0 admin-token-0 proxy-pass-0", config_secrets(config))
    assert cleaned == "*** *** *** ***"


def test_every_provider_scrubs_with_every_secret_of_the_config(build):
    text = """
    [auth]
    tokens = ["client-token-0123"]
    [providers.a]
    type = "openai"
    api_key = "key-of-a-0123456789"
    [providers.b]
    type = "openai"
    api_key = "key-of-b-0123456789"
    """
    providers = build(text, env={}).providers
    assert providers["a"].secrets() == providers["b"].secrets() == (
        "client-token-0123", "key-of-a-0123456789", "key-of-b-0123456789")
    assert providers["a"].clean("b's key-of-b-0123 and a token client-tok") == "b's *** and a token ***"


def test_secret_values_never_print_from_config_secrets_input():
    assert config_secrets([Secret(""), Secret(KEY), {"x": [Secret(KEY)]}]) == (KEY,)
