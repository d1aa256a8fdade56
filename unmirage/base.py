"""The tiny base VLM of a world: a helpful-but-unsafe assistant trained on its base split.

Recipe (defaults from the world's preset, see docs/models.md):
  1. vision warm-up: the tower, like a CLIP tower, is pretrained on the image-text pairs
     (it predicts each image's object, attribute answers and response words), then frozen;
  2. the projector's first layer is rescaled so the tower's features vary on unit scale;
  3. projector + language model are trained with next-token loss on base.jsonl.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unmirage.data.images import ImageRoot
from unmirage.data.loaders import load_samples
from unmirage.errors import InputError
from unmirage.io import atomic_write_json
from unmirage.methods.sft import SFT
from unmirage.models.encode import load_images
from unmirage.models.tiny import TinyLlavaSpec, build_tiny_llava
from unmirage.models.vision_warmup import standardise_projector_input, warm_up_vision_tower
from unmirage.train import TrainConfig, train

TEXT_SPLITS = ("base", "safety_sft", "forget", "retain")
"""Splits whose text trains the tokenizer (never test: its phrasings are held out)."""

RECIPE_FILE = "base_recipe.json"


@dataclass(frozen=True)
class Recipe:
    """Steps and rates of the base training for one world preset."""

    vision_steps: int
    steps: int
    batch_size: int
    lr: float
    warmup_steps: int
    init_std: float = 0.06


RECIPES: dict[str, Recipe] = {
    "smoke": Recipe(vision_steps=100, steps=40, batch_size=16, lr=1e-3, warmup_steps=4),
    "default": Recipe(vision_steps=1000, steps=600, batch_size=32, lr=1e-3, warmup_steps=30),
}


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


def choose_recipe(manifest: dict[str, Any], **overrides: int | float | None) -> Recipe:
    """The preset's recipe with the given fields replaced (None keeps the default)."""
    recipe = RECIPES.get(str(manifest.get("preset")), RECIPES["default"])
    for name, value in overrides.items():
        if value is not None and value <= 0 and not (name == "vision_steps" and value == 0):
            raise InputError(f"must be positive, got {value}", field=name.replace("_", "-"))
    return dataclasses.replace(recipe, **{k: v for k, v in overrides.items() if v is not None})


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
    **overrides: int | float | None,
) -> Recipe | None:
    """Build and train the world's base model into `out` (resumable).

    `overrides` replace fields of the preset's recipe (steps, vision_steps, batch_size, lr).
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
    root = ImageRoot(world)
    image_size = int(manifest.get("config", {}).get("image_size", 32))
    spec = TinyLlavaSpec(image_size=image_size, init_std=recipe.init_std)
    model, processor = build_tiny_llava(tokenizer_corpus(world), spec, seed=seed)
    if recipe.vision_steps:
        warm_up_vision_tower(model, processor, base, root, steps=recipe.vision_steps, seed=seed)
    with_images = [s for s in base if s.image][:256]
    pixels = processor.image_processor(load_images(with_images, root), return_tensors="pt")
    standardise_projector_input(model, pixels["pixel_values"])
    config = TrainConfig(
        steps=recipe.steps,
        batch_size=recipe.batch_size,
        lr=recipe.lr,
        warmup_steps=recipe.warmup_steps,
        schedule="cosine",
        seed=seed,
        checkpoint_every=checkpoint_every,
        trainable=["multi_modal_projector", "language_model", "lm_head"],
        report_to=report_to,
    )
    train(model, processor, SFT(), {"train": base}, root, config, out, progress=progress)
    atomic_write_json(out / RECIPE_FILE, record)
    return recipe
