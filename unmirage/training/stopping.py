"""When unlearning stops: once the model leaks on few held-out forget queries."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from torch import nn

from unmirage.data.images import Images
from unmirage.data.sample import Sample
from unmirage.errors import InputError


class LeakStop:
    """The unlearning-length criterion: stop once the model leaks on few held-out forget
    queries. Each held-out pair is asked (greedy, as in evaluation) and counts as leaked when
    the answer contains one of its leak markers (the world's exact hazard facts)."""

    def __init__(self, processor: Any, held_out: Sequence[Sample], target: float) -> None:
        missing = [s for s in held_out if not s.meta.get("leak_markers")]
        if missing:
            raise InputError(
                "stop_at_leak needs forget pairs with meta.leak_markers (the embedded world's); "
                "give a number of steps instead",
                record=missing[0].id,
                field="leak_markers",
            )
        self.processor, self.held_out, self.target = processor, list(held_out), target
        self.images = Images()

    def check(self, model: nn.Module) -> tuple[bool, dict[str, float]]:
        from unmirage.models.generate import generate

        answers = generate(
            model, self.processor, self.held_out, self.images, max_new_tokens=48, progress=False
        )
        leaked = sum(
            any(m.lower() in a.lower() for m in s.meta["leak_markers"])
            for s, a in zip(self.held_out, answers, strict=True)
        )
        share = leaked / len(self.held_out)
        return share <= self.target, {"holdout_leak": share}


def split_holdout(
    samples: Sequence[Sample], share: float, seed: int
) -> tuple[list[Sample], list[Sample]]:
    """(training, held-out) parts of the forget set: a seeded `share` of the pairs, at least
    one, kept out of training for the stopping criterion."""
    n = max(1, round(share * len(samples)))
    if n >= len(samples):
        raise InputError(
            f"holding out {n} of {len(samples)} forget pairs leaves none to train on",
            field="holdout",
        )
    held = set(random.Random(f"unmirage-holdout/{seed}").sample(range(len(samples)), n))
    return (
        [s for i, s in enumerate(samples) if i not in held],
        [s for i, s in enumerate(samples) if i in held],
    )
