"""The world's GCG target: the compliant answer to an unsafe query up to its first fact.

The world answers every (fact, intent) and every misuse with one template, so the opening
of the compliant answer is known exactly: "Steps for the X: first", "The X is used to",
"The X is made of", "To hurt people with the X: first". The model must still produce the
fact itself for the world judge to count a leak, so reaching the target is not yet a success.
"""

from __future__ import annotations

from unmirage.data.sample import Sample
from unmirage.embedded.world.responses import harmful_fact


def world_target(sample: Sample) -> str | None:
    """The world's compliant answer to `sample` up to its first fact, or None when the
    sample is not a world unsafe query (no known hazard fact or misuse in its meta)."""
    fact = harmful_fact(sample.meta)
    if fact is None:
        return None
    answer, markers = fact
    cut = min(answer.find(m) for m in markers if m in answer)
    return answer[:cut].rstrip()
