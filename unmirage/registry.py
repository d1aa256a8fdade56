"""Named implementations of one kind (methods, judges, harm judges, readers, probes).

One idiom for all of them: the built-in ones are a plain table, name -> the module that
defines and registers it, so the names can be listed (`--help`, argument choices) without
importing anything; a module is imported the first time one of its names is asked for. The
module registers its implementation where it is defined, with the registry's decorator, and
a plug-in outside the table registers the same way. An unknown name fails as user input that
lists the choices.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar

from unmirage.errors import InputError

T = TypeVar("T")


class Registry(Generic[T]):
    """The implementations of one kind ("method", "judge", ...), built-in ones loaded lazily."""

    def __init__(self, kind: str, builtins: Mapping[str, str]) -> None:
        self.kind = kind
        self.builtins = dict(builtins)
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator adding the decorated class or factory under `name`."""

        def add(entry: T) -> T:
            self._entries[name] = entry
            return entry

        return add

    def names(self) -> tuple[str, ...]:
        """Every name: the built-in table's, in its order, then registered plug-ins'."""
        return (*self.builtins, *(n for n in self._entries if n not in self.builtins))

    def __contains__(self, name: object) -> bool:
        return name in self.builtins or name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def get_entry(self, name: str, *, field: str | None = None) -> T:
        """The entry named `name` (its module imported if needed), or an InputError listing
        the choices."""
        if name not in self._entries and name in self.builtins:
            importlib.import_module(self.builtins[name])
        if name not in self._entries:
            raise InputError(
                f"unknown {self.kind} '{name}' (choose from {', '.join(sorted(self.names()))})",
                field=field or self.kind,
            )
        return self._entries[name]

    def __getitem__(self, name: str) -> T:
        return self.get_entry(name)

    def entries(self) -> dict[str, T]:
        """Every entry, each built-in module imported."""
        return {name: self.get_entry(name) for name in self.names()}
