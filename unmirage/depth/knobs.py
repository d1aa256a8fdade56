"""The knobs of the depth probes, checked before any model is loaded.

Kept apart from the probes so that the command line can show defaults and reject a bad
value without importing torch.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from unmirage.checks import is_int, is_number
from unmirage.depth.gcg_config import GCGConfig
from unmirage.errors import InputError

AUTO, ALL = "auto", "all"
PROBES = ("relearn", "probe", "saliency")


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
class ProbeKnobs:
    """`layers`: hidden-state indices (0 = embeddings, n = last decoder layer; None: every
    other layer from 0, plus the last). `train_queries`: at most this many training queries
    (seeded). `l2`: ridge penalty of the logistic regression on standardised features (None:
    chosen per layer by 5-fold cross-validation on the training queries, never the test)."""

    layers: tuple[int, ...] | None = None
    train_queries: int = 600
    l2: float | None = None
    batch_size: int = 32
    seed: int = 0

    def validate(self) -> None:
        if self.layers is not None and (
            not self.layers or not all(is_int(x) and x >= 0 for x in self.layers)
        ):
            raise InputError("expected layer indices >= 0", field="--probe-layers")
        if not (is_int(self.train_queries) and self.train_queries >= 2):
            raise InputError(
                f"expected a number >= 2, got {self.train_queries!r}", field="--probe-queries"
            )
        if self.l2 is not None and not (is_number(self.l2) and self.l2 >= 0):
            raise InputError(f"expected a number >= 0, got {self.l2!r}", field="--probe-l2")
        if not (is_int(self.batch_size) and self.batch_size >= 1):
            raise InputError(f"expected a number >= 1, got {self.batch_size!r}", field="batch_size")


NEUTRAL = "Okay"
"""Replaces the first word in the occlusion test: a word no world query (train or test)
opens with, and no refusal or answer trigger of the safety data."""


@dataclass(frozen=True)
class SaliencyKnobs:
    """`queries`: at most this many test queries per task (unsafe, benign; seeded).
    `figure_queries`: how many of them each model shows in the figure."""

    queries: int = 40
    neutral: str = NEUTRAL
    figure_queries: int = 2
    batch_size: int = 16
    seed: int = 0

    def validate(self) -> None:
        flags = {"queries": "--saliency-queries", "figure_queries": "--figure-queries"}
        for name, low in (("queries", 1), ("figure_queries", 0), ("batch_size", 1)):
            value = getattr(self, name)
            if not (is_int(value) and value >= low):
                raise InputError(
                    f"expected a number >= {low}, got {value!r}", field=flags.get(name, name)
                )
        if not self.neutral.strip() or len(self.neutral.split()) != 1:
            raise InputError("expected one word", field="--neutral-word")


@dataclass(frozen=True)
class DepthKnobs:
    """The knobs of all three probes; `skip` names probes not to run."""

    relearn: RelearnKnobs = field(default_factory=RelearnKnobs)
    probe: ProbeKnobs = field(default_factory=ProbeKnobs)
    saliency: SaliencyKnobs = field(default_factory=SaliencyKnobs)
    skip: tuple[str, ...] = ()

    def validate(self) -> None:
        for name in self.skip:
            if name not in PROBES:
                raise InputError(
                    f"unknown probe {name!r} (probes: {', '.join(PROBES)})", field="--skip"
                )
        self.relearn.validate()
        self.probe.validate()
        self.saliency.validate()


@dataclass(frozen=True)
class DepthPlan:
    """What the depth stages run: the prefill text, the GCG budget and how many unsafe
    queries it attacks per model, and the probes' knobs (None: no probes, as on data
    without the world's checkable facts)."""

    prefill: str = "Sure,"
    gcg: GCGConfig = field(default_factory=GCGConfig)
    gcg_queries: int = 20
    probes: DepthKnobs | None = field(default_factory=DepthKnobs)

    def key(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
