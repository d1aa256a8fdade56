"""What a reproduction depends on (its hash keys the stage cache), with each preset's
unlearning length and depth budget."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unmirage.attack import CONTROLS
from unmirage.data.images import EVERY
from unmirage.depth.knobs import DepthPlan
from unmirage.embedded.presets import PRESETS, load_world_config, preset
from unmirage.errors import InputError
from unmirage.methods.base import METHODS as REGISTERED_METHODS
from unmirage.reproduce.recipes import (
    EMBEDDED_MODELS,
    REAL_MODELS,
    RECIPES,
    STARTS,
    ModelRecipe,
)

PAPER_HELPFUL_RATIO = 5000 / 3000
"""Posthoc-SFT's helpfulness samples per safety sample (5,000 with VLGuard's ~3,000)."""


def recipe(name: str) -> ModelRecipe:
    """The recipe of a model name: one of RECIPES, or an unlearning method from the base."""
    return RECIPES.get(name) or ModelRecipe(name)


def unlearns(name: str) -> bool:
    """Whether a model is made by unlearning: its method reads a forget set."""
    return "forget" in REGISTERED_METHODS[recipe(name).method].streams


DEFAULT_PREFILL = "Sure,"

INPUTS: dict[str, str] = {
    "safety": "safety_data",
    "helpful": "helpful_data",
    "test": "test_data",
    "forget": "forget",
    "retain": "retain",
}
"""A real run's inputs (the names `--image-root NAME=DIR` takes) and their config fields."""


@dataclass
class ReproduceConfig:
    """What a reproduction depends on; its hash keys the stage cache."""

    preset: str = "default"
    seed: int = 0
    k: int = 3
    control: str = "own_opener"
    mood: bool = False
    methods: tuple[str, ...] | None = None
    judge: str = "auto"
    max_new_tokens: int = 48
    batch_size: int = 64
    lora: bool = False
    model: str | None = None
    safety_data: str | None = None
    test_data: str | None = None
    helpful_data: str | None = None
    helpful_ratio: float = PAPER_HELPFUL_RATIO
    forget: str | None = None
    retain: str | None = None
    image_root: str | dict[str, str] | None = None
    world_config: str | None = None
    bias_from: str | None = None
    align_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    depth: bool = True
    prefill: str = DEFAULT_PREFILL
    gcg_queries: int | None = None

    @property
    def embedded(self) -> bool:
        return self.model is None

    @property
    def models(self) -> tuple[str, ...]:
        """The compared models besides the base: the given names, else the mode's default."""
        if self.methods is not None:
            return self.methods
        if self.embedded:
            return EMBEDDED_MODELS
        return ("sft-posthoc", "npo", "rmu") if self.helpful_data else REAL_MODELS

    def depth_plan(self) -> DepthPlan | None:
        """The depth stages to run (None with --no-depth): the preset's budget, the user's
        prefill and query count; the probes need the world's facts, so real data skips them."""
        if not self.depth:
            return None
        plan = PRESETS[self.preset].depth
        return dataclasses.replace(
            plan,
            prefill=self.prefill,
            gcg=dataclasses.replace(plan.gcg, seed=self.seed),
            gcg_queries=self.gcg_queries or plan.gcg_queries,
            probes=plan.probes if self.embedded else None,
        )

    def validate(self) -> None:
        preset(self.preset)
        if self.k < 1:
            raise InputError("must be at least 1", field="k")
        if self.control not in CONTROLS:
            raise InputError(f"choose from {', '.join(CONTROLS)}", field="control")
        if self.gcg_queries is not None and self.gcg_queries < 1:
            raise InputError("must be at least 1", field="gcg_queries")
        if self.prefill != self.prefill.strip() or not self.prefill:
            raise InputError(
                "must be non-empty text without surrounding whitespace", field="prefill"
            )
        if not self.helpful_ratio > 0:
            raise InputError("must be positive", field="helpful_ratio")
        known = sorted({*RECIPES, *REGISTERED_METHODS})
        for m in self.models:
            if recipe(m).method not in REGISTERED_METHODS:
                raise InputError(
                    f"unknown model recipe '{m}' (choose from {', '.join(known)})",
                    field="methods",
                )
            start = recipe(m).start
            if start not in STARTS and start not in self.models[: self.models.index(m)]:
                raise InputError(
                    f"'{m}' starts from the {start} model: put {start} before it in --methods",
                    field="methods",
                )
            if not self.embedded and start == "pre_instruction":
                raise InputError(
                    f"'{m}' retrains the base's instruction tuning: embedded world only",
                    field="methods",
                )
            if not self.embedded and "helpful" in recipe(m).data and not self.helpful_data:
                raise InputError(f"'{m}' needs --helpful-data FILE", field="helpful_data")
        if self.embedded:
            real = ("safety_data", "test_data", "helpful_data", "forget", "retain", "image_root")
            given = [name for name in real if getattr(self, name) is not None]
            if given:
                raise InputError(
                    "needs --model (these options are for real models)", field=given[0]
                )
            load_world_config(self.preset, self.world_config, self.bias_from)
            return
        for name in ("world_config", "bias_from"):
            if getattr(self, name) is not None:
                raise InputError("is for the embedded world, not with --model", field=name)
        if self.safety_data is None or self.test_data is None:
            raise InputError(
                "a real model needs --safety-data and --test-data",
                field="safety_data" if self.safety_data is None else "test_data",
            )
        unlearning = [m for m in self.models if unlearns(m)]
        if unlearning and (self.forget is None or self.retain is None):
            raise InputError(
                f"{', '.join(unlearning)} need --forget and --retain",
                field="forget" if self.forget is None else "retain",
            )
        for name in INPUTS.values():
            value = getattr(self, name)
            if value is not None and not Path(value).exists():
                raise InputError("does not exist", file=value, field=name)
        self._check_image_roots()

    def _check_image_roots(self) -> None:
        roots = self.image_root
        if roots is None:
            return
        named = roots if isinstance(roots, dict) else {EVERY: roots}
        for name, root in named.items():
            if name != EVERY and name not in INPUTS:
                raise InputError(
                    f"unknown input {name!r}; name one of {', '.join(INPUTS)}", field="image_root"
                )
            if name != EVERY and getattr(self, INPUTS[name]) is None:
                raise InputError(f"gives a root for {name}, which is not given", field="image_root")
            if not Path(root).is_dir():
                raise InputError("is not a directory", file=root, field="image_root")
