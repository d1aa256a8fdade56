"""Multiple choice: a generic format for utility questions with options, scored by letter.

A JSON list, or JSON lines, of `{"id", "question", "options": [...] or {"A": ..., "B": ...},
"answer", "image"?, "category"?}`. `answer` is the correct option's letter, its text, or its
0-based index. The query lists the options as "A. ...", "B. ..." and asks for the letter
(LLaVA's prompt for multiple choice); the response is scored by the letter it gives
(`unmirage.judge.utility.choice_letter`). Images are relative to the file's directory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from unmirage.checks import is_int
from unmirage.data.fields import as_object, getter, nonempty_str, opt_str, record_id, record_ref
from unmirage.data.formats.base import Context, Pairs, Peek, Reader, read_json, register
from unmirage.data.sample import Sample
from unmirage.errors import InputError
from unmirage.judge.utility import LETTERS

NAME = "mc"
PROMPT = "Answer with the option's letter from the given choices directly."
KEYS = ("question", "options", "answer")


def _records(path: Path) -> list[tuple[Any, Any]]:
    if path.suffix.lower() != ".jsonl":
        data = read_json(path)
        if not isinstance(data, list) or not data:
            raise InputError("expected a non-empty JSON list of records", file=str(path))
        return [(record_ref(i, r), r) for i, r in enumerate(data)]
    out = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        if line.strip():
            ref = f"{len(out)} (line {lineno})"
            try:
                out.append((ref, json.loads(line)))
            except json.JSONDecodeError as err:
                raise InputError(f"invalid JSON: {err.msg}", file=str(path), record=ref) from None
    return out


def _options(value: Any) -> list[str]:
    if isinstance(value, dict):
        if list(value) != list(LETTERS[: len(value)]):
            raise ValueError("expected options keyed A, B, C, ... in order")
        value = list(value.values())
    if not isinstance(value, list) or not 2 <= len(value) <= len(LETTERS):
        raise ValueError("expected a list of at least two options")
    if not all(isinstance(o, str) and o.strip() for o in value):
        raise ValueError("expected every option to be a non-empty string")
    return value


def _letter(answer: Any, options: list[str]) -> str:
    letters = LETTERS[: len(options)]
    if is_int(answer) and 0 <= answer < len(options):
        return letters[answer]
    if isinstance(answer, str):
        if answer.strip() in letters:
            return answer.strip()
        if answer in options:
            return letters[options.index(answer)]
    raise ValueError(f"expected one of the letters {', '.join(letters)}, an option or its index")


def read(path: Path, ctx: Context) -> Pairs:
    name = str(path)
    out: Pairs = []
    for ref, rec in _records(path):
        rec = as_object(rec, name, ref)
        get = getter(rec, name, ref)
        options = get("options", _options)
        answer = get("answer", lambda v, o=options: _letter(v, o))
        listed = "\n".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(options))
        sample = Sample(
            id=str(get("id", record_id)),
            query=f"{get('question', nonempty_str)}\n{listed}\n{PROMPT}",
            image=get("image", opt_str, optional=True),
            category=get("category", opt_str, optional=True),
            source=ctx.source,
            meta={
                "benchmark": NAME,
                "task": "utility",
                "scorer": "choice",
                "options": options,
                "answer": answer,
            },
        )
        out.append((ref, sample))
    if not out:
        raise InputError("no records", file=name)
    return out


def detect(peek: Peek) -> bool:
    rec = peek.first_record() if isinstance(peek.data, list) else peek.data
    return peek.kind == "json" and isinstance(rec, dict) and all(k in rec for k in KEYS)


register(Reader(NAME, "multiple choice", "category", read, detect))
