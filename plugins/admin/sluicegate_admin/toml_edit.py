"""Edit one ``[providers.<id>]`` or ``[models.<alias>]`` table of gateway.toml, keeping the rest as written.

tomlkit keeps comments and layout, but it files the comment lines above a table header under the
table before it, so deleting a table with tomlkit alone takes its neighbour's comments and leaves
its own behind. The edits here therefore work on whole "blocks" (the comment lines directly above
a header, the header, its keys) and use tomlkit only inside one block and to render new tables.
Every edit is checked against the same change applied to the parsed data; when the layout was
not understood (tables written inline, a block split in two) the whole document is edited with
tomlkit instead, which is always correct if less tidy.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import Table

ADD, REPLACE, PATCH, DELETE = "add", "replace", "patch", "delete"

_KIND = {"providers": "provider", "models": "model alias"}


class EditError(Exception):
    """The edit cannot be made: ``status`` 404 (no such entry), 409 (exists), 400 (file unreadable)."""

    def __init__(self, message: str, status: int = 400, code: str = "invalid_request") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


def add_entry(text: str, section: str, name: str, values: Mapping[str, Any]) -> str:
    return edit_entry(text, section, name, ADD, values)


def replace_entry(text: str, section: str, name: str, values: Mapping[str, Any]) -> str:
    return edit_entry(text, section, name, REPLACE, values)


def patch_entry(text: str, section: str, name: str, changes: Mapping[str, Any]) -> str:
    """Set the given keys; a ``None`` value removes that key."""
    return edit_entry(text, section, name, PATCH, changes)


def delete_entry(text: str, section: str, name: str) -> str:
    return edit_entry(text, section, name, DELETE, {})


def edit_entry(text: str, section: str, name: str, op: str, values: Mapping[str, Any]) -> str:
    expected = _apply(_parse(text), section, name, op, values)
    edited = _edit_blocks(text, section, name, op, values)
    if edited is not None and _parses_to(edited, expected):
        return edited
    edited = _edit_document(text, section, name, op, values)
    if _parse(edited) != expected:  # pragma: no cover - a tomlkit bug; refuse rather than corrupt
        raise EditError("the config file could not be edited safely; edit it by hand", status=500,
                        code="edit_failed")
    return edited


def _parse(text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise EditError(f"the config file is not valid TOML: {exc}", code="config_invalid") from None


def _parses_to(text: str, expected: dict[str, Any]) -> bool:
    try:
        return tomllib.loads(text) == expected
    except tomllib.TOMLDecodeError:
        return False


def _apply(data: dict[str, Any], section: str, name: str, op: str, values: Mapping[str, Any]) -> dict:
    """The change on plain data: what the edited file must parse to."""
    table = data.setdefault(section, {})
    kind = _KIND.get(section, section)
    if not isinstance(table, dict):
        raise EditError(f"[{section}] in the config file is not a table", code="config_invalid")
    if op == ADD:
        if name in table:
            raise EditError(f"{kind} {name!r} already exists", status=409, code="already_exists")
        table[name] = dict(values)
        return data
    entry = table.get(name)
    if entry is None:
        raise EditError(f"no {kind} named {name!r} in the config file", status=404, code="not_found")
    if not isinstance(entry, dict):
        raise EditError(f"{section}.{name} in the config file is not a table", code="config_invalid")
    if op == DELETE:
        del table[name]
    elif op == REPLACE:
        table[name] = dict(values)
    else:
        for key, value in values.items():
            if value is None:
                entry.pop(key, None)
            else:
                entry[key] = value
    return data


# -- blocks ----------------------------------------------------------------------------------


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _is_blank(line: str) -> bool:
    return not line.strip()


def _header_path(line: str) -> tuple[str, ...] | None:
    """The key path of a ``[a.b]`` / ``[[a.b]]`` header line, or None if it is not one."""
    try:
        node: Any = tomllib.loads(line)
    except tomllib.TOMLDecodeError:
        return None
    path: list[str] = []
    while True:
        if isinstance(node, list) and len(node) == 1:
            node = node[0]
        if not isinstance(node, dict) or len(node) != 1:
            break
        key, node = next(iter(node.items()))
        path.append(key)
    return tuple(path) if path and node in ({}, [{}]) else None


def _headers(lines: list[str]) -> list[tuple[int, tuple[str, ...]]]:
    """(line index, key path) of every real table header.

    A line like ``["a"]`` may also be the element of a multi-line array, and any line may sit
    inside a multi-line string; a header is only real if the text since the previous real
    header parses on its own (it would end inside the string or array otherwise).
    """
    found: list[tuple[int, tuple[str, ...]]] = []
    since = 0
    for index, line in enumerate(lines):
        if not line.lstrip().startswith("["):
            continue
        path = _header_path(line)
        if path is None:
            continue
        try:
            tomllib.loads("".join(lines[since:index]))
        except tomllib.TOMLDecodeError:
            continue
        found.append((index, path))
        since = index
    return found


def _lead_start(lines: list[str], header: int, floor: int) -> int:
    """First line of the comment lines directly above ``header`` (no blank line between)."""
    index = header
    while index - 1 > floor and _is_comment(lines[index - 1]):
        index -= 1
    return index


def _body_end(lines: list[str], start: int, end: int) -> int:
    """End of a block's own lines: its last key and the lines attached to it.

    Comment runs after a blank line are left out: they introduce what follows (a commented-out
    table, the next section), so new tables go before them and deletions keep them.
    """
    last = start
    for index in range(start + 1, end):
        if not _is_blank(lines[index]) and not _is_comment(lines[index]):
            last = index
    while last + 1 < end and not _is_blank(lines[last + 1]):
        last += 1
    return last + 1


def _edit_blocks(text: str, section: str, name: str, op: str, values: Mapping[str, Any]) -> str | None:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    headers = _headers(lines)
    mine = [i for i, (_, path) in enumerate(headers) if path[:2] == (section, name)]
    if op == ADD:
        return _insert_block(lines, headers, section, name, values)
    if not mine or mine != list(range(mine[0], mine[-1] + 1)):
        return None  # written inline, or its sub-tables elsewhere: let tomlkit handle it
    floor = headers[mine[0] - 1][0] if mine[0] > 0 else -1
    first = headers[mine[0]][0]
    start = _lead_start(lines, first, floor)
    after = mine[-1] + 1
    end = _lead_start(lines, headers[after][0], headers[mine[-1]][0]) if after < len(headers) else len(lines)
    body_end = _body_end(lines, headers[mine[-1]][0], end)
    if op == DELETE:
        head, rest = lines[:start], lines[body_end:]
        if not head or _is_blank(head[-1]):
            while rest and _is_blank(rest[0]):
                rest.pop(0)
        if not rest:  # the last block: no blank line left dangling at the end of the file
            while head and _is_blank(head[-1]):
                head.pop()
        return "".join(head + rest)
    try:
        fragment = tomlkit.parse("".join(lines[first:body_end]))
        _update(fragment[section][name], values, replace=op == REPLACE)
    except TOMLKitError:
        return None
    return "".join(lines[:first]) + tomlkit.dumps(fragment) + "".join(lines[body_end:])


def _insert_block(lines, headers, section: str, name: str, values: Mapping[str, Any]) -> str | None:
    block = tomlkit.dumps({section: {name: new_table(values)}})
    same = [i for i, (_, path) in enumerate(headers) if path[:1] == (section,)]
    if not same:
        if section in _parse("".join(lines)):
            return None  # the section exists without headers ([providers] inline tables)
        body = "".join(lines).rstrip("\n")
        return (body + "\n\n" if body else "") + block
    last = same[-1]
    after = last + 1
    end = _lead_start(lines, headers[after][0], headers[last][0]) if after < len(headers) else len(lines)
    at = _body_end(lines, headers[last][0], end)
    tail = lines[at:]
    gap = "\n" if tail and not _is_blank(tail[0]) else ""
    return "".join(lines[:at]) + "\n" + block + gap + "".join(tail)


# -- tomlkit values ---------------------------------------------------------------------------


def _item(value: Any) -> Any:
    """A TOML item for a JSON value; tables become inline so an entry stays one block."""
    if isinstance(value, Mapping):
        table = tomlkit.inline_table()
        for key, inner in value.items():
            table[key] = _item(inner)
        return table
    if isinstance(value, list):
        array = tomlkit.array()
        for inner in value:
            array.append(_item(inner))
        return array
    return tomlkit.item(value)


def new_table(values: Mapping[str, Any]) -> Table:
    table = tomlkit.table()
    for key, value in values.items():
        table[key] = _item(value)
    return table


def _unwrap(item: Any) -> Any:
    return item.unwrap() if hasattr(item, "unwrap") else item


def _update(table: Any, values: Mapping[str, Any], *, replace: bool) -> None:
    """Change ``table`` in place; keys left unchanged keep their formatting and comments."""
    if replace:
        for key in [key for key in table if key not in values]:
            del table[key]
    for key, value in values.items():
        if value is None:
            if key in table:
                del table[key]
        elif key not in table or _unwrap(table[key]) != value:
            table[key] = _item(value)


def _edit_document(text: str, section: str, name: str, op: str, values: Mapping[str, Any]) -> str:
    doc = tomlkit.parse(text)
    if section not in doc:
        doc[section] = tomlkit.table(is_super_table=True)
    table = doc[section]
    actions: dict[str, Callable[[], None]] = {
        ADD: lambda: table.__setitem__(name, new_table(values)),
        DELETE: lambda: table.__delitem__(name),
        REPLACE: lambda: _update(table[name], values, replace=True),
        PATCH: lambda: _update(table[name], values, replace=False),
    }
    actions[op]()
    return tomlkit.dumps(doc)
