"""Load safety data (VLGuard JSON, LLaVA conversation JSON, our JSONL) into `Sample`s.

Every file is validated on load and the first problem stops it with an `InputError` naming
the file, the record and the field, so nothing downstream trains or reports on a silently
skipped or misread record. Records are numbered from 0 in file order; the error also gives the
record's id where it has one, and the line for JSONL.

Formats:
- "vlguard": a JSON list of `{"id", "image", "safe", "instr-resp": [...]}`. Each entry of
  `instr-resp` becomes one Sample; its instruction key gives the subset: `safe_instruction`
  -> safe_safe (label safe), `unsafe_instruction` -> safe_unsafe (unsafe), `instruction`
  (unsafe images only) -> unsafe_image (unsafe, category "harmful_category/subcategory").
  `response` may be absent, as in attack files holding one rewritten instruction per record.
  Sample ids are "<record id>#<subset>", so a rewrite file keeps the ids of its original; a
  subset repeated in one record (K rewrites) gets "#<subset>.1", "#<subset>.2", ...
- "llava": a JSON list of `{"id", "image"?, "conversations": [{"from": "human"|"gpt",
  "value"}]}`. Each human turn with the gpt turn after it (if any) becomes one Sample; the
  "<image>" tag is removed from the query. The id is the record's id when the record holds a
  single pair, else "<id>#<pair index>". The format carries no safety label, so label and
  subset stay None unless the record has an "unmirage" object (written by
  `write_llava_json`) with label, subset, category, source and meta.
- "jsonl": one `Sample.to_dict()` per line, every field checked.
- benchmark layouts (SPA-VL, MM-SafetyBench, FigStep, XSTest, MOSSBench, VQAv2, multiple
  choice): one reader each in `unmirage.data.formats`, named by `BENCHMARK_FORMATS`.
- "auto": a layout a benchmark reader recognises (a directory of MM-SafetyBench scenario
  files, a CSV with FigStep's or XSTest's header, a parquet file, a JSON object or list with a
  benchmark's keys) is read by it; otherwise ".jsonl" files and files starting with "{" are
  JSONL, and a JSON list is VLGuard if its first record has "instr-resp", LLaVA if it has
  "conversations".
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from unmirage.data.fields import (
    Check,
    Ref,
    as_object,
    boolean,
    getter,
    join_field,
    mapping,
    nonempty_list,
    nonempty_str,
    one_of,
    opt_str,
    plain_str,
    record_id,
    record_ref,
    type_name,
)
from unmirage.data.formats.base import BENCHMARK_FORMATS
from unmirage.data.images import ImageRoot
from unmirage.data.sample import LABELS, SUBSETS, Sample
from unmirage.errors import InputError

FORMATS: tuple[str, ...] = ("auto", "vlguard", "llava", "jsonl", *BENCHMARK_FORMATS)

VLGUARD_KEYS: dict[str, str] = {
    "safe_instruction": "safe_safe",
    "unsafe_instruction": "safe_unsafe",
    "instruction": "unsafe_image",
}
"""VLGuard instruction key -> our subset."""

LLAVA_ANNOTATION_KEY = "unmirage"
"""Extra key of a LLaVA record that carries our label, subset, category, source and meta."""

IMAGE_TAG = "<image>"


@dataclass(frozen=True)
class Loaded:
    """A data file's samples, the format read and the root their image paths are relative to
    (None for a format that writes its images when no cache directory was given)."""

    samples: list[Sample]
    format: str
    image_root: Path | None


def load_samples(
    path: str | Path,
    fmt: str = "auto",
    *,
    image_root: str | Path | None = None,
    check_images: bool = True,
    source: str | None = None,
    unique_ids: bool = True,
) -> list[Sample]:
    """Read and validate every sample of `path` (see `read_data`)."""
    loaded = read_data(
        path,
        fmt,
        image_root=image_root,
        check_images=check_images,
        source=source,
        unique_ids=unique_ids,
    )
    return loaded.samples


def read_data(
    path: str | Path,
    fmt: str = "auto",
    *,
    image_root: str | Path | None = None,
    cache_dir: str | Path | None = None,
    check_images: bool = True,
    source: str | None = None,
    unique_ids: bool = True,
) -> Loaded:
    """Read and validate every sample of `path`.

    With `check_images`, each distinct image is resolved inside the image root (default: the
    data file's directory, or the benchmark's own image directory) and its header read against
    the size caps; pass False for annotation-only data. Formats whose images are not files
    (FigStep renders them, SPA-VL parquet embeds them) write them under `cache_dir`, which is
    then the image root. `source` overrides every sample's source (default: the record's own
    source for JSONL and LLaVA files written by us, else "<format>:<file name>"). A repeated
    sample id is an error unless `unique_ids` is False, as for an attack file made elsewhere
    that holds several rewrites of a query under its id (`unmirage attack --precomputed`).
    """
    from unmirage.data.formats import Context, readers

    known = readers()

    path = Path(path)
    name = str(path)
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not path.exists():
        raise InputError("no such file", file=name)
    records = None
    if fmt == "auto":
        fmt, records = _sniff(path)
    if path.is_dir() and not (fmt in known and known[fmt].accepts_dir):
        raise InputError(f"is a directory; the {fmt} format reads a file", file=name)
    default_source = source if source is not None else f"{fmt}:{path.name}"
    root: Path | None = Path(image_root) if image_root is not None else path.parent
    if fmt in known:
        reader = known[fmt]
        writes = reader.writes_images(path)
        if writes:
            root = Path(cache_dir) if cache_dir is not None else None
            if root is None and check_images:
                raise InputError(
                    f"the {fmt} format writes its images; give a cache directory for them",
                    file=name,
                )
        elif image_root is None:
            root = reader.default_root(path)
        if writes and cache_dir is not None:
            pairs = _read_staged(reader, path, Context(default_source, Path(cache_dir)))
        else:
            pairs = reader.read(path, Context(default_source, root or path.parent))
    elif fmt == "jsonl":
        refs = _parse_jsonl(_read_text(path), name)
        pairs = [(ref, sample_from_dict(obj, file=name, record=ref)) for ref, obj in refs]
    else:
        if records is None:
            records = _parse_json_list(_read_text(path), name)
        parse = _parse_vlguard if fmt == "vlguard" else _parse_llava
        pairs = parse(records, name, default_source)
    if source is not None:
        pairs = [(ref, replace(s, source=source)) for ref, s in pairs]
    if not pairs:
        raise InputError("no samples in the file", file=name)
    if unique_ids:
        _check_unique_ids(pairs, name)
    if check_images and root is not None:
        _check_images(pairs, ImageRoot(root), name)
    return Loaded(_with_root([s for _, s in pairs], root), fmt, root)


def _read_staged(reader: Any, path: Path, context: Any) -> list[tuple[Ref, Sample]]:
    """Run a reader that writes images into a staging directory and move them under the cache
    directory (`context.image_root`) only if the whole file reads, so a bad record leaves
    nothing behind."""
    cache = context.image_root
    cache.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=cache.parent, prefix=f".{cache.name}.images."))
    try:
        pairs = reader.read(path, replace(context, cache_dir=stage))
        for item in sorted(stage.rglob("*")):
            if item.is_file():
                target = cache / item.relative_to(stage)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(item, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return pairs


def detect_format(path: Path, text: str | None = None) -> str:
    """Guess the format from the path and content (`text`: the file's, if already read)."""
    return _sniff(path, text)[0]


def _sniff(path: Path, text: str | None = None) -> tuple[str, list[Any] | None]:
    """The format, and the parsed JSON list when telling the format needed it."""
    from unmirage.data.formats import Peek, detect_reader

    peek = Peek(path, text)
    if peek.kind != "json":
        found = detect_reader(peek)
        if found is None:
            raise InputError(
                f"cannot detect the format of this {peek.kind}; pass --format", file=str(path)
            )
        return found, None
    text = text if text is not None else _read_text(path)
    head = text.lstrip()[:1]
    if path.suffix.lower() == ".jsonl" or head == "{":
        ours = isinstance(peek.data, dict) and "query" in peek.data
        return ("jsonl" if ours else detect_reader(peek) or "jsonl"), None
    if head != "[":
        raise InputError(
            "cannot detect the format: expected a JSON list ('[') or JSON lines ('{')",
            file=str(path),
        )
    records = _parse_json_list(text, str(path))
    first = records[0]
    if isinstance(first, dict) and "instr-resp" in first:
        return "vlguard", records
    if isinstance(first, dict) and "conversations" in first:
        return "llava", records
    found = detect_reader(peek)
    if found is not None:
        return found, None
    raise InputError(
        "cannot detect the format: the record has neither 'instr-resp' (VLGuard) nor "
        "'conversations' (LLaVA) nor a benchmark's keys; pass --format",
        file=str(path),
        record=record_ref(0, first),
    )


def sample_from_dict(obj: Any, *, file: str | None = None, record: Ref | None = None) -> Sample:
    """Validate one `Sample.to_dict()`-shaped object field by field and build the Sample."""
    if not isinstance(obj, dict):
        raise InputError(f"expected a JSON object, got {type_name(obj)}", file=file, record=record)
    fields = _validate_fields(obj, _SAMPLE_FIELDS, ("id", "query"), file=file, record=record)
    return Sample(**fields)


def _read_text(path: Path) -> str:
    name = str(path)
    if not path.is_file():
        raise InputError("no such file", file=name)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"not UTF-8 text (byte {err.start})", file=name) from None
    except OSError as err:
        raise InputError(f"cannot read: {err.strerror}", file=name) from None
    if not text.strip():
        raise InputError("empty file", file=name)
    return text


