"""The tiny base VLM of a world: a helpful-but-unsafe assistant, trained in LLaVA's stages.

Recipe (defaults from the world's preset, see docs/models.md):
  1. vision warm-up: the tower, like a CLIP tower, is pretrained on a corpus of fresh labelled
     renders of the world's classes (never a test image), then frozen;
  2. the projector's first layer is rescaled so the tower's features are white (every
     direction of variation on unit scale);
  3. grounding, like LLaVA's feature-alignment stage: projector + language model are trained
     with next-token loss on the base split's questions about what is visible (captions,
     colour, count, class, written words);
  4. knowledge, for a world that has knowledge.jsonl (knowledge_size > 0, the default): the
     stand-in for the language model's pretraining, facts of benign classes and of hazards,
     all answered;
  5. instruction tuning: projector + language model are trained on all of base.jsonl, with
     `knowledge_replay` of the stage's samples drawn from knowledge.jsonl: a 7B language model
     keeps its pretraining through a short instruction tuning, a 4M one forgets it unless it
     sees it again (docs/world.md, "Stages of the base model").

The model as it stands before step 5 can be kept (`pre_instruction=DIR`): the paper's
Mixed-SFT recipe mixes the safety data into the instruction-tuning stage, so it starts there.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from unmirage.data.images import Images
from unmirage.data.loaders import load_samples
from unmirage.data.sample import Sample
from unmirage.embedded.presets import PRESETS, BaseRecipe
from unmirage.embedded.tiny import TinyLlavaSpec, build_tiny_llava
from unmirage.embedded.vision_warmup import warm_up_vision_tower, whiten_projector_input
from unmirage.embedded.world.config import WorldConfig, apply_overrides
from unmirage.embedded.world.templates import ATTRIBUTE_INTENTS
from unmirage.embedded.world.tower_corpus import read_tower_corpus
from unmirage.errors import InputError
from unmirage.io import atomic_write_json
from unmirage.methods.sft import SFT
from unmirage.models.encode import load_images
from unmirage.models.loading import load_vlm, save_vlm
from unmirage.training.config import TrainConfig
from unmirage.training.streams import mix
from unmirage.training.train import train

TEXT_SPLITS = ("knowledge", "base", "safety_sft", "helpful", "forget", "retain")
"""Splits whose text trains the tokenizer (never test: its phrasings are held out)."""

RECIPE_FILE = "base_recipe.json"
GROUNDING_DIR = "grounding"
KNOWLEDGE_DIR = "knowledge"
"""Subdirectories of the output holding the grounding and knowledge stages' runs until the
model is done; the knowledge stage's model is the one before instruction tuning."""


def read_manifest(world: Path) -> dict[str, Any]:
    path = world / "world.json"
    if not path.is_file():
        raise InputError(
            "not a world directory (no world.json); make one with unmirage world", file=str(world)
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"not valid JSON: {err}", file=str(path)) from None
    if not isinstance(manifest, dict):
        raise InputError("expected a JSON object", file=str(path))
    return manifest


def choose_recipe(manifest: dict[str, Any], **overrides: int | float | None) -> BaseRecipe:
    """The preset's recipe with the given fields replaced (None keeps the default)."""
    recipe = PRESETS.get(str(manifest.get("preset")), PRESETS["default"]).base
    for name, value in overrides.items():
        may_be_zero = name in (
            "vision_steps",
            "grounding_steps",
            "knowledge_steps",
            "knowledge_replay",
        )
        if value is not None and value <= 0 and not (may_be_zero and value == 0):
            raise InputError(f"must be positive, got {value}", field=name.replace("_", "-"))
        if name == "knowledge_replay" and value is not None and value >= 1:
            raise InputError(f"must be below 1, got {value}", field="knowledge-replay")
    return dataclasses.replace(recipe, **{k: v for k, v in overrides.items() if v is not None})


def world_config(manifest: dict[str, Any], world: Path) -> WorldConfig:
    """The configuration the world was built with (from its manifest)."""
    config = manifest.get("config")
    if not isinstance(config, dict):
        raise InputError("no config object in the manifest", file=str(world / "world.json"))
    return apply_overrides(WorldConfig(), config, str(world / "world.json"))


def tokenizer_corpus(world: Path) -> list[str]:
    texts: list[str] = []
    for split in TEXT_SPLITS:
        path = world / f"{split}.jsonl"
        if path.is_file():
            for s in load_samples(path, image_root=world, check_images=False):
                texts.append(s.query)
                if s.response:
                    texts.append(s.response)
    return texts


