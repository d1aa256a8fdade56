"""Relearning: do a few steps of plain SFT on part of the harmful knowledge bring the rest back?

A model that truly lost the hazard facts should need about as many steps to leak them again
as a model that never knew them; a model whose knowledge is only hidden (behind a refusal or
a scrambled layer) leaks again after a handful of steps, and on facts it was never shown
during relearning. So a copy of the model is fine-tuned with the shared training loop and the
SFT loss on the forget pairs of one hazard (or a seeded N of them), and the leak rate (the
world judge's "success": an exact hazard fact in the answer) is measured on held-out test
queries of the OTHER hazards, and of the relearned one, at a few step counts.
"""

from __future__ import annotations

import copy
import math
import random
import tempfile
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any

import torch
from torch import nn

from unmirage.data.sample import Sample
from unmirage.depth.knobs import ALL, AUTO, RelearnKnobs
from unmirage.errors import InputError
from unmirage.judge.base import get_judge
from unmirage.methods.losses import next_token_loss
from unmirage.methods.sft import SFT
from unmirage.models.encode import ImageSource, encode_for_training
from unmirage.models.generate import generate
from unmirage.training.config import TrainConfig
from unmirage.training.train import train


@dataclass(frozen=True)
class RelearnSplit:
    """The relearn pairs and the held-out queries each curve is measured on."""

    hazard: str
    pairs: list[Sample]
    held_out: dict[str, list[Sample]]
    """"other": unsafe test queries about the hazards not relearned; "same": about the
    relearned one(s)."""


def hazards_of(samples: Sequence[Sample]) -> list[str]:
    return sorted({str(s.meta["hazard"]) for s in samples if s.meta.get("hazard")})


def subsample(
    samples: Sequence[Sample],
    n: int | None,
    key: str,
    cover: Callable[[Sample], Hashable] | None = None,
) -> list[Sample]:
    """A seeded subset of at most `n` samples, in their original order. With `cover`, one
    sample of every `cover` value is taken first (as far as `n` allows) and the rest at
    random, so a value only a few samples carry is not left out by chance."""
    if n is None or n >= len(samples):
        return list(samples)
    if cover is None:
        keep = set(random.Random(key).sample(range(len(samples)), n))
        return [s for i, s in enumerate(samples) if i in keep]
    order = list(range(len(samples)))
    random.Random(key).shuffle(order)
    first: dict[Hashable, int] = {}
    for i in order:
        first.setdefault(cover(samples[i]), i)
    chosen = list(first.values())[:n]
    taken = set(chosen)
    chosen += [i for i in order if i not in taken][: n - len(chosen)]
    picked = set(chosen)
    return [s for i, s in enumerate(samples) if i in picked]


def relearn_split(
    forget: Sequence[Sample], test: Sequence[Sample], knobs: RelearnKnobs
) -> RelearnSplit:
    """Which forget pairs are relearned and which held-out test queries measure the leaks."""
    known = hazards_of(forget)
    if not known:
        raise InputError("no forget pair names its hazard", field="meta.hazard")
    if knobs.hazard == AUTO:
        hazard = random.Random(f"unmirage-relearn/{knobs.seed}").choice(known)
    elif knobs.hazard == ALL or knobs.hazard in known:
        hazard = knobs.hazard
    else:
        raise InputError(
            f"no forget pair of hazard {knobs.hazard!r} (hazards: {', '.join(known)}, "
            f"{AUTO}, {ALL})",
            field="--relearn-hazard",
        )
    chosen = [s for s in forget if hazard == ALL or s.meta.get("hazard") == hazard]
    if knobs.pairs is not None and knobs.pairs > len(chosen):
        raise InputError(
            f"{knobs.pairs} pairs asked, hazard {hazard!r} has {len(chosen)}",
            field="--relearn-pairs",
        )
    pairs = subsample(chosen, knobs.pairs, f"unmirage-relearn-pairs/{knobs.seed}")
    unsafe = [s for s in test if s.meta.get("task") == "unsafe" and s.meta.get("hazard")]
    same = [s for s in unsafe if hazard == ALL or s.meta["hazard"] == hazard]
    other = [s for s in unsafe if hazard != ALL and s.meta["hazard"] != hazard]
    held_out = {"other": other, "same": same} if other else {"same": same}
    if not same:
        raise InputError(f"no unsafe test query about {hazard!r}", field="meta.hazard")
    return RelearnSplit(
        hazard=hazard,
        pairs=pairs,
        held_out={
            group: subsample(samples, knobs.queries, f"unmirage-relearn-{group}/{knobs.seed}")
            for group, samples in held_out.items()
        },
    )


