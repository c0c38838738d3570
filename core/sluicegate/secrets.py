"""Secret strings (vendor keys, client tokens) that never print themselves, and the masking of
secrets out of URLs and free text (vendor error messages, log lines).

The rule: a configured secret is removed whole and in part (any run of ``MIN_PART`` or more of
its characters); URLs keep their user name but lose their password and any query parameter
whose name says it is a credential; strings shaped like vendor keys (``sk-...``) are removed
even when nobody configured them (a vendor may echo another key).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import attrs

# The shortest run of a secret's characters that counts as a leak. Shorter runs are common in
# ordinary words; longer ones let a vendor's "gsk_abcd****wxyz" echo through.
MIN_PART = 8
MASK = "***"

# Vendor-style keys (OpenAI "sk-...", Anthropic "sk-ant-...") a vendor may echo, even partly masked.
_KEY_LIKE = re.compile(r"\b(?:sk|rk|pk)-[A-Za-z0-9_\-*.]{6,}")
# A URL inside free text; it ends where text around it usually starts again.
_URL_IN_TEXT = re.compile(r"\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s\"'<>`]+")
# scheme://userinfo@ at the start of a URL; userinfo may itself hold an unescaped '@'.
_USERINFO = re.compile(r"^(?P<head>(?:[A-Za-z][A-Za-z0-9+.\-]*:)?//)(?P<userinfo>[^/?#]*)@")
# Query parameter names (split at '-', '_', '.') that say their value is a credential.
_CREDENTIAL_WORDS = frozenset({
    "key", "apikey", "token", "secret", "password", "passwd", "pwd", "pass", "sig", "signature",
    "credential", "credentials", "auth", "authorization", "session", "sessionid", "jwt",
})
_CREDENTIAL_SUFFIXES = ("key", "token", "secret", "password", "signature")


class Secret:
    """A string that masks itself in every repr, str and format.

    ``missing`` names the environment variables that were unset when the value was
    interpolated, so the gateway can report "OPENAI_API_KEY is not set" without ever holding
    or showing a real key in its messages.
    """

    __slots__ = ("_value", "missing")

    def __init__(self, value: str, missing: tuple[str, ...] = ()) -> None:
        self._value = value
        self.missing = missing

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self):
        # Pickling would write the value to disk or a pipe; refuse rather than leak.
        raise TypeError("Secret values cannot be pickled")


# -- URLs --------------------------------------------------------------------------------------------


def is_credential_name(name: str) -> bool:
    """Whether a query parameter (or header) name says its value is a credential."""
    lowered = name.lower()
    if lowered.endswith(_CREDENTIAL_SUFFIXES):
        return True
    return any(word in _CREDENTIAL_WORDS for word in re.split(r"[^a-z0-9]+", lowered))


def _query_pairs(query: str) -> Iterator[tuple[str, str, str]]:
    """(name, '=', value) per ``&``-separated field, keeping the text exactly as written."""
    for field in query.split("&"):
        yield field.partition("=")


def mask_url(url: str) -> str:
    """``url`` with its password and credential query values replaced by ``***``.

    ``https://user:pw@host/v1?key=k&alt=json`` -> ``https://user:***@host/v1?key=***&alt=json``.
    A user name alone (``https://TOKEN@host``) is masked too: that form mostly carries a token.
    Works on text without parsing it, so a malformed URL (a bad port) is still masked.
    """
    if not isinstance(url, str):
        return url
    match = _USERINFO.match(url)
    if match is not None:
        user, colon, _password = match["userinfo"].partition(":")
        userinfo = f"{user}:{MASK}" if colon else MASK
        url = match["head"] + userinfo + "@" + url[match.end():]
    head, mark, rest = url.partition("?")
    if not mark:
        return url
    query, hash_mark, fragment = rest.partition("#")
    fields = [
        f"{name}={MASK}" if eq and value and is_credential_name(name) else name + eq + value
        for name, eq, value in _query_pairs(query)
    ]
    return head + "?" + "&".join(fields) + hash_mark + fragment


def mask_urls(text: str) -> str:
    """Every URL inside ``text`` passed through ``mask_url``."""
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(lambda match: mask_url(match.group(0)), text)


def url_credentials(url: str) -> list[str]:
    """The credential values a URL carries: its password (or lone user name) and the values of
    credential-named query parameters."""
    found: list[str] = []
    match = _USERINFO.match(url)
    if match is not None:
        user, colon, password = match["userinfo"].partition(":")
        found.append(password if colon else user)
    _, mark, rest = url.partition("?")
    if mark:
        query = rest.partition("#")[0]
        found += [value for name, eq, value in _query_pairs(query) if eq and is_credential_name(name)]
    return [value for value in found if value]


# -- collecting a config's secrets --------------------------------------------------------------------


def config_secrets(tree: Any) -> tuple[str, ...]:
    """Every secret a config holds: ``Secret`` values (keys, tokens, passwords; URLs whole) and
    the credentials inside plain URL strings (``base_url = "https://u:pw@host"``).

    Walks attrs instances, mappings and sequences, so plugin option classes are covered without
    the core knowing them. Values shorter than ``MIN_PART`` are left out: short header flags
    ("on", "v2") would mangle every text they were scrubbed from.
    """
    found: dict[str, None] = {}
    seen: set[int] = set()

    def add(value: str) -> None:
        if len(value) >= MIN_PART or "://" in value:
            found[value] = None

    def visit(node: Any) -> None:
        if isinstance(node, Secret):
            if node:
                add(node.reveal())
                if "://" in node.reveal():
                    # A backend's error may quote the password alone.
                    for value in url_credentials(node.reveal()):
                        if len(value) >= MIN_PART:
                            found[value] = None
            return
        if isinstance(node, str):
            if "://" in node:
                for value in url_credentials(node):
                    if len(value) >= MIN_PART:
                        found[value] = None
            return
        if id(node) in seen:
            return
        if attrs.has(type(node)):
            seen.add(id(node))
            for attribute in attrs.fields(type(node)):
                visit(getattr(node, attribute.name, None))
        elif isinstance(node, Mapping):
            seen.add(id(node))
            for value in node.values():
                visit(value)
        elif isinstance(node, (list, tuple, set, frozenset)):
            seen.add(id(node))
            for value in node:
                visit(value)

    visit(tree)
    return tuple(sorted(found))


# -- scrubbing text -----------------------------------------------------------------------------------


class Scrubber:
    """Removes a fixed set of secrets from text; built once, used on every error message.

    Each secret is removed whole; each one of ``MIN_PART`` characters or more is also removed
    wherever any ``MIN_PART`` consecutive characters of it appear, the masked run widened to the
    whole word around it (so "gsk_abcd****wxyz" goes entirely). A secret that is a URL is removed
    whole and its credentials in part, not its scheme and host (they are not secret and would
    mask every mention of "redis://127.0.0.1").
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        exact: set[str] = set()
        parts: set[str] = set()
        for value in secrets:
            if not value:
                continue
            exact.add(value)
            if "://" in value:
                parts.update(part for part in url_credentials(value) if len(part) >= MIN_PART)
            elif len(value) >= MIN_PART:
                parts.add(value)
        # Longest first, so a secret containing another is removed whole.
        self._exact = (
            re.compile("|".join(map(re.escape, sorted(exact, key=len, reverse=True)))) if exact else None
        )
        # Every MIN_PART-long piece of every secret: one set lookup per window of the text.
        self._pieces = frozenset(
            value[start:start + MIN_PART] for value in parts for start in range(len(value) - MIN_PART + 1)
        )
        alphabet = frozenset("".join(parts))
        # Only runs of the secrets' own characters can hold a piece: windows are tried there only,
        # so ordinary prose costs a regex scan, not a lookup per character.
        self._runs = (
            re.compile("[" + "".join(re.escape(char) for char in sorted(alphabet)) + f"]{{{MIN_PART},}}")
            if parts else None
        )
        # A masked run widens over these: the secrets' characters and a vendor's own '*' masking.
        self._word = alphabet.union("*").difference(" \t\r\n")

    def __call__(self, text: str) -> str:
        if self._exact is not None:
            text = self._exact.sub(MASK, text)
        if self._runs is not None:
            text = self._mask_pieces(text)
        text = mask_urls(text)
        return _KEY_LIKE.sub(MASK, text)

    def _mask_pieces(self, text: str) -> str:
        spans: list[tuple[int, int]] = []
        pieces, size = self._pieces, MIN_PART
        for run in self._runs.finditer(text):
            start, end = run.span()
            for at in range(start, end - size + 1):
                if text[at:at + size] in pieces:
                    if spans and at <= spans[-1][1]:
                        spans[-1] = (spans[-1][0], at + size)
                    else:
                        spans.append((at, at + size))
        if not spans:
            return text
        out: list[str] = []
        done = 0
        word = self._word
        for start, end in spans:
            if end <= done:  # inside the previous span's widening
                continue
            start = max(start, done)
            while start > done and text[start - 1] in word:
                start -= 1
            while end < len(text) and text[end] in word:
                end += 1
            out.append(text[done:start])
            out.append(MASK)
            done = end
        out.append(text[done:])
        return "".join(out)


@functools.lru_cache(maxsize=32)
def scrubber(secrets: tuple[str, ...]) -> Scrubber:
    """The ``Scrubber`` of a set of secrets, built once per distinct set (one per assembly when its
    components pass the same ``config_secrets``)."""
    return Scrubber(secrets)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret value (whole or any ``MIN_PART``-long run of it), URL credentials and
    anything shaped like a vendor key with ``***``."""
    return scrubber(tuple(secrets))(text)
