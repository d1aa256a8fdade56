"""What the command line says of each training method, read from the method files' source.

`unmirage align --help` lists the methods, their one-line summaries and default run lengths.
Importing the methods would import torch (seconds), so this reads the same facts from each
file's syntax tree instead: the `@register("name")` decorator and the class's `summary` and
`run_length` literals. A new method file shows up here with nothing else to edit.
"""

from __future__ import annotations

import ast
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class MethodEntry:
    name: str
    summary: str
    run_length: dict[str, Any]


def method_catalog() -> list[MethodEntry]:
    """Every registered method of `unmirage/methods/`, in file order, without importing it."""
    spec = importlib.util.find_spec("unmirage.methods")
    assert spec is not None and spec.submodule_search_locations is not None
    folder = Path(next(iter(spec.submodule_search_locations)))
    found: list[MethodEntry] = []
    for path in sorted(folder.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and (name := _registered_name(node)):
                literals = _class_literals(node)
                found.append(
                    MethodEntry(name, literals.get("summary", ""), literals.get("run_length", {}))
                )
    return found


def _registered_name(node: ast.ClassDef) -> str | None:
    for decorator in node.decorator_list:
        if (
            isinstance(decorator, ast.Call)
            and getattr(decorator.func, "id", None) == "register"
            and decorator.args
            and isinstance(decorator.args[0], ast.Constant)
        ):
            return str(decorator.args[0].value)
    return None


def _class_literals(node: ast.ClassDef) -> dict[str, Any]:
    """Class-level `name: T = <literal>` assignments of the class body."""
    out: dict[str, Any] = {}
    for item in node.body:
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) and item.value:
            try:
                out[item.target.id] = ast.literal_eval(item.value)
            except ValueError:
                continue
    return out
