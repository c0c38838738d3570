"""Admin edits of gateway.toml: the table changes, every other comment and line stays as written."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from sluicegate_admin.toml_edit import EditError, add_entry, delete_entry, patch_entry, replace_entry

CONFIG = '''\
# Top comment: stays.

[server]
port = 8899

# The offline provider.
[providers.mock]
type = "mock"
reply = "hi"   # fixed answer

# OpenAI: its key comes from the environment.
[providers.openai]
type = "openai"
# the base URL may be left out
base_url = "https://api.openai.com/v1"
api_key = "${OPENAI_API_KEY}"   # never a literal
models = [
  "gpt-4o-mini",   # cheap
  "gpt-4o",
]

# DeepSeek speaks the OpenAI API.
[providers.deepseek]
type = "openai"
base_url = "https://api.deepseek.com/v1"
api_key = "${DEEPSEEK_API_KEY}"

# A commented-out provider, kept for later:
# [providers.local]
# type = "openai"

# --- aliases ---

[models.echo]
targets = ["mock/echo-1"]   # the mock answers

[models.chat]
targets = ["openai/gpt-4o-mini", "deepseek/deepseek-chat"]

# [retry]
# attempts = 3
'''


def lines_without(text: str, removed: str) -> str:
    assert removed in text
    return text.replace(removed, "", 1)


def test_delete_takes_the_comment_above_and_leaves_the_neighbours_alone():
    edited = delete_entry(CONFIG, "providers", "openai")
    removed = '''# OpenAI: its key comes from the environment.
[providers.openai]
type = "openai"
# the base URL may be left out
base_url = "https://api.openai.com/v1"
api_key = "${OPENAI_API_KEY}"   # never a literal
models = [
  "gpt-4o-mini",   # cheap
  "gpt-4o",
]

'''
    assert edited == lines_without(CONFIG, removed)


def test_delete_of_the_last_provider_keeps_the_commented_block_after_it():
    edited = delete_entry(CONFIG, "providers", "deepseek")
    removed = '''# DeepSeek speaks the OpenAI API.
[providers.deepseek]
type = "openai"
base_url = "https://api.deepseek.com/v1"
api_key = "${DEEPSEEK_API_KEY}"

'''
    assert edited == lines_without(CONFIG, removed)
    assert "# A commented-out provider, kept for later:\n# [providers.local]" in edited


def test_add_goes_after_the_last_provider_and_before_trailing_comments():
    edited = add_entry(CONFIG, "providers", "vendor", {"type": "openai", "api_key": "${VENDOR_KEY}"})
    block = '[providers.vendor]\ntype = "openai"\napi_key = "${VENDOR_KEY}"\n\n'
    at = CONFIG.index("# A commented-out provider")
    assert edited == CONFIG[:at] + block + CONFIG[at:]


def test_add_then_delete_gives_back_the_original_text():
    for section, name, values in [
        ("providers", "vendor", {"type": "mock", "models": ["a", "b"], "headers": {"X-Team": "ops"}}),
        ("models", "gpt-4.1", {"targets": ["openai/gpt-4.1"], "strategy": "ordered"}),
    ]:
        added = add_entry(CONFIG, section, name, values)
        assert tomllib.loads(added)[section][name] == values
        assert delete_entry(added, section, name) == CONFIG
    # The same when the new table is the last thing in the file.
    short = CONFIG[: CONFIG.index("\n# [retry]")]
    added = add_entry(short, "models", "last", {"targets": ["mock/x"]})
    assert added.endswith('deepseek/deepseek-chat"]\n\n[models.last]\ntargets = ["mock/x"]\n')
    assert delete_entry(added, "models", "last") == short


def test_alias_names_with_dots_are_quoted_and_go_after_the_last_alias():
    edited = add_entry(CONFIG, "models", "gpt-4.1", {"targets": ["openai/gpt-4.1"]})
    block = '\n[models."gpt-4.1"]\ntargets = ["openai/gpt-4.1"]\n'
    at = CONFIG.index('deepseek/deepseek-chat"]\n') + len('deepseek/deepseek-chat"]\n')
    assert edited == CONFIG[:at] + block + CONFIG[at:]


def test_patch_changes_given_keys_in_place_and_keeps_comments():
    edited = patch_entry(CONFIG, "providers", "openai", {"base_url": "https://proxy.example/v1", "timeout": 30})
    expected = CONFIG.replace(
        'base_url = "https://api.openai.com/v1"', 'base_url = "https://proxy.example/v1"'
    ).replace('  "gpt-4o",\n]\n', '  "gpt-4o",\n]\ntimeout = 30\n')
    assert edited == expected


def test_patch_with_none_removes_only_that_key():
    edited = patch_entry(CONFIG, "providers", "openai", {"base_url": None})
    assert edited == CONFIG.replace('base_url = "https://api.openai.com/v1"\n', "", 1)


def test_replace_drops_keys_not_given_and_keeps_the_rest_formatted():
    values = {"type": "openai", "api_key": "${OPENAI_API_KEY}", "models": ["gpt-4o-mini", "gpt-4o"]}
    edited = replace_entry(CONFIG, "providers", "openai", values)
    # base_url is gone; the comment above it, the key's comment and the multi-line list stay.
    assert edited == CONFIG.replace('base_url = "https://api.openai.com/v1"\n', "", 1)
    assert tomllib.loads(edited)["providers"]["openai"] == values


def test_env_references_are_written_verbatim():
    edited = add_entry(CONFIG, "providers", "x", {"type": "openai", "api_key": "${X_KEY}"})
    assert 'api_key = "${X_KEY}"' in edited


def test_tables_written_inline_are_still_edited_correctly():
    text = '# inline style\n[providers]\nmock = { type = "mock" }   # inline\nother = { type = "mock" }\n'
    deleted = delete_entry(text, "providers", "other")
    assert tomllib.loads(deleted) == {"providers": {"mock": {"type": "mock"}}}
    assert "# inline style" in deleted and "# inline" in deleted
    added = add_entry(text, "providers", "third", {"type": "mock"})
    assert tomllib.loads(added)["providers"]["third"] == {"type": "mock"}


def test_header_like_lines_inside_strings_and_arrays_are_not_headers():
    text = '''[providers.mock]
type = "mock"
reply = """
[providers.fake]
"""
nested = [
["a"]
]

[providers.other]
type = "mock"
'''
    edited = delete_entry(text, "providers", "other")
    assert tomllib.loads(edited) == {"providers": {"mock": {"type": "mock", "reply": "[providers.fake]\n",
                                                             "nested": [["a"]]}}}
    edited = delete_entry(text, "providers", "mock")
    assert edited == '[providers.other]\ntype = "mock"\n'
    edited = patch_entry(text, "providers", "mock", {"reply": "new"})
    assert edited == text.replace('"""\n[providers.fake]\n"""', '"new"')


def test_sub_tables_go_with_their_table():
    text = '[providers.a]\ntype = "mock"\n\n[providers.a.headers]\nX-One = "1"\n\n[providers.b]\ntype = "mock"\n'
    assert delete_entry(text, "providers", "a") == '[providers.b]\ntype = "mock"\n'


def test_first_table_in_an_empty_section_is_appended():
    edited = add_entry("# only a comment\n[server]\nport = 1\n", "models", "chat", {"targets": ["a/b"]})
    assert edited == '# only a comment\n[server]\nport = 1\n\n[models.chat]\ntargets = ["a/b"]\n'


@pytest.mark.parametrize(
    ("call", "status"),
    [
        (lambda: add_entry(CONFIG, "providers", "mock", {"type": "mock"}), 409),
        (lambda: delete_entry(CONFIG, "providers", "nope"), 404),
        (lambda: patch_entry(CONFIG, "models", "nope", {"targets": []}), 404),
        (lambda: replace_entry(CONFIG, "models", "nope", {"targets": []}), 404),
        (lambda: delete_entry("[providers\n", "providers", "x"), 400),
    ],
)
def test_impossible_edits_say_why(call, status):
    with pytest.raises(EditError) as caught:
        call()
    assert caught.value.status == status


def test_every_shipped_provider_can_be_deleted_leaving_the_other_comments():
    shipped = (Path(__file__).resolve().parents[3] / "gateway.toml").read_text()
    providers = tomllib.loads(shipped)["providers"]
    assert providers, "the shipped config has providers"
    for name in providers:
        edited = delete_entry(shipped, "providers", name)
        assert name not in tomllib.loads(edited)["providers"]
        # Only the provider's own lines (and the comment directly above it) went away.
        kept = edited.splitlines()
        original = shipped.splitlines()
        gone = [line for line in original if line not in kept]
        header = original.index(f"[providers.{name}]")
        after = [i for i, line in enumerate(original) if line.startswith("[") and i > header]
        end = after[0] if after else len(original)
        assert all(header - 2 <= original.index(line) < end for line in gone if line.startswith("#")), gone
