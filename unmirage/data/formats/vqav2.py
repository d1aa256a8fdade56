"""VQAv2 (and VQA-style sets): question and annotation JSON, scored by VQA soft accuracy.

Layout (as released): `v2_OpenEnded_mscoco_<subtype>_questions.json`
`{"data_subtype": "val2014", "questions": [{"image_id", "question", "question_id"}]}` and, next
to it, `v2_mscoco_<subtype>_annotations.json` `{"annotations": [{"question_id", "answers":
[{"answer", ...} x 10], "answer_type", "question_type", "multiple_choice_answer"}]}`; images
`<subtype>/COCO_<subtype>_<image_id, 12 digits>.jpg` relative to the questions file's
directory (COCO's own layout). `--data` is the questions file; the annotations file is found
by that naming (".._questions.json" -> ".._annotations.json", with or without the
"OpenEnded_" part). The query is the question plus "Answer the question using a single word
or phrase." (LLaVA's VQAv2 prompt); the score is the VQA accuracy against the ten answers
(`unmirage.judge.utility`); the answer type (yes/no, number, other) is the category.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from unmirage.data.fields import as_object, getter, nonempty_list, nonempty_str, opt_str, record_id
from unmirage.data.formats.base import Context, Pairs, Peek, Reader, read_json, register
from unmirage.data.sample import Sample
from unmirage.errors import InputError
from unmirage.judge.utility import VQA_ANSWERS

NAME = "vqav2"
PROMPT = "Answer the question using a single word or phrase."
_TASK_PART = re.compile(r"_(OpenEnded|MultipleChoice)_")


def annotations_path(path: Path) -> Path:
    """The annotations file beside a questions file, by VQAv2's naming."""
    named = path.name.replace("_questions", "_annotations")
    candidates = [path.with_name(named), path.with_name(_TASK_PART.sub("_", named))]
    for candidate in candidates:
        if candidate != path and candidate.is_file():
            return candidate
    raise InputError(
        f"no annotations file beside the questions ({candidates[-1].name} or "
        f"{candidates[0].name}); VQA accuracy needs the annotators' answers",
        file=str(path),
    )


def _list(doc: Any, key: str, file: str) -> list[Any]:
    if not isinstance(doc, dict):
        raise InputError("expected a JSON object", file=file)
    return getter(doc, file, None)(key, nonempty_list)


def read(path: Path, ctx: Context) -> Pairs:
    name = str(path)
    doc = read_json(path)
    questions = _list(doc, "questions", name)
    subtype = getter(doc, name, None)("data_subtype", opt_str, optional=True)
    ann_path = annotations_path(path)
    ann_name = str(ann_path)
    answers: dict[str, dict[str, Any]] = {}
    for index, ann in enumerate(_list(read_json(ann_path), "annotations", ann_name)):
        ann = as_object(ann, ann_name, index)
        get = getter(ann, ann_name, index)
        qid = str(get("question_id", record_id))
        ref = f"{index} (question_id {qid})"
        given = getter(ann, ann_name, ref)("answers", nonempty_list)
        if len(given) != VQA_ANSWERS:
            raise InputError(
                f"expected {VQA_ANSWERS} annotator answers, got {len(given)}",
                file=ann_name,
                record=ref,
                field="answers",
            )
        texts = [
            getter(as_object(a, ann_name, ref, f"answers[{k}]"), ann_name, ref, f"answers[{k}]")(
                "answer", nonempty_str
            )
            for k, a in enumerate(given)
        ]
        answers[qid] = {
            "answers": texts,
            "answer": get("multiple_choice_answer", opt_str, optional=True) or texts[0],
            "answer_type": get("answer_type", opt_str, optional=True),
            "question_type": get("question_type", opt_str, optional=True),
        }
    out: Pairs = []
    for index, rec in enumerate(questions):
        rec = as_object(rec, name, index)
        get = getter(rec, name, index)
        qid = str(get("question_id", record_id))
        ref = f"{index} (question_id {qid})"
        get = getter(rec, name, ref)
        image_id = get("image_id", record_id)
        if qid not in answers:
            raise InputError(
                f"question has no annotation in {ann_path.name}",
                file=name,
                record=ref,
                field="question_id",
            )
        if subtype is None:
            raise InputError(
                "needed to name the images (<subtype>/COCO_<subtype>_<image_id>.jpg)",
                file=name,
                field="data_subtype",
            )
        if not isinstance(image_id, int):
            raise InputError("expected a number", file=name, record=ref, field="image_id")
        gold = answers[qid]
        meta = {"benchmark": NAME, "task": "utility", "scorer": "vqa", **gold}
        sample = Sample(
            id=f"vqav2-{qid}",
            query=f"{get('question', nonempty_str)}\n{PROMPT}",
            image=f"{subtype}/COCO_{subtype}_{image_id:012d}.jpg",
            category=gold["answer_type"],
            source=ctx.source,
            meta={k: v for k, v in meta.items() if v is not None},
        )
        out.append((ref, sample))
    return out


def detect(peek: Peek) -> bool:
    data = peek.data
    return peek.kind == "json" and isinstance(data, dict) and "questions" in data


register(Reader(NAME, "VQAv2", "answer type", read, detect))
