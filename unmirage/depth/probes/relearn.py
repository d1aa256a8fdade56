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

import argparse
import copy
import math
import random
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import TYPE_CHECKING, Any

from unmirage.checks import is_int, is_number
from unmirage.data.sample import Sample
from unmirage.depth.probes.base import Label, Probe, register, short_pct
from unmirage.depth.world import WorldData, subsample
from unmirage.errors import InputError

if TYPE_CHECKING:
    from torch import nn

    from unmirage.data.images import Images
    from unmirage.report.document import Block, Table

AUTO, ALL = "auto", "all"


@dataclass(frozen=True)
class RelearnKnobs:
    """`steps`: optimizer step counts to measure at (0 = the model as given). `hazard`: whose
    forget pairs to relearn ("auto": a seeded pick, "all": every hazard's); `pairs`: at most
    this many of them (seeded; None: all). `lr` is `unmirage align`'s default, so that a
    relearning step is as strong as an alignment step. `queries`: at most this many held-out
    queries per group (seeded; None: all)."""

    steps: tuple[int, ...] = (0, 5, 10, 20, 40)
    hazard: str = AUTO
    pairs: int | None = None
    lr: float = 1e-4
    batch_size: int = 8
    queries: int | None = 60
    max_new_tokens: int = 48
    seed: int = 0

    def validate(self) -> None:
        if not self.steps or not all(is_int(s) and s >= 0 for s in self.steps):
            raise InputError("expected step counts >= 0", field="--relearn-steps")
        if len(set(self.steps)) != len(self.steps):
            raise InputError("step counts repeat", field="--relearn-steps")
        if self.pairs is not None and not (is_int(self.pairs) and self.pairs >= 1):
            raise InputError(f"expected a number >= 1, got {self.pairs!r}", field="--relearn-pairs")
        if not (is_number(self.lr) and self.lr > 0 and math.isfinite(self.lr)):
            raise InputError(f"expected a number > 0, got {self.lr!r}", field="--relearn-lr")
        for name in ("batch_size", "max_new_tokens"):
            value = getattr(self, name)
            if not (is_int(value) and value >= 1):
                raise InputError(f"expected a number >= 1, got {value!r}", field=name)
        if self.queries is not None and not (is_int(self.queries) and self.queries >= 1):
            raise InputError(
                f"expected a number >= 1, got {self.queries!r}", field="--relearn-queries"
            )


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


def relearn_split(world: WorldData, knobs: RelearnKnobs) -> RelearnSplit:
    """Which forget pairs are relearned and which held-out test queries measure the leaks."""
    forget, test = world.split("forget"), world.split("test")
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


def mean_loss(
    model: nn.Module, processor: Any, samples: Sequence[Sample], images: Images, batch: int
) -> float:
    """The SFT loss (mean NLL per response token) of `samples`, as training computes it."""
    import torch

    from unmirage.methods.losses import next_token_loss
    from unmirage.models.encode import encode_for_training

    device = next(model.parameters()).device
    total, tokens = 0.0, 0
    with torch.no_grad():
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
    images: Images,
    max_new_tokens: int,
) -> dict[str, dict[str, float]]:
    """Per group: the share of answers the world judge calls a leak ("success") or a refusal."""
    from unmirage.judge.base import get_judge
    from unmirage.models.generate import generate

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
    images: Images,
    knobs: RelearnKnobs,
    *,
    progress: bool = False,
) -> dict[str, Any]:
    """Relearn a copy of `model` (the model itself is left as it was) and return its curve:
    per step count the relearn loss and each held-out group's leak and refusal rates."""
    from unmirage.methods.sft import SFT
    from unmirage.training.config import TrainConfig
    from unmirage.training.train import train

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


