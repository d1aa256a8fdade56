"""SPA-VL: safety preference data (train) and its harm / help test splits.

Layouts:
- parquet, as on the Hugging Face hub: the train split in 8 shards
  `data/train-0000N-of-00008.parquet` (image, question, chosen, rejected, image_name; 93,258
  rows), `validation/validation-00000-of-00001.parquet` (the same plus class1, class2, class3),
  `test/harm-00000-of-00001.parquet` and `test/help-...` (image, question, class1, class2,
  class3). No split has an id column. The image is embedded ({"bytes", "path"}) and is written
  under the cache directory (`spavl/<file stem>/<row>.<ext>`), which becomes the image root.
  Needs pyarrow (`pip install 'unmirage[parquet]'`).
- JSON: a list of the same records with `image` a path relative to the file's directory, and
  an optional `id`.
A directory stands for the SPA-VL files directly inside it, in name order (`SPA-VL/data`: the
8 train shards). A record with an id is "<split>/<id>"; one without is named by its file and
row, "<file stem>/<row>" (e.g. "train-00003-of-00008/17"), which does not change with the other
shards read or their order. The split comes from the file name (a word train, validation, harm
or help in it, as in "harm-00000-of-00001.parquet" or "test_help.json"); a file without one is
train if its records have chosen/rejected, else an error. Harm and train/validation questions
are unsafe (train keeps `chosen` as the response and `rejected` in meta); help questions are
benign, so refusing them is over-refusal. The category is class1 (the harm domain), where the
split has it (validation, harm, help; not train); class2 and class3 go to meta.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from unmirage.data.fields import as_object, getter, nonempty_str, opt_str, record_id, record_ref
from unmirage.data.formats.base import (
    Context,
    Pairs,
    Peek,
    Reader,
    read_json,
    register,
    write_image,
)
from unmirage.data.sample import Sample
from unmirage.errors import InputError

NAME = "spavl"
SPLITS = ("train", "validation", "harm", "help")
SPLIT_TASKS = {"train": "unsafe", "validation": "unsafe", "harm": "unsafe", "help": "benign"}
_SPLIT_WORD = re.compile(r"(?<![a-z])(train|validation|harm|help)(?![a-z])")
SUFFIXES = (".parquet", ".json", ".jsonl")
"""The files a directory stands for."""


def data_files(paths: Sequence[Path]) -> list[Path]:
    """`paths` with each directory replaced by the SPA-VL files directly inside it, in name
    order (the release keeps one split per directory: `data/` holds the 8 train shards)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES
            )
            if not found:
                raise InputError(
                    f"no SPA-VL file ({', '.join('*' + s for s in SUFFIXES)}) in this directory",
                    file=str(path),
                )
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise InputError("no such file", file=str(path))
    return files


def row_name(path: Path, index: int) -> str:
    """The name of a record without an id: its file's stem and its row in that file."""
    return f"{path.stem}/{index}"


def _split(path: Path, first: Any) -> str:
    found = _SPLIT_WORD.search(path.stem.lower())
    if found:
        return found.group(1)
    if isinstance(first, dict) and "chosen" in first:
        return "train"
    raise InputError(
        "cannot tell the split; name the file with train, validation, harm or help in it "
        "(e.g. harm-00000-of-00001.parquet)",
        file=str(path),
    )


def read_records(path: Path) -> list[Any]:
    """The records of an SPA-VL file: parquet (needs pyarrow), JSONL, or a JSON list."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise InputError(
                "reading parquet needs pyarrow: pip install 'unmirage[parquet]'", file=str(path)
            ) from None
        try:
            return pq.read_table(path).to_pylist()
        except (OSError, ValueError) as err:  # pyarrow's errors derive from these
            raise InputError(f"not a readable parquet file: {err}", file=str(path)) from None
    if suffix == ".jsonl":
        rows = []
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise InputError(
                        f"invalid JSON: {err.msg}", file=str(path), record=f"line {lineno}"
                    ) from None
        return rows
    rows = read_json(path)
    if not isinstance(rows, list) or not rows:
        raise InputError("expected a non-empty JSON list of records", file=str(path))
    return rows


def _embedded_image(value: Any, path: Path, ref: Any, index: int, ctx: Context) -> str:
    """Write an embedded image under the cache directory; its path relative to the cache."""
    data = value.get("bytes") if isinstance(value, dict) else None
    if not isinstance(data, bytes) or not data:
        raise InputError(
            "expected an embedded image with bytes", file=str(path), record=ref, field="image"
        )
    try:
        kind = (Image.open(io.BytesIO(data)).format or "img").lower()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise InputError(
            f"embedded image is not readable: {err}", file=str(path), record=ref, field="image"
        ) from None
    rel = f"{NAME}/{path.stem}/{index}.{kind}"
    if ctx.cache_dir is not None:
        write_image(ctx.cache_dir, rel, data)
    return rel


def read(path: Path, ctx: Context) -> Pairs:
    """The samples of one file, or of every SPA-VL file in a directory (refs then name the
    file too)."""
    if not path.is_dir():
        return _read_file(path, ctx)
    return [
        (f"{file.name} {ref}", sample)
        for file in data_files([path])
        for ref, sample in _read_file(file, ctx)
    ]


def _read_file(path: Path, ctx: Context) -> Pairs:
    name = str(path)
    parquet = path.suffix.lower() == ".parquet"
    rows = read_records(path)
    out: Pairs = []
    split: str | None = None
    for index, rec in enumerate(rows):
        ref = record_ref(index, rec)
        rec = as_object(rec, name, ref)
        split = split or _split(path, rec)
        get = getter(rec, name, ref)
        rid = f"{split}/{get('id', record_id)}" if "id" in rec else row_name(path, index)
        if parquet:
            image = _embedded_image(get("image", lambda v: v), path, ref, index, ctx)
        else:
            image = get("image", nonempty_str)
        classes = [get(f"class{k}", opt_str, optional=True) for k in (1, 2, 3)]
        meta: dict[str, Any] = {"benchmark": NAME, "task": SPLIT_TASKS[split], "variant": split}
        meta |= {f"class{k}": c for k, c in zip((2, 3), classes[1:], strict=True) if c}
        response = None
        if split in ("train", "validation"):
            response = get("chosen", nonempty_str)
            meta["rejected"] = get("rejected", nonempty_str)
        sample = Sample(
            id=rid,
            query=get("question", nonempty_str),
            response=response,
            image=image,
            label="safe" if SPLIT_TASKS[split] == "benign" else "unsafe",
            category=classes[0] or None,
            source=ctx.source,
            meta=meta,
        )
        out.append((ref, sample))
    if not out:
        raise InputError("no rows", file=name)
    return out


def detect(peek: Peek) -> bool:
    if peek.kind == "parquet":
        return True
    rec = peek.first_record()
    return (
        peek.kind == "json"
        and isinstance(peek.data, list)
        and isinstance(rec, dict)
        and "question" in rec
        and ({"chosen", "rejected"} <= rec.keys() or "class1" in rec)
    )


register(
    Reader(
        NAME,
        "SPA-VL",
        "harm category (class1)",
        read,
        detect,
        writes_images=lambda p: any(f.suffix.lower() == ".parquet" for f in data_files([p])),
        accepts_dir=True,
    )
)
