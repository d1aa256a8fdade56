"""The field-check kit every reader uses: typed checks that raise ValueError with what was
expected, and a getter that turns them into one-line InputErrors naming file, record and
field. Readers of released formats (`unmirage.data.formats`) build on it as `loaders` does."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from unmirage.checks import is_int
from unmirage.errors import InputError

MAX_TEXT_CHARS = 1_000_000
"""Longest query or response read (no VLM's context holds more; a bigger string is a broken
or hostile file, which would otherwise stall tokenising and training)."""

Ref = int | str
"""How an error names a record: its index, with its id and line where known."""

Check = Callable[[Any], Any]
"""Returns the validated value or raises ValueError with what was expected."""


def type_name(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    return names.get(type(value), "null" if value is None else "a number")


def plain_str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {type_name(value)}")
    if len(value) > MAX_TEXT_CHARS:
        raise ValueError(f"{len(value)} characters, over the cap of {MAX_TEXT_CHARS}")
    return value


def nonempty_str(value: Any) -> str:
    if not plain_str(value).strip():
        raise ValueError("expected a non-empty string")
    return value


def opt_str(value: Any) -> str | None:
    return None if value is None else plain_str(value)


def record_id(value: Any) -> str | int:
    if is_int(value):
        return value
    return nonempty_str(value)


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {type_name(value)}")
    return value


def nonempty_list(value: Any) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"expected a non-empty list, got {type_name(value)}")
    return value


def mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"expected an object, got {type_name(value)}")
    return value


def one_of(allowed: tuple[str, ...]) -> Check:
    def check(value: Any) -> str | None:
        if value is not None and value not in allowed:
            raise ValueError(f"unknown value {value!r}; allowed: {', '.join(allowed)} or null")
        return value

    return check


def getter(
    obj: Mapping[str, Any], file: str | None, record: Ref | None, prefix: str = ""
) -> Callable[..., Any]:
    """A field reader for one object: missing required fields and bad values name the field."""

    def get(key: str, check: Check, *, optional: bool = False) -> Any:
        if key not in obj:
            if optional:
                return None
            where = join_field(prefix, key)
            raise InputError("missing field", file=file, record=record, field=where)
        try:
            return check(obj.get(key))
        except ValueError as err:
            where = join_field(prefix, key)
            raise InputError(str(err), file=file, record=record, field=where) from None

    return get


def as_object(value: Any, file: str, record: Ref, field: str | None = None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(
            f"expected a JSON object, got {type_name(value)}", file=file, record=record, field=field
        )
    return value


def record_ref(index: int, rec: Any) -> Ref:
    ident = rec.get("id") if isinstance(rec, dict) else None
    return f"{index} (id {ident})" if isinstance(ident, str | int) and ident != "" else index


def join_field(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key
