"""The reader contract (`Reader`, `Context`, `Peek`), the list of readers and the helpers
they share; the readers themselves are the other modules of this package."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from unmirage.data.fields import Ref
from unmirage.data.sample import Sample
from unmirage.errors import InputError
from unmirage.registry import Registry

Pairs = list[tuple[Ref, Sample]]


@dataclass(frozen=True)
class Context:
    """What a reader needs besides the path: the source label, the image root its samples'
    paths are relative to, and where it may write images (None: it must not)."""

    source: str
    image_root: Path
    cache_dir: Path | None = None


@dataclass
class Peek:
    """A cheap look at a path for `auto`: its kind, a CSV header, the parsed JSON."""

    path: Path
    text: str | None = None

    @cached_property
    def kind(self) -> str:
        if self.path.is_dir():
            return "dir"
        return {".csv": "csv", ".parquet": "parquet"}.get(self.path.suffix.lower(), "json")

    @cached_property
    def header(self) -> list[str]:
        with open(self.path, encoding="utf-8-sig", newline="") as f:
            return next(csv.reader(f), [])

    @cached_property
    def data(self) -> Any:
        """The parsed JSON document, or the first object of JSON lines; None if neither."""
        text = self.text
        if text is None:
            try:
                text = self.path.read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError):
                return None
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            first = next((line for line in text.splitlines() if line.strip()), "")
            try:
                return json.loads(first)
            except json.JSONDecodeError:
                return None

    def first_record(self) -> Any:
        """The first record of a JSON list, or the first value of an object keyed by id."""
        data = self.data
        if isinstance(data, list) and data:
            return data[0]
        if isinstance(data, dict) and data:
            return next(iter(data.values()))
        return None


def _parent(path: Path) -> Path:
    return path.parent


def _never(path: Path) -> bool:
    return False


@dataclass(frozen=True)
class Reader:
    """One benchmark layout. `read` returns (record ref, sample) pairs in file order."""

    name: str
    title: str
    category_kind: str
    read: Callable[[Path, Context], Pairs]
    detect: Callable[[Peek], bool]
    default_root: Callable[[Path], Path] = _parent
    writes_images: Callable[[Path], bool] = field(default=_never)
    accepts_dir: bool = False


READERS: Registry[Reader] = Registry(
    "format",
    {
        name: f"unmirage.data.formats.{name}"
        for name in ("spavl", "mmsafetybench", "figstep", "xstest", "mossbench", "vqav2", "mc")
    },
)
"""The readers of released benchmarks, one module of this package each: the one list that
`--format` offers and `auto` tries (a new reader: its module and its name here)."""
BENCHMARK_FORMATS: tuple[str, ...] = READERS.names()


def register(reader: Reader) -> Reader:
    """Make a reader available to `--format` and `auto` under its name."""
    return READERS.register(reader.name)(reader)


def readers() -> dict[str, Reader]:
    """Every listed reader, its module imported on first use (so listing the formats for
    `--help` imports none of them)."""
    return READERS.entries()


def detect_reader(peek: Peek) -> str | None:
    """The one reader whose layout matches, if exactly one does."""
    found = [name for name, reader in readers().items() if reader.detect(peek)]
    return found[0] if len(found) == 1 else None


# --- helpers shared by the readers ------------------------------------------------------


def read_csv(path: Path, required: tuple[str, ...]) -> list[tuple[Ref, dict[str, str]]]:
    """Rows of a CSV file with a header holding `required`; refs name the line."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"not UTF-8 text (byte {err.start})", file=name) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    missing = [c for c in required if c not in header]
    if missing:
        raise InputError(
            f"the CSV header lacks {', '.join(missing)} (has {', '.join(header) or 'nothing'})",
            file=name,
            record="header",
            field=missing[0],
        )
    rows: list[tuple[Ref, dict[str, str]]] = []
    for index, row in enumerate(reader):
        if None in row:
            raise InputError(
                f"{len(header) + len(row[None])} columns, the header has {len(header)}",
                file=name,
                record=f"{index} (line {reader.line_num})",
            )
        rows.append((f"{index} (line {reader.line_num})", row))
    if not rows:
        raise InputError("no rows after the header", file=name)
    return rows


def cell(row: dict[str, str | None], key: str, file: str, ref: Ref) -> str:
    """A non-empty CSV cell, stripped."""
    value = (row.get(key) or "").strip()
    if not value:
        raise InputError("empty cell", file=file, record=ref, field=key)
    return value


def read_json(path: Path) -> Any:
    """The parsed JSON document; syntax errors name the line and column."""
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as err:
        raise InputError(f"not UTF-8 text (byte {err.start})", file=str(path)) from None
    except json.JSONDecodeError as err:
        raise InputError(
            f"invalid JSON at line {err.lineno} column {err.colno}: {err.msg}", file=str(path)
        ) from None


def keyed_records(data: Any, file: str, id_key: str) -> list[tuple[str, Any]]:
    """(id, record) pairs of an object keyed by id or of a list of records with `id_key`."""
    if isinstance(data, dict) and data:
        return [(str(k), v) for k, v in data.items()]
    if isinstance(data, list) and data:
        out = []
        for index, rec in enumerate(data):
            ident = rec.get(id_key) if isinstance(rec, dict) else None
            if not isinstance(ident, str | int) or isinstance(ident, bool) or ident == "":
                raise InputError("missing or empty id", file=file, record=index, field=id_key)
            out.append((str(ident), rec))
        return out
    raise InputError("expected a non-empty JSON object keyed by id or a list of records", file=file)


def write_image(cache_dir: Path, rel: str, data: bytes) -> None:
    """Write image bytes at `rel` under the (staging) cache directory."""
    target = cache_dir / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
