"""Write samples as our JSONL or as LLaVA conversation JSON, atomically.

Both round-trip through `load_samples`: LLaVA records keep our label, subset, category, source
and meta under the extra "unmirage" key, which LLaVA training code ignores.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from unmirage.data.loaders import IMAGE_TAG, LLAVA_ANNOTATION_KEY
from unmirage.data.sample import Sample
from unmirage.io import atomic_write_json, atomic_write_text


def write_jsonl(samples: Iterable[Sample], path: str | Path) -> None:
    """One `Sample.to_dict()` per line (UTF-8, non-ASCII kept as is)."""
    lines = [json.dumps(s.to_dict(), ensure_ascii=False) + "\n" for s in samples]
    atomic_write_text(path, "".join(lines))


def write_llava_json(samples: Iterable[Sample], path: str | Path) -> None:
    """One LLaVA record per sample: a human turn (with "<image>" if the sample has an image)
    and, if the sample has a response, a gpt turn."""
    atomic_write_json(path, [llava_record(s) for s in samples])


def llava_record(sample: Sample) -> dict[str, Any]:
    """The LLaVA conversation record of one sample."""
    query = f"{IMAGE_TAG}\n{sample.query}" if sample.image is not None else sample.query
    turns = [{"from": "human", "value": query}]
    if sample.response is not None:
        turns.append({"from": "gpt", "value": sample.response})
    record: dict[str, Any] = {"id": sample.id}
    if sample.image is not None:
        record["image"] = sample.image
    record["conversations"] = turns
    record[LLAVA_ANNOTATION_KEY] = {
        "label": sample.label,
        "subset": sample.subset,
        "category": sample.category,
        "source": sample.source,
        "meta": dict(sample.meta),
    }
    return record
