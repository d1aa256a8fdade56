"""The presets, one table: for each, the world's configuration, the base model's recipe, how
long unlearning trains and the depth stages' budget. `smoke` runs every stage in a minute or
two (CI: sizes only, every knob at its default); `default` is the README's demonstration.
Torch-free, so the command line lists them without loading a model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unmirage.depth.gcg_config import GCGConfig
from unmirage.depth.knobs import DepthKnobs, DepthPlan
from unmirage.depth.probes.knowledge import KnowledgeKnobs
from unmirage.depth.probes.relearn import RelearnKnobs
from unmirage.depth.probes.saliency import SaliencyKnobs
from unmirage.embedded.world.config import WorldConfig, load_config
from unmirage.errors import InputError


@dataclass(frozen=True)
class BaseRecipe:
    """Steps and rates of the base training for one world preset."""

    vision_steps: int
    vision_images: int
    grounding_steps: int
    knowledge_steps: int
    steps: int
    batch_size: int
    lr: float
    warmup_steps: int
    init_std: float = 0.06
    knowledge_replay: float = 0.2


@dataclass(frozen=True)
class Preset:
    """Everything a preset fixes."""

    world: WorldConfig
    base: BaseRecipe
    unlearning: Mapping[str, Any] = field(default_factory=dict)
    """Run settings of the unlearning recipes (their length)."""
    depth: DepthPlan = field(default_factory=DepthPlan)


PRESETS: dict[str, Preset] = {
    "smoke": Preset(
        world=WorldConfig(
            knowledge_size=144,
            base_size=240,
            sft_safe_images=40,
            sft_unsafe_images=38,
            helpful_size=197,
            forget_size=40,
            retain_size=80,
            test_unsafe=30,
            test_benign=30,
            test_utility=30,
            tower_images=2000,
        ),
        base=BaseRecipe(
            vision_steps=100,
            vision_images=2000,
            grounding_steps=10,
            knowledge_steps=60,
            steps=40,
            batch_size=16,
            lr=1e-3,
            warmup_steps=4,
        ),
        unlearning={"steps": 20},
        depth=DepthPlan(
            gcg=GCGConfig(steps=4, candidates=16, topk=8, suffix_len=4),
            gcg_queries=2,
            probes=DepthKnobs(
                {
                    "relearn": RelearnKnobs(steps=(0, 2, 5), queries=8),
                    "probe": KnowledgeKnobs(train_queries=60),
                    "saliency": SaliencyKnobs(queries=4, figure_queries=1),
                }
            ),
        ),
    ),
    "default": Preset(
        world=WorldConfig(),
        base=BaseRecipe(
            vision_steps=2000,
            vision_images=40000,
            grounding_steps=200,
            knowledge_steps=300,
            steps=500,
            batch_size=32,
            lr=1e-3,
            warmup_steps=30,
        ),
        unlearning={"steps": 450, "stop_at_leak": 0.02, "holdout": 0.1, "eval_every": 25},
        depth=DepthPlan(gcg=GCGConfig(), gcg_queries=20),
    ),
}
"""smoke: every stage runs (CI), unlearning 20 steps, depth at a token budget; default:
unlearning until at most 2% of a held-out tenth of the forget pairs leak (checked every 25
steps), at most 450 steps (docs/methods.md); GCG at its own default knobs (30 steps of 64
candidates) on 20 unsafe queries per model: with the prompt prefix cached a step costs about
0.14 s on the default model (two threads, idle machine), so a model that resists every query
costs about 65 s of GCG (NPO and RMU, seed 0); the other probes take 25-35 s per model
(docs/depth.md, Budget)."""


def preset(name: str) -> Preset:
    """The preset named `name`, or an InputError naming the choices."""
    if name not in PRESETS:
        choices = ", ".join(PRESETS)
        raise InputError(f"unknown preset {name!r}; choose one of {choices}", field="preset")
    return PRESETS[name]


def load_world_config(
    name: str = "default",
    config_file: str | Path | None = None,
    bias_from: str | Path | None = None,
) -> WorldConfig:
    """The preset's world, overridden by a YAML file, with first words from an audit."""
    return load_config(preset(name).world, config_file, bias_from, where=f"preset {name}")
