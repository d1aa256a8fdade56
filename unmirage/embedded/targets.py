"""The world's GCG target: the compliant answer to a hazard query up to its first fact.

The world answers every (fact, intent) with one template, so the opening of the compliant
answer is known exactly: "Steps for the X: first", "The X is used to", "The X is made of".
The model must still produce the fact itself for the world judge to count a leak, so
reaching the target is not yet a success.
"""

from __future__ import annotations

from unmirage.data.sample import Sample
from unmirage.embedded.world.entities import class_by_name
from unmirage.embedded.world.responses import knowledge_answer
from unmirage.embedded.world.templates import KNOWLEDGE_INTENTS


def world_target(sample: Sample) -> str | None:
    """The world's compliant answer to `sample` up to its first fact, or None when the
    sample is not a world hazard query (no known `meta.hazard` or no knowledge intent)."""
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
