"""Each compared model's data (files and weights per stream) and training settings: the
paper's Posthoc-SFT mix, Mixed-SFT inside the base's instruction tuning, unlearning lengths."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from unmirage.align import AlignSettings, resolve_settings
from unmirage.reproduce.config import (
    ReproduceConfig,
    recipe,
    unlearns,
)
from unmirage.reproduce.sources import Sources

OUTSIDE_VISION_ENCODER = r"^(?!.*(?:vision_tower|visual\.(?!merger)))"
"""Every parameter but the vision encoder's (LLaVA's `vision_tower`; Qwen2-VL's `visual`
blocks, whose `merger` is the projector): a real model's full fine-tuning keeps the encoder
frozen, as LLaVA-1.5's and VLGuard's fine-tuning do."""


def settings(config: ReproduceConfig, name: str, sources: Sources) -> AlignSettings:
    """The resolved training settings of one model (their hash keys its stage)."""
    method = recipe(name).method
    return resolve_settings(
        method,
        overrides={**_align_overrides(config, name, sources), "merge_lora": config.lora},
        lora=config.lora,
        seed=config.seed,
    )


def _align_overrides(config: ReproduceConfig, name: str, sources: Sources) -> dict[str, Any]:
    """The run settings a model trains with here: its recipe's and the preset's, then the
    user's. Mixed-SFT takes the base's instruction-tuning settings, with its steps scaled so
    that it passes over its data as often as the base stage passes over its own (the base
    split and the knowledge replay)."""
    from unmirage.embedded.base import instruction_config
    from unmirage.embedded.presets import PRESETS

    made = recipe(name)
    preset: dict[str, Any] = {}
    if config.embedded and made.start == "pre_instruction":
        base_recipe = PRESETS[config.preset].base
        files, weights = method_data(config, name, sources)
        mixed = sum(w * count_samples(p) for p, w in zip(files["train"], weights, strict=True))
        base_stage = count_samples(sources.data("base")) + _replay(config, sources)[1]
        steps = round(base_recipe.steps * mixed / base_stage)
        stage = instruction_config(base_recipe, seed=config.seed)
        preset = {
            "steps": steps,
            "lr": stage.lr,
            "batch_size": stage.batch_size,
            "warmup_steps": stage.warmup_steps,
            "schedule": stage.schedule,
            "trainable": stage.trainable,
        }
    elif config.embedded and unlearns(name):
        preset = dict(PRESETS[config.preset].unlearning)
    elif not config.embedded and not config.lora:
        preset = {"trainable": [OUTSIDE_VISION_ENCODER]}
    return {**preset, **config.align_overrides.get(name, {})}


def count_samples(path: Path) -> int:
    """How many samples the trainer reads from `path` (records as the reader loads them, in
    any supported format: a one-line or pretty-printed JSON counts the same)."""
    stat = path.stat()
    return _count_samples(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=32)
def _count_samples(path: str, mtime_ns: int, size: int) -> int:
    from unmirage.data.loaders import load_samples

    return len(load_samples(path, check_images=False))


def method_data(
    config: ReproduceConfig, name: str, sources: Sources
) -> tuple[dict[str, list[Path]], list[float]]:
    """A model's data files per stream, and the weights of the train stream's files: the
    helpfulness data at `helpful_ratio` samples per safety sample."""
    made = recipe(name)
    if unlearns(name):
        assert sources.forget is not None and sources.retain is not None
        return {"forget": [sources.forget], "retain": [sources.retain]}, []
    files = [sources.data(d) for d in made.data]
    weights = [1.0] * len(files)
    if "helpful" in made.data:
        wanted = config.helpful_ratio * count_samples(sources.safety)
        weights[made.data.index("helpful")] = wanted / count_samples(sources.data("helpful"))
    replay, _ = _replay(config, sources)
    if "base" in made.data and replay:
        files.append(sources.data("knowledge"))
        weights.append(replay)
    return {"train": files}, weights


def _replay(config: ReproduceConfig, sources: Sources) -> tuple[float, float]:
    """The base's knowledge replay (its weight on knowledge.jsonl, and the samples it adds):
    recipes that train in the base's instruction-tuning stage replay it as the base did."""
    from unmirage.embedded.base import replay_weight
    from unmirage.embedded.presets import PRESETS

    if sources.knowledge_data is None or sources.base_data is None:
        return 0.0, 0.0
    n_knowledge = count_samples(sources.knowledge_data)
    weight = replay_weight(
        PRESETS[config.preset].base, count_samples(sources.base_data), n_knowledge
    )
    return weight, weight * n_knowledge