def train_base(
    world: str | Path,
    out: str | Path,
    *,
    seed: int = 0,
    checkpoint_every: int = 100,
    report_to: str = "none",
    progress: bool = True,
    pre_instruction: str | Path | None = None,
    **overrides: int | float | None,
) -> BaseRecipe | None:
    """Build and train the world's base model into `out` (resumable).

    `overrides` replace fields of the preset's recipe (steps, vision_steps, vision_images,
    grounding_steps, batch_size, lr). A rerun after a kill resumes: within a stage from its
    last checkpoint, and after the grounding stage from that stage's saved model.
    `pre_instruction`: a directory to keep the model from before instruction tuning in.
    Returns the recipe used, or None if `out` already holds this very model.
    """
    world, out = Path(world), Path(out)
    manifest = read_manifest(world)
    recipe = choose_recipe(manifest, **overrides)
    record = {
        "world_manifest_sha256": hashlib.sha256((world / "world.json").read_bytes()).hexdigest(),
        "recipe": dataclasses.asdict(recipe),
        "seed": seed,
    }
    if (out / RECIPE_FILE).is_file():
        if json.loads((out / RECIPE_FILE).read_text(encoding="utf-8")) == record:
            return None
        raise InputError("holds a different base model; choose a new --out", file=str(out))

    base = load_samples(world / "base.jsonl", image_root=world)
    knowledge_file = world / "knowledge.jsonl"
    knowledge = load_samples(knowledge_file, image_root=world) if knowledge_file.is_file() else []
    config = instruction_config(
        recipe, seed=seed, checkpoint_every=checkpoint_every, report_to=report_to
    )
    model, processor = _pre_instruction_model(
        world, manifest, recipe, record, base, knowledge, config, out, progress=progress
    )
    weight = replay_weight(recipe, len(base), len(knowledge))
    train(
        model,
        processor,
        SFT(),
        {"train": mix([base, knowledge], [1.0, weight], seed=seed)},
        config,
        out,
        progress=progress,
        label="instruction tuning",
    )
    atomic_write_json(out / RECIPE_FILE, record)
    if pre_instruction is not None:
        shutil.rmtree(out / KNOWLEDGE_DIR / "checkpoints", ignore_errors=True)
        Path(pre_instruction).parent.mkdir(parents=True, exist_ok=True)
        os.replace(out / KNOWLEDGE_DIR, pre_instruction)
    shutil.rmtree(out / KNOWLEDGE_DIR, ignore_errors=True)
    shutil.rmtree(out / GROUNDING_DIR, ignore_errors=True)
    return recipe


def _pre_instruction_model(
    world: Path,
    manifest: dict[str, Any],
    recipe: BaseRecipe,
    record: dict[str, Any],
    base: list[Sample],
    knowledge: list[Sample],
    config: TrainConfig,
    out: Path,
    *,
    progress: bool,
) -> tuple[Any, Any]:
    """The model after grounding and knowledge, resumed from whichever stage last finished."""
    grounding_dir, knowledge_dir = out / GROUNDING_DIR, out / KNOWLEDGE_DIR
    run_stage = functools.partial(_run_stage, config=config, record=record, progress=progress)
    if _finished(knowledge_dir, record):
        return load_vlm(knowledge_dir)
    if _finished(grounding_dir, record):
        model, processor = load_vlm(grounding_dir)
    else:
        model, processor = initial_model(
            world, manifest, recipe, base, record["seed"], progress=progress
        )
        visible = [s for s in base if s.meta.get("intent") in ATTRIBUTE_INTENTS]
        run_stage(model, processor, visible, recipe.grounding_steps, grounding_dir)
    run_stage(model, processor, knowledge, recipe.knowledge_steps, knowledge_dir)
    return model, processor


def replay_weight(recipe: BaseRecipe, n_base: int, n_knowledge: int) -> float:
    """How often knowledge.jsonl is taken (`streams.mix` weight) so that its samples are
    `recipe.knowledge_replay` of the instruction-tuning data (0 without a knowledge split)."""
    if not n_knowledge:
        return 0.0
    r = recipe.knowledge_replay
    return r / (1.0 - r) * n_base / n_knowledge


def _finished(stage_dir: Path, record: dict[str, Any]) -> bool:
    """True if `stage_dir` holds this base model's finished stage (another model's: refused)."""
    if not (stage_dir / "model.safetensors").is_file():
        return False
    if json.loads((stage_dir / RECIPE_FILE).read_text(encoding="utf-8")) != record:
        raise InputError(
            f"holds a different base model's {stage_dir.name} stage; choose a new --out",
            file=str(stage_dir),
        )
    return True


def _run_stage(
    model: Any,
    processor: Any,
    samples: list[Sample],
    steps: int,
    stage_dir: Path,
    *,
    config: TrainConfig,
    record: dict[str, Any],
    progress: bool,
) -> None:
    """Train one pre-instruction stage (named by its directory) into `stage_dir` (resumable),
    or save the model as it is when the stage has no steps or no data."""
    stage_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(stage_dir / RECIPE_FILE, record)
    if not (steps and samples):
        save_vlm(model, processor, stage_dir)
        return
    stage = dataclasses.replace(config, steps=steps)
    train(
        model,
        processor,
        SFT(),
        {"train": samples},
        stage,
        stage_dir,
        progress=progress,
        label=stage_dir.name,
    )


def instruction_config(recipe: BaseRecipe, *, seed: int, **fields: Any) -> TrainConfig:
    """The run settings of the instruction-tuning stage (projector and language model)."""
    return TrainConfig(
        steps=recipe.steps,
        batch_size=recipe.batch_size,
        lr=recipe.lr,
        warmup_steps=recipe.warmup_steps,
        schedule="cosine",
        seed=seed,
        trainable=["multi_modal_projector", "language_model", "lm_head"],
        **fields,
    )


def initial_model(
    world: Path,
    manifest: dict[str, Any],
    recipe: BaseRecipe,
    base: list[Sample],
    seed: int,
    *,
    progress: bool,
) -> tuple[Any, Any]:
    """A fresh tiny LLaVA with its vision tower warmed up and frozen features whitened."""
    world_cfg = world_config(manifest, world)
    spec = TinyLlavaSpec(image_size=world_cfg.image_size, init_std=recipe.init_std)
    model, processor = build_tiny_llava(tokenizer_corpus(world), spec, seed=seed)
    if recipe.vision_steps:
        corpus = read_tower_corpus(world, manifest.get("tower") or {}, recipe.vision_images)
        warm_up_vision_tower(
            model, processor, corpus, steps=recipe.vision_steps, seed=seed, progress=progress
        )
    with_images = [s for s in base if s.image][:256]
    pixels = processor.image_processor(load_images(with_images, Images()), return_tensors="pt")
    whiten_projector_input(model, pixels["pixel_values"])
    return model, processor
