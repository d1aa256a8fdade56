"""One error type for bad user input: the CLI turns it into exit status 2 and one line."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class InputError(Exception):
    """Bad input named precisely: which file, which record (index or id), which field."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        record: int | str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.record = record
        self.field = field

    def __str__(self) -> str:
        parts = []
        if self.file is not None:
            parts.append(str(self.file))
        if self.record is not None:
            parts.append(f"record {self.record}")
        if self.field is not None:
            parts.append(f"field '{self.field}'")
        where = ": ".join(parts)
        return f"{where}: {self.message}" if where else self.message


@contextlib.contextmanager
def naming_file(file: str) -> Iterator[None]:
    """Errors about the records of `file`, raised where the file is not known, get its name."""
    try:
        yield
    except InputError as err:
        if err.file is None:
            err.file = file
        raise