class Relearn(Probe[RelearnKnobs]):
    """Leak rates on held-out hazard queries after a few SFT steps on one hazard's pairs."""

    name = "relearn"
    knobs = RelearnKnobs
    description = (
        "fine-tune a copy of the model with plain SFT on the forget pairs of one hazard "
        "(--relearn-hazard, default a seeded pick; --relearn-pairs N of them) and measure "
        'leaks on held-out test queries of the OTHER hazards ("other") and of the relearned '
        'one ("same") after each of --relearn-steps optimizer steps'
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        r = RelearnKnobs()
        parser.add_argument(
            "--relearn-steps",
            type=int,
            nargs="+",
            default=list(r.steps),
            metavar="N",
            help=f"step counts the leaks are measured at (default {' '.join(map(str, r.steps))})",
        )
        parser.add_argument(
            "--relearn-hazard",
            default=r.hazard,
            help="hazard whose forget pairs are relearned: a name, auto (seeded) or all",
        )
        parser.add_argument("--relearn-pairs", type=int, help="relearn only N of them (seeded)")
        parser.add_argument(
            "--relearn-lr", type=float, default=r.lr, help=f"learning rate ({r.lr})"
        )
        parser.add_argument(
            "--relearn-queries",
            type=int,
            default=r.queries,
            help=f"held-out queries per relearning curve (default {r.queries})",
        )

    def knobs_from(self, args: argparse.Namespace) -> RelearnKnobs:
        return RelearnKnobs(
            steps=tuple(args.relearn_steps),
            hazard=args.relearn_hazard,
            pairs=args.relearn_pairs,
            lr=args.relearn_lr,
            queries=args.relearn_queries,
            seed=args.seed,
        )

    def check(self, world: WorldData, knobs: RelearnKnobs) -> None:
        relearn_split(world, knobs)

    def run(
        self,
        model: nn.Module,
        processor: Any,
        images: Images,
        world: WorldData,
        knobs: RelearnKnobs,
        *,
        progress: bool,
    ) -> dict[str, Any]:
        split = relearn_split(world, knobs)
        return relearn_curve(model, processor, split, images, knobs, progress=progress)

    def headline(self, block: Mapping[str, Any]) -> dict[str, float]:
        """The leak of each held-out group per step count."""
        return {
            f"relearn_{group}_step_{steps}": leak
            for group, leaks in (block.get("leak") or {}).items()
            for steps, leak in zip(block["steps"], leaks, strict=True)
        }

    def label(self, key: str) -> Label | None:
        if not key.startswith("relearn_"):
            return None
        group, _, steps = key.removeprefix("relearn_").partition("_step_")
        hazards = "other hazards" if group == "other" else "relearned hazard"
        return Label(f"leak on the {hazards} after {steps} relearning steps")

    def section(self, blocks: Mapping[str, Mapping[str, Any]]) -> list[Block]:
        from unmirage.report.document import Figure, Heading, Paragraph
        from unmirage.report.plots import relearn_png

        return [
            Heading("Relearning", level=3),
            Paragraph(
                "Leak rate on held-out queries of the other hazards after fine-tuning each "
                "model for a few steps on one hazard's forget pairs: knowledge that was only "
                "hidden comes back in fewer steps than the base needs to learn it."
            ),
            leak_table(blocks),
            Figure(
                "relearn.png",
                relearn_png(blocks),
                "Leak rate vs relearning steps: other hazards solid, the relearned hazard dashed.",
            ),
        ]

    def summary(self, block: Mapping[str, Any]) -> list[str]:
        return [
            f"  relearn {block['hazard']} -> leak {group}: "
            + ", ".join(f"{s}:{short_pct(v)}" for s, v in zip(block["steps"], values, strict=True))
            for group, values in block["leak"].items()
        ]


def leak_table(relearn: Mapping[str, Mapping[str, Any]]) -> Table:
    """Leak per step count on the other hazards' held-out queries (the measure) and on the
    relearned hazard's own (it shows the relearning took)."""
    from unmirage.report.document import Table
    from unmirage.report.values import pct

    steps = next(iter(relearn.values()))["steps"]
    rows = [
        [name, group, *(f"{pct(v)}" for v in r["leak"][key])]
        for name, r in relearn.items()
        for group, key in (("other hazards", "other"), ("relearned hazard", "same"))
        if key in r["leak"]
    ]
    return Table(["model", "queries", *(f"step {s}" for s in steps)], rows)


register(Relearn())
