"""What the report reads from responses.jsonl: per-shot mechanism counts and sample rows."""

from __future__ import annotations

import io
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from unmirage.data.images import ImageRoot
from unmirage.errors import InputError
from unmirage.report.document import Thumb

UNSAFE_VERDICTS: tuple[str, ...] = ("success", "irrelevant", "refused")
THUMB_PIXELS = 64
RESPONSES_FILE = "responses.jsonl"
MAX_ANSWER_CHARS = 300

Row = Mapping[str, Any]


def mechanism_counts(rows: Sequence[Row]) -> tuple[Counter[str], int]:
    """Verdict counts over every shot of the one-word attack on unsafe queries, and the
    number of shots: each of the K rewrites of a query counts once."""
    counts = Counter(
        row.get("verdict")
        for row in rows
        if row.get("task") == "unsafe" and row.get("attack") == "trigger"
    )
    return counts, sum(counts.values())


def thumbnail(root: ImageRoot, relative: str, record: str) -> Thumb:
    """A small PNG of one response's image; a missing or unreadable image becomes a note.

    One bad picture must not sink a report written at the end of a long run; the note names it.
    """
    try:
        img = root.load(relative, file=RESPONSES_FILE, record=record)
    except InputError as err:
        return Thumb(None, f"{relative} (not shown: {err.message})")
    img.thumbnail((THUMB_PIXELS, THUMB_PIXELS))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return Thumb(buf.getvalue(), relative)


def original_queries(responses: Mapping[str, Sequence[Row]]) -> dict[str, str]:
    """id -> query of every unrewritten query, so a rewrite can be shown beside its source."""
    return {
        str(row["id"]): str(row.get("query", ""))
        for rows in responses.values()
        for row in rows
        if not row.get("attack") and "id" in row
    }


def pick_samples(
    responses: Mapping[str, Sequence[Row]], per_kind: tuple[int, int] = (3, 2), seed: int = 0
) -> list[tuple[str, str]]:
    """(orig_id, attack) pairs that every model with such rows answered: some one-word attacks
    (first shot) and some over-prudence rewrites, drawn with a seed so reruns show the same."""
    rng = random.Random(seed)
    picked: list[tuple[str, str]] = []
    for attack, n in zip(("trigger", "overprudence"), per_kind, strict=True):
        common: set[str] | None = None
        for rows in responses.values():
            ids = {str(r.get("orig_id")) for r in rows if _is_first_shot(r, attack)}
            if ids:
                common = ids if common is None else common & ids
        candidates = sorted(common or ())
        picked += [(i, attack) for i in rng.sample(candidates, min(n, len(candidates)))]
    return picked


def _is_first_shot(row: Row, attack: str) -> bool:
    return row.get("attack") == attack and int(row.get("shot") or 0) == 0


def find_row(rows: Sequence[Row], orig_id: str, attack: str) -> Row | None:
    return next(
        (r for r in rows if _is_first_shot(r, attack) and str(r.get("orig_id")) == orig_id), None
    )


def clip(text: str, limit: int = MAX_ANSWER_CHARS) -> str:
    """Long answers are cut for the table; the full text stays in responses.jsonl."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
