"""A name -> implementation table with a decorator to fill it, for methods and judges.

A plug-in registers itself where it is defined (`@METHODS.register("npo")`); the command line
looks names up with `get`, so an unknown name fails as user input naming the choices.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from unmirage.errors import InputError

T = TypeVar("T")


class Registry(dict[str, T]):
    """A dict of named implementations of one kind ("method", "judge")."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator adding the decorated class or factory under `name`."""

        def add(entry: T) -> T:
            self[name] = entry
            return entry

        return add

    def get_entry(self, name: str, *, field: str | None = None) -> T:
        """The entry named `name`, or an InputError listing the choices."""
        if name not in self:
            raise InputError(
                f"unknown {self.kind} '{name}' (choose from {', '.join(sorted(self))})",
                field=field or self.kind,
            )
        return self[name]