def _parse_json_list(text: str, name: str) -> list[Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(
            f"invalid JSON at line {err.lineno} column {err.colno}: {err.msg}", file=name
        ) from None
    if not isinstance(data, list):
        raise InputError(f"expected a JSON list of records, got {type_name(data)}", file=name)
    if not data:
        raise InputError("the list of records is empty", file=name)
    return data


def _parse_jsonl(text: str, name: str) -> list[tuple[Ref, Any]]:
    out: list[tuple[Ref, Any]] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(
                f"invalid JSON at line {lineno} column {err.colno}: {err.msg}",
                file=name,
                record=f"{len(out)} (line {lineno})",
            ) from None
        ident = obj.get("id") if isinstance(obj, dict) else None
        where = f"line {lineno}, id {ident}" if isinstance(ident, str) else f"line {lineno}"
        out.append((f"{len(out)} ({where})", obj))
    return out


def _parse_vlguard(records: list[Any], name: str, source: str) -> list[tuple[Ref, Sample]]:
    out: list[tuple[Ref, Sample]] = []
    for index, rec in enumerate(records):
        ref = record_ref(index, rec)
        rec = as_object(rec, name, ref)
        get = getter(rec, name, ref)
        rid = get("id", nonempty_str)
        image = get("image", nonempty_str)
        safe = get("safe", boolean)
        entries = get("instr-resp", nonempty_list)
        category = None
        if not safe:
            parts = [
                get(k, opt_str, optional=True) for k in ("harmful_category", "harmful_subcategory")
            ]
            category = "/".join(p for p in parts if p) or None
        seen: dict[str, int] = {}
        for k, entry in enumerate(entries):
            prefix = f"instr-resp[{k}]"
            entry = as_object(entry, name, ref, prefix)
            keys = [key for key in VLGUARD_KEYS if key in entry]
            if len(keys) != 1:
                raise InputError(
                    f"expected exactly one of {', '.join(VLGUARD_KEYS)}, found {len(keys)}",
                    file=name,
                    record=ref,
                    field=prefix,
                )
            key = keys[0]
            subset = VLGUARD_KEYS[key]
            if (subset == "unsafe_image") == safe:
                expected = "safe_instruction or unsafe_instruction" if safe else "instruction"
                raise InputError(
                    f"a record with safe={str(safe).lower()} uses {expected}, not {key}",
                    file=name,
                    record=ref,
                    field=f"{prefix}.{key}",
                )
            entry_get = getter(entry, name, ref, prefix)
            n = seen.get(subset, 0)
            seen[subset] = n + 1
            sample = Sample(
                id=f"{rid}#{subset}" + (f".{n}" if n else ""),
                query=entry_get(key, nonempty_str),
                response=entry_get("response", opt_str, optional=True),
                image=image,
                label="safe" if subset == "safe_safe" else "unsafe",
                subset=subset,
                category=category if subset == "unsafe_image" else None,
                source=source,
            )
            out.append((ref, sample))
    return out


def _parse_llava(records: list[Any], name: str, source: str) -> list[tuple[Ref, Sample]]:
    out: list[tuple[Ref, Sample]] = []
    for index, rec in enumerate(records):
        ref = record_ref(index, rec)
        rec = as_object(rec, name, ref)
        get = getter(rec, name, ref)
        rid = str(get("id", record_id))
        image = get("image", opt_str, optional=True)
        turns = get("conversations", nonempty_list)
        annotation: dict[str, Any] = {"source": source}
        if LLAVA_ANNOTATION_KEY in rec:
            block = as_object(rec[LLAVA_ANNOTATION_KEY], name, ref, LLAVA_ANNOTATION_KEY)
            annotation |= _validate_fields(
                block, _ANNOTATION_FIELDS, (), file=name, record=ref, prefix=LLAVA_ANNOTATION_KEY
            )
        pairs = _conversation_pairs(turns, name, ref)
        for k, (query, response) in enumerate(pairs):
            sample_id = rid if len(pairs) == 1 else f"{rid}#{k}"
            out.append((ref, Sample(sample_id, query, response, image, **annotation)))
    return out


def _conversation_pairs(turns: list[Any], name: str, ref: Ref) -> list[tuple[str, str | None]]:
    """(query, response) per human turn; the gpt turn must follow its human turn."""
    pairs: list[tuple[str, str | None]] = []
    for k, turn in enumerate(turns):
        prefix = f"conversations[{k}]"
        turn = as_object(turn, name, ref, prefix)
        get = getter(turn, name, ref, prefix)
        role = get("from", nonempty_str)
        value = get("value", plain_str)
        expected = "human" if k % 2 == 0 else "gpt"
        if role != expected:
            raise InputError(
                f"expected from={expected!r} (turns alternate human, gpt), got {role!r}",
                file=name,
                record=ref,
                field=f"{prefix}.from",
            )
        if role == "human":
            query = _strip_image_tag(value)
            if not query.strip():
                raise InputError("empty query", file=name, record=ref, field=f"{prefix}.value")
            pairs.append((query, None))
        else:
            pairs[-1] = (pairs[-1][0], value)
    return pairs


def _strip_image_tag(value: str) -> str:
    """Remove LLaVA's image tag: the usual "<image>\\n" prefix or "\\n<image>" suffix exactly, so
    a written query reads back unchanged; a tag elsewhere is removed with the space around."""
    if value.startswith(IMAGE_TAG + "\n"):
        return value[len(IMAGE_TAG) + 1 :]
    if value.endswith("\n" + IMAGE_TAG):
        return value[: -len(IMAGE_TAG) - 1]
    if IMAGE_TAG in value:
        return value.replace(IMAGE_TAG, "").strip()
    return value


def _check_unique_ids(pairs: list[tuple[Ref, Sample]], name: str) -> None:
    seen: set[str] = set()
    for ref, sample in pairs:
        if sample.id in seen:
            raise InputError(
                f"duplicate sample id {sample.id!r}", file=name, record=ref, field="id"
            )
        seen.add(sample.id)


def _with_root(samples: list[Sample], root: Path | None) -> list[Sample]:
    """Each sample with an image learns the directory its path is relative to."""
    if root is None:
        return samples
    where = str(root.resolve())
    return [replace(s, image_root=where) if s.image else s for s in samples]


def _check_images(pairs: list[tuple[Ref, Sample]], root: ImageRoot, name: str) -> None:
    checked: set[str] = set()
    for ref, sample in pairs:
        if sample.image is not None and sample.image not in checked:
            root.check(sample.image, file=name, record=ref)
            checked.add(sample.image)


# --- field validation -------------------------------------------------------------------

_ANNOTATION_FIELDS: dict[str, Check] = {
    "label": one_of(LABELS),
    "subset": one_of(SUBSETS),
    "category": opt_str,
    "source": plain_str,
    "meta": mapping,
}
_SAMPLE_FIELDS: dict[str, Check] = {
    "id": nonempty_str,
    "query": nonempty_str,
    "response": opt_str,
    "image": opt_str,
    **_ANNOTATION_FIELDS,
}


def _validate_fields(
    obj: Mapping[str, Any],
    checks: Mapping[str, Check],
    required: tuple[str, ...],
    *,
    file: str | None,
    record: Ref | None,
    prefix: str = "",
) -> dict[str, Any]:
    """Check every field of `obj` against `checks`; unknown and missing fields are errors."""
    for key in obj:
        if key not in checks:
            raise InputError(
                f"unknown field; allowed: {', '.join(checks)}",
                file=file,
                record=record,
                field=join_field(prefix, key),
            )
    get = getter(obj, file, record, prefix)
    fields = {
        key: get(key, check) for key, check in checks.items() if key in obj or key in required
    }
    label, subset = fields.get("label"), fields.get("subset")
    if subset is not None and label is not None and label != _label_of(subset):
        raise InputError(
            f"label {label!r} contradicts subset {subset!r} (expects {_label_of(subset)!r})",
            file=file,
            record=record,
            field=join_field(prefix, "label"),
        )
    return fields


def _label_of(subset: str) -> str:
    return "safe" if subset == "safe_safe" else "unsafe"