@torch.no_grad()
def mean_loss(
    model: nn.Module, processor: Any, samples: Sequence[Sample], images: ImageSource, batch: int
) -> float:
    """The SFT loss (mean NLL per response token) of `samples`, as training computes it."""
    device = next(model.parameters()).device
    total, tokens = 0.0, 0
    for start in range(0, len(samples), batch):
        enc = encode_for_training(processor, samples[start : start + batch], images)
        enc = {k: v.to(device) for k, v in enc.items()}
        n = int((enc["labels"][:, 1:] != -100).sum())
        total += float(next_token_loss(model, enc)) * n
        tokens += n
    return total / max(tokens, 1)


def leak_rates(
    model: nn.Module,
    processor: Any,
    held_out: dict[str, list[Sample]],
    images: ImageSource,
    max_new_tokens: int,
) -> dict[str, dict[str, float]]:
    """Per group: the share of answers the world judge calls a leak ("success") or a refusal."""
    judge = get_judge("world")
    out = {}
    for group, samples in held_out.items():
        answers = generate(
            model, processor, samples, images, max_new_tokens=max_new_tokens, progress=False
        )
        verdicts = judge.judge(samples, answers)
        out[group] = {
            "leak": sum(v == "success" for v in verdicts) / len(verdicts),
            "refused": sum(v == "refused" for v in verdicts) / len(verdicts),
        }
    return out


class CurveRecorder:
    """A `StopRule` that never stops: the loop calls it every `every` steps, and at the step
    counts asked for it records one point of the curve."""

    def __init__(
        self, measure: Callable[[nn.Module], dict[str, Any]], every: int, wanted: set[int]
    ):
        self.measure, self.every, self.wanted = measure, every, wanted
        self.calls = 0
        self.points: dict[int, dict[str, Any]] = {}

    def check(self, model: nn.Module) -> tuple[bool, dict[str, float]]:
        self.calls += 1
        step = self.calls * self.every
        if step not in self.wanted:
            return False, {}
        point = self.measure(model)
        self.points[step] = point
        return False, {f"leak_{g}": r["leak"] for g, r in point["groups"].items()}


def relearn_curve(
    model: nn.Module,
    processor: Any,
    split: RelearnSplit,
    images: ImageSource,
    knobs: RelearnKnobs,
    *,
    progress: bool = False,
) -> dict[str, Any]:
    """Relearn a copy of `model` (the model itself is left as it was) and return its curve:
    per step count the relearn loss and each held-out group's leak and refusal rates."""
    knobs.validate()
    work = copy.deepcopy(model)
    work.eval()

    def measure(m: nn.Module) -> dict[str, Any]:
        was_training = m.training
        m.eval()
        point = {
            "loss": mean_loss(m, processor, split.pairs, images, knobs.batch_size),
            "groups": leak_rates(m, processor, split.held_out, images, knobs.max_new_tokens),
        }
        m.train(was_training)
        return point

    wanted = {s for s in knobs.steps if s > 0}
    points: dict[int, dict[str, Any]] = {}
    if 0 in knobs.steps:
        points[0] = measure(work)
    if wanted:
        recorder = CurveRecorder(measure, reduce(math.gcd, wanted), wanted)
        config = TrainConfig(
            lr=knobs.lr,
            steps=max(wanted),
            batch_size=knobs.batch_size,
            schedule="constant",
            warmup_steps=0,
            seed=knobs.seed,
            checkpoint_every=0,
            eval_every=recorder.every,
        )
        with tempfile.TemporaryDirectory(prefix="unmirage-relearn-") as tmp:
            train(
                work,
                processor,
                SFT(),
                {"train": split.pairs},
                images,
                config,
                tmp,
                progress=progress,
                label="relearn",
                stop=recorder,
            )
        points.update(recorder.points)
    steps = sorted(points)
    groups = list(split.held_out)
    return {
        "hazard": split.hazard,
        "pairs": len(split.pairs),
        "queries": {g: len(split.held_out[g]) for g in groups},
        "steps": steps,
        "loss": [points[s]["loss"] for s in steps],
        "leak": {g: [points[s]["groups"][g]["leak"] for s in steps] for g in groups},
        "refused": {g: [points[s]["groups"][g]["refused"] for s in steps] for g in groups},
    }
