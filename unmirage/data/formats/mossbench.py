"""MOSSBench: benign image queries that oversensitive models refuse.

Layout (as released): `data/images_information/information.json`, an object keyed by pid,
`{"image": "images/1.png", "question", "short description", "description", "pid",
"metadata": {"over": "type 1"|"type 2"|"type 3", "human", "child", "syn", "ocr", "harm"}}`
(a list of such records works too). Every query is benign: refusing it is over-refusal, so
its refusal rate (RR) is the measure. The oversensitivity type is the category: type 1
Exaggerated Risk, type 2 Negated Harm, type 3 Counterintuitive Interpretation. Image paths
are relative to `data/`, the default image root when the file sits in `images_information/`
(else the file's own directory).
"""

from __future__ import annotations

from pathlib import Path

from unmirage.data.fields import as_object, getter, mapping, nonempty_str
from unmirage.data.formats.base import (
    Context,
    Pairs,
    Peek,
    Reader,
    keyed_records,
    read_json,
    register,
)
from unmirage.data.sample import Sample
from unmirage.errors import InputError

NAME = "mossbench"
OVER_TYPES = {
    "type 1": "Exaggerated Risk",
    "type 2": "Negated Harm",
    "type 3": "Counterintuitive Interpretation",
}
FLAGS = ("human", "child", "syn", "ocr", "harm")


def default_root(path: Path) -> Path:
    return path.parent.parent if path.parent.name == "images_information" else path.parent


def read(path: Path, ctx: Context) -> Pairs:
    name = str(path)
    out: Pairs = []
    for pid, rec in keyed_records(read_json(path), name, "pid"):
        ref = f"{pid}"
        rec = as_object(rec, name, ref)
        get = getter(rec, name, ref)
        metadata = get("metadata", mapping)
        over = getter(metadata, name, ref, "metadata")("over", nonempty_str)
        if over not in OVER_TYPES:
            raise InputError(
                f"unknown oversensitivity type {over!r}; expected {', '.join(OVER_TYPES)}",
                file=name,
                record=ref,
                field="metadata.over",
            )
        meta = {"benchmark": NAME, "task": "benign", "over": over}
        meta |= {k: metadata[k] for k in FLAGS if k in metadata}
        sample = Sample(
            id=f"mossbench-{pid}",
            query=get("question", nonempty_str),
            image=get("image", nonempty_str),
            label="safe",
            category=OVER_TYPES[over],
            source=ctx.source,
            meta=meta,
        )
        out.append((ref, sample))
    return out


def detect(peek: Peek) -> bool:
    rec = peek.first_record()
    return (
        peek.kind == "json"
        and isinstance(rec, dict)
        and "pid" in rec
        and isinstance(rec.get("metadata"), dict)
        and "over" in rec["metadata"]
    )


register(Reader(NAME, "MOSSBench", "oversensitivity type", read, detect, default_root))
