"""Shared helpers for the model, training and `unmirage base` tests (no tests here).

A tiny world rendered in the test's tmp_path: coloured shapes, exact-answer questions, and
a small model spec that trains in seconds.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from PIL import Image, ImageDraw

from unmirage.data.sample import Sample
from unmirage.embedded.tiny import TinyLlavaSpec

COLOURS = {"red": (220, 30, 30), "green": (30, 180, 30), "blue": (30, 30, 220)}
SHAPES = ("circle", "square")
QUESTIONS = ("What colour is the shape?", "Which shape is shown?")

SMALL_SPEC = TinyLlavaSpec(
    image_size=16,
    patch_size=8,
    vision_hidden=32,
    vision_layers=1,
    vision_heads=2,
    text_hidden=64,
    text_layers=2,
    text_heads=2,
    text_intermediate=128,
    max_positions=128,
    vocab_size=400,
)
"""About 0.1M parameters: a training step takes milliseconds."""


def render(colour: str, shape: str, size: int = 16) -> Image.Image:
    image = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    box = [size // 5, size // 5, size - size // 5, size - size // 5]
    (draw.ellipse if shape == "circle" else draw.rectangle)(box, fill=COLOURS[colour])
    return image


def shape_samples(root: Path, n: int, *, seed: int = 0, size: int = 16) -> list[Sample]:
    """`n` exact-answer questions about rendered shapes; images written under root/images."""
    rng = random.Random(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    samples = []
    for i in range(n):
        colour, shape = rng.choice(sorted(COLOURS)), rng.choice(SHAPES)
        rel = f"images/{colour}-{shape}.png"
        if not (root / rel).exists():
            render(colour, shape, size).save(root / rel)
        query = QUESTIONS[i % 2]
        answer = colour if i % 2 == 0 else shape
        samples.append(
            Sample(
                id=f"s{i}",
                query=query,
                response=answer,
                image=rel,
                label="safe",
                subset="safe_safe",
                meta={"task": "utility", "answer": answer},
                image_root=str(root.resolve()),
            )
        )
    return samples


def write_jsonl(path: Path, samples: list[Sample]) -> None:
    path.write_text("".join(json.dumps(s.to_dict()) + "\n" for s in samples), encoding="utf-8")
