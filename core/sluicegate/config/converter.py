"""A strict cattrs converter and the translation of its errors into TOML-path problems."""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterable
from typing import Any, get_args, get_origin

import attrs
import cattrs
from cattrs.cols import is_mapping, is_mutable_sequence, list_structure_factory, mapping_structure_factory
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)

from sluicegate.errors import ConfigProblem
from sluicegate.secrets import Secret, config_secrets, scrub

_TYPE_NAMES = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "an array",
    dict: "a table",
}


def describe_type(value: Any) -> str:
    for kind, name in _TYPE_NAMES.items():
        if type(value) is kind or (kind is str and isinstance(value, str)):
            return name
    return type(value).__name__


class StrictTypeError(TypeError):
    """A scalar of the wrong TOML type; the message never includes the value itself."""


def _expect(kind_name: str, value: Any) -> StrictTypeError:
    return StrictTypeError(f"expected {kind_name}, got {describe_type(value)}")


def _structure_int(value: Any, _: type) -> int:
    if type(value) is not int:
        raise _expect("an integer", value)
    return value


def _structure_float(value: Any, _: type) -> float:
    if type(value) not in (int, float):
        raise _expect("a number", value)
    return float(value)


def _structure_str(value: Any, _: type) -> str:
    if not isinstance(value, str):
        raise _expect("a string", value)
    return value


def _structure_bool(value: Any, _: type) -> bool:
    if type(value) is not bool:
        raise _expect("a boolean (true or false)", value)
    return value


def _structure_secret(value: Any, _: type) -> Secret:
    if not isinstance(value, str):
        raise _expect("a string", value)
    return Secret(str(value), getattr(value, "missing", ()))


def make_converter() -> cattrs.Converter:
    """A converter that forbids unknown keys and never coerces between TOML types."""
    converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(float, _structure_float)
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(bool, _structure_bool)
    converter.register_structure_hook(Secret, _structure_secret)

    def strict_list(type_: Any, conv: cattrs.Converter) -> Any:
        inner = list_structure_factory(type_, conv)

        def structure(value: Any, t: Any) -> Any:
            if not isinstance(value, list):
                raise _expect("an array", value)
            return inner(value, t)

        return structure

    def strict_mapping(type_: Any, conv: cattrs.Converter) -> Any:
        inner = mapping_structure_factory(type_, conv)

        def structure(value: Any, t: Any) -> Any:
            if not isinstance(value, dict):
                raise _expect("a table", value)
            return inner(value, t)

        return structure

    converter.register_structure_hook_factory(is_mutable_sequence, strict_list)
    converter.register_structure_hook_factory(is_mapping, strict_mapping)
    return converter


def suggest(word: str, candidates: Iterable[str]) -> str:
    """' (did you mean "x"?)' when a candidate is close to ``word``, else ''."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f' (did you mean "{matches[0]}"?)' if matches else ""


def join_path(prefix: str, part: str | int) -> str:
    if isinstance(part, int):
        return f"{prefix}[{part}]"
    if not prefix:
        return part
    return f"{prefix}.{part}"


def problems_from(exc: BaseException, path: str, cls: type | None = None) -> list[ConfigProblem]:
    """Flatten a cattrs structuring error into problems, each with the TOML path it concerns."""
    if isinstance(exc, (ClassValidationError, IterableValidationError)):
        found: list[ConfigProblem] = []
        with_notes, without = exc.group_exceptions()
        for sub, note in with_notes:
            if isinstance(note, AttributeValidationNote):
                if isinstance(sub, KeyError):  # a required key is absent; the note names it
                    found.append(ConfigProblem(join_path(path, note.name), "is required"))
                    continue
                sub_cls = _attrs_class_of(note.type)
                found.extend(problems_from(sub, join_path(path, note.name), sub_cls))
            elif isinstance(note, IterableValidationNote):
                found.extend(problems_from(sub, join_path(path, note.index)))
            else:
                found.extend(problems_from(sub, path))
        for sub in without:
            found.extend(problems_from(sub, path, getattr(exc, "cl", cls)))
        return found
    if isinstance(exc, ForbiddenExtraKeysError):
        known = [a.name for a in attrs.fields(exc.cl)] if attrs.has(exc.cl) else []
        return [
            ConfigProblem(join_path(path, key), "unknown key" + suggest(key, known))
            for key in sorted(exc.extra_fields)
        ]
    if isinstance(exc, KeyError):
        return [ConfigProblem(join_path(path, str(exc.args[0])), "is required")]
    if isinstance(exc, (StrictTypeError, ValueError)):
        return [ConfigProblem(path, str(exc))]
    if isinstance(exc, TypeError):
        # Unexpected shapes (e.g. a table where a scalar belongs); cattrs' message may quote the
        # value, so describe it ourselves.
        return [ConfigProblem(path, "has the wrong type")]
    return [ConfigProblem(path, str(exc) or exc.__class__.__name__)]


def _attrs_class_of(type_: Any) -> type | None:
    if attrs.has(type_):
        return type_
    for arg in get_args(type_) if get_origin(type_) else ():
        if attrs.has(arg):
            return arg
    return None


def validator_problems(
    value: dict[str, Any], cls: type, path: str, converter: cattrs.Converter | None = None
) -> list[ConfigProblem]:
    """Run field validators on the well-typed keys of a table whose structuring failed.

    attrs validators only run once a class can be built, so without this a wrong type in one
    key would hide a bad value in another; the contract is every problem at once.

    Each key is structured on its own first and its validator sees that result, exactly what
    ``__init__`` would pass: never the raw TOML value (an integer where a URL belongs would crash
    a validator expecting a ``str``; a key that should become a ``Secret`` would reach it bare
    and could be quoted). A key that does not structure is skipped: cattrs reported it already.
    """
    found: list[ConfigProblem] = []
    if not attrs.has(cls):
        return found
    with contextlib.suppress(NameError, TypeError):  # string annotations; cattrs resolved them
        attrs.resolve_types(cls)
    converter = converter or make_converter()
    for attribute in attrs.fields(cls):
        if attribute.validator is None or attribute.name not in value or attribute.type is None:
            continue
        if isinstance(attribute.type, str):
            continue  # unresolvable annotation: cattrs could not structure it either
        raw = value[attribute.name]
        try:
            item = converter.structure(raw, attribute.type)
        except Exception:  # a wrong type: cattrs reported it already, with its path
            continue
        if type(raw) is int and type(item) is float:
            # An int is a valid float (PEP 484); keeping it makes "got 0" quote the file, not "0.0".
            item = raw
        try:
            attribute.validator(None, attribute, item)
        except (ValueError, TypeError) as exc:
            # A validator may quote its value; a URL's password or a key never reaches the list.
            message = scrub(str(exc), config_secrets([raw, item]))
            # An array's or table's validator names its key in its message and is reported at the
            # table, as when it runs in __init__ (cattrs gives that error no key).
            where = path if isinstance(raw, (dict, list)) else join_path(path, attribute.name)
            found.append(ConfigProblem(where, message))
        except Exception:
            # A validator reading other fields (there is no instance here) cannot run alone;
            # cattrs' own run of it in __init__, once the types are right, reports it.
            continue
    return found
