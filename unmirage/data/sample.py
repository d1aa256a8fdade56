"""The one record type every part of unmirage reads and writes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from unmirage.errors import InputError

Label = Literal["safe", "unsafe"]
"""Whether the request should be answered ("safe") or refused ("unsafe")."""

Subset = Literal["safe_safe", "safe_unsafe", "unsafe_image"]
"""VLGuard's three subsets: safe image + safe instruction (answered), safe image + unsafe
instruction (refused), unsafe image + instruction (refused)."""

Task = Literal["unsafe", "benign", "utility"]
"""What a test sample measures: refusal of a harmful query, answering of a benign one, or a
utility question with a scorer."""

LABELS: tuple[str, ...] = ("safe", "unsafe")
SUBSETS: tuple[str, ...] = ("safe_safe", "safe_unsafe", "unsafe_image")
TASKS: tuple[str, ...] = ("unsafe", "benign", "utility")
ATTACKS: tuple[str, ...] = ("trigger", "control", "overprudence", "gcg", "mood")
"""The kinds of attacked query (`meta.attack`): one-word rewrites, their no-trigger control,
over-prudence rewrites (`unmirage attack`), GCG suffixes (`unmirage gcg`), sentence-mood
rewrites (`unmirage attack --mood`)."""


@dataclass(frozen=True)
class Sample:
    """One (image, query, response) example with its safety annotation.

    `image` is a path relative to `image_root` (or None for text-only data); it is opened
    lazily through `unmirage.data.images.Images`. The reader sets `image_root` from the
    command's image-root rule (see `unmirage.data.images`): it is never read from or written to
    a data file, so a file cannot choose where its images are looked up. `meta` carries
    source-specific extras, e.g. the world's ground truth (`task`, `answer`, `leak_markers`) or
    an attack's provenance (`attack`, `orig_id`, `shot`, `rule`, `trigger`).
    """

    id: str
    query: str
    response: str | None = None
    image: str | None = None
    label: Label | None = None
    subset: Subset | None = None
    category: str | None = None
    source: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)
    image_root: str | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        del d["image_root"]
        d["meta"] = dict(self.meta)
        return d


def task_of(sample: Sample) -> Task:
    """The sample's task: `meta.task` if set, else its label (unsafe -> unsafe, safe -> benign)."""
    task = sample.meta.get("task")
    if task is None:
        if sample.label == "unsafe":
            return "unsafe"
        if sample.label == "safe":
            return "benign"
        raise InputError(
            "needs meta.task (unsafe/benign/utility) or a label (safe/unsafe) to be judged",
            record=sample.id,
            field="meta.task",
        )
    if task not in TASKS:
        raise InputError(
            f"unknown task {task!r}; expected one of {', '.join(TASKS)}",
            record=sample.id,
            field="meta.task",
        )
    return task
