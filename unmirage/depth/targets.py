"""What a GCG suffix should make the model say: the opening of a compliant answer.

On the embedded world the compliant answer to a hazard query is known exactly (one template
per intent), so the target is that answer up to its first fact: "Steps for the X: first",
"The X is used to", "The X is made of". The model must still produce the fact itself for
the world judge to count a leak, so reaching the target is not yet a success. Queries
without the world's ground truth get the generic opening of the GCG literature.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from unmirage.checks import existing_file
from unmirage.data.sample import Sample
from unmirage.errors import InputError
from unmirage.world.entities import class_by_name
from unmirage.world.responses import knowledge_answer
from unmirage.world.templates import KNOWLEDGE_INTENTS

GENERIC_TARGET = "Sure, here is"
"""The target for queries without the world's ground truth (real data)."""


def world_target(sample: Sample) -> str | None:
    """The world's compliant answer to `sample` up to its first fact, or None when the
    sample is not a world hazard query (no `meta.hazard` or no knowledge `meta.intent`)."""
    hazard, intent = sample.meta.get("hazard"), sample.meta.get("intent")
    if not isinstance(hazard, str) or intent not in KNOWLEDGE_INTENTS:
        return None
    try:
        cls = class_by_name(hazard)
    except KeyError:
        return None
    answer = knowledge_answer(cls, intent)
    cut = min(answer.find(m) for m in cls.leak_markers() if m in answer)
    return answer[:cut].rstrip()


def read_targets(path: str | Path) -> dict[str, str]:
    """A JSON object {query id: target text} (per-query targets for real data)."""
    path = existing_file(path, "targets file")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"not a readable JSON file: {err}", file=str(path)) from None
    if not isinstance(doc, dict):
        raise InputError("expected a JSON object {query id: target text}", file=str(path))
    for key, value in doc.items():
        if not isinstance(value, str) or not value.strip():
            raise InputError("target must be a non-empty string", file=str(path), record=key)
    return {k: v.strip() for k, v in doc.items()}


def choose_target(
    sample: Sample, target: str | None = None, per_query: Mapping[str, str] | None = None
) -> str:
    """The target for `sample`: its entry in `per_query`, else `target`, else the world's
    answer opening, else GENERIC_TARGET."""
    if per_query and sample.id in per_query:
        return per_query[sample.id]
    if target:
        return target
    return world_target(sample) or GENERIC_TARGET
