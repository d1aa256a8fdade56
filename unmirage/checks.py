"""Small checks of user input shared by every stage, and the one YAML reader.

Each raises or returns plainly; the caller names the file, record and field in its
`InputError`, so a bad value always ends in one line that says where it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from unmirage.errors import InputError


def is_int(value: Any) -> bool:
    """An int that is not a bool (YAML and JSON `true` must not pass as 1)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """An int or float that is not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def existing_file(path: str | Path, what: str = "file") -> Path:
    """`path` as a Path if it is an existing file (not a directory), else an InputError."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"cannot read the {what}: not found", file=str(path))
    if path.is_dir():
        raise InputError(f"cannot read the {what}: it is a directory", file=str(path))
    return path


def output_dir(path: str | Path) -> Path:
    """`path` as a Path if it can be an output directory (absent, or a directory)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError("exists and is not a directory", file=str(path), field="--out")
    return path


def output_file(path: str | Path) -> Path:
    """`path` as a Path if it can be an output file (absent, or a file)."""
    path = Path(path)
    if path.is_dir():
        raise InputError("is a directory; give a file path", file=str(path), field="--out")
    return path


def check_version(doc: Any, supported: int, *, file: str, what: str) -> None:
    """Refuse a file written by another unmirage version (its keys may mean other things);
    a hand-written file without "version" is read by its structure alone."""
    if isinstance(doc, dict) and "version" in doc and doc["version"] != supported:
        raise InputError(
            f"{what} of version {doc['version']!r}; this unmirage reads version {supported} "
            "(rerun the command that wrote it)",
            file=file,
            field="version",
        )


def read_yaml(path: str | Path, *, what: str = "config file") -> Any:
    """The parsed YAML document of an existing file (None for an empty one)."""
    path = existing_file(path, what)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read the {what}: {err}", file=str(path)) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InputError(f"not valid YAML{where}", file=str(path)) from None


def read_yaml_mapping(path: str | Path, *, what: str = "config file") -> dict[str, Any]:
    """A YAML file that holds a mapping (an empty file is an empty mapping)."""
    doc = read_yaml(path, what=what)
    doc = {} if doc is None else doc
    if not isinstance(doc, dict):
        raise InputError("expected a mapping of settings", file=str(path))
    return doc
