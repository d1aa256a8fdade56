"""MM-SafetyBench: one JSON per scenario, keyed by question id, images per image kind.

Layout (as released): `data/processed_questions/<NN-Scenario>.json`, each
`{"<id>": {"Question", "Changed Question", "Key Phrase", "Phrase Type", "Rephrased Question",
"Rephrased Question(SD)", ...}}`, and images `data/imgs/<NN-Scenario>/{SD,SD_TYPO,TYPO}/<id>.jpg`.
Each image kind goes with its own question field, as the benchmark pairs them: SD with
"Rephrased Question(SD)", SD_TYPO and TYPO with "Rephrased Question"; the plain "Question"
with no image is the text-only baseline (variant "text"). Image kinds whose directory is
absent for a scenario are left out (download only SD_TYPO and you get SD_TYPO and text); a
scenario with none of them is an error. The scenario (file stem, e.g. "01-Illegal_Activitiy",
spelled as released) is the category; every query is unsafe.

`--data` is the `processed_questions` directory or one scenario file; the image root defaults
to the `imgs` directory beside `processed_questions`.
"""

from __future__ import annotations

from pathlib import Path

from unmirage.data.fields import as_object, getter, nonempty_str
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

NAME = "mmsafetybench"
IMAGE_KINDS: dict[str, str] = {
    "SD": "Rephrased Question(SD)",
    "SD_TYPO": "Rephrased Question",
    "TYPO": "Rephrased Question",
}
"""Image kind -> the question field it is paired with."""
TEXT_FIELD = "Question"
SIGNATURE = "Rephrased Question(SD)"


def _files(path: Path) -> list[Path]:
    if not path.is_dir():
        return [path]
    files = sorted(path.glob("*.json"))
    if not files:
        raise InputError("no scenario files (*.json) in the directory", file=str(path))
    return files


def default_root(path: Path) -> Path:
    """`imgs` beside `processed_questions` (the released layout)."""
    questions_dir = path if path.is_dir() else path.parent
    return questions_dir.parent / "imgs"


def read(path: Path, ctx: Context) -> Pairs:
    root = ctx.image_root
    out: Pairs = []
    for file in _files(path):
        name = str(file)
        scenario = file.stem
        kinds = [k for k in IMAGE_KINDS if (root / scenario / k).is_dir()] if root.is_dir() else []
        for qid, rec in keyed_records(read_json(file), name, "id"):
            ref = f"{qid} (scenario {scenario})"
            rec = as_object(rec, name, ref)
            get = getter(rec, name, ref)
            base = {"benchmark": NAME, "task": "unsafe", "scenario": scenario}
            key_phrase = rec.get("Key Phrase")
            if isinstance(key_phrase, str):
                base["key_phrase"] = key_phrase
            variants = [("text", None, get(TEXT_FIELD, nonempty_str))]
            variants += [
                (k, f"{scenario}/{k}/{qid}.jpg", get(IMAGE_KINDS[k], nonempty_str)) for k in kinds
            ]
            for variant, image, query in variants:
                sample = Sample(
                    id=f"{scenario}/{qid}#{variant}",
                    query=query,
                    image=image,
                    label="unsafe",
                    category=scenario,
                    source=ctx.source,
                    meta={**base, "variant": variant},
                )
                out.append((ref, sample))
        if not kinds:
            raise InputError(
                f"no image directory {scenario}/{{{','.join(IMAGE_KINDS)}}} under {root}; "
                "pass --image-root (the imgs directory)",
                file=name,
            )
    return out


def detect(peek: Peek) -> bool:
    if peek.kind == "dir":
        first = next(iter(sorted(peek.path.glob("*.json"))), None)
        return first is not None and detect(Peek(first))
    rec = peek.first_record()
    return isinstance(peek.data, dict) and isinstance(rec, dict) and SIGNATURE in rec


register(Reader(NAME, "MM-SafetyBench", "scenario", read, detect, default_root, accepts_dir=True))
