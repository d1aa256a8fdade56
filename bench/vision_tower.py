"""How well the warmed-up vision tower sees unseen renders, by corpus size and steps.

For each setting a fresh tiny LLaVA's tower is warmed up (`warm_up_vision_tower`) on a
labelled corpus of `--images` renders of the world's preset, then frozen; linear probes on
its mean-pooled last hidden states are fitted on 3000 other renders and scored on 1500 more,
none of them in the training corpus. Written words count as "word" (reading), objects as
"class"; colour and count are scored on objects only.

    python bench/vision_tower.py --settings 5600:2000 40000:2000 --threads 2
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch import nn

from unmirage.embedded.presets import PRESETS
from unmirage.embedded.tiny import TinyLlavaSpec, build_tiny_llava
from unmirage.embedded.vision_warmup import processed_pixels, warm_up_vision_tower
from unmirage.embedded.world.tower_corpus import TowerCorpus, tower_corpus

TOKENIZER_TEXT = ["a tiny corpus for the tokenizer, which this bench never uses"] * 20


def probe(train: torch.Tensor, y_train: torch.Tensor, test: torch.Tensor, y_test: torch.Tensor):
    """Held-out accuracy of a linear probe (rows with label -1 are left out)."""
    keep_train, keep_test = y_train >= 0, y_test >= 0
    x, y = train[keep_train], y_train[keep_train]
    mean, std = x.mean(0), x.std(0).clamp_min(1e-6)
    head = nn.Linear(x.shape[1], int(y.max()) + 1)
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-2)
    for _ in range(400):
        optimizer.zero_grad()
        nn.functional.cross_entropy(head((x - mean) / std), y).backward()
        optimizer.step()
    with torch.no_grad():
        guess = head((test[keep_test] - mean) / std).argmax(1)
    return round(float((guess == y_test[keep_test]).float().mean()), 3)


def features(model, processor, corpus: TowerCorpus) -> torch.Tensor:
    with torch.no_grad():
        pixels = processed_pixels(processor, corpus.pixels)
        out = model.model.vision_tower(pixel_values=pixels, output_hidden_states=True)
    return out.hidden_states[-1].mean(dim=1)


def measure(preset: str, images: int, steps: int, seed: int) -> dict:
    config = PRESETS[preset].world
    corpus = tower_corpus(config, images, seed=seed)
    fit = tower_corpus(config, 3000, seed=seed + 1000, exclude=set(corpus.names))
    held_out = tower_corpus(config, 1500, seed=seed + 2000, exclude={*corpus.names, *fit.names})
    model, processor = build_tiny_llava(TOKENIZER_TEXT, TinyLlavaSpec(config.image_size))
    start = time.monotonic()
    warm_up_vision_tower(model, processor, corpus, steps=steps, seed=seed)
    seconds = time.monotonic() - start
    x_fit, x_test = features(model, processor, fit), features(model, processor, held_out)
    text = held_out.label_names["kind"].index("text")
    result: dict = {"images": images, "steps": steps, "warm_up_seconds": round(seconds, 1)}
    for name in ("class", "colour", "count"):
        y_fit, y_test = (torch.from_numpy(c.labels[name].copy()) for c in (fit, held_out))
        is_text = torch.from_numpy(held_out.labels["kind"] == text)
        objects = torch.where(is_text, -1, y_test)
        result[name] = probe(x_fit, y_fit, x_test, objects)
        if name == "class":
            result["word"] = probe(x_fit, y_fit, x_test, torch.where(is_text, y_test, -1))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default", choices=sorted(PRESETS))
    parser.add_argument(
        "--settings", nargs="+", default=["5600:2000", "40000:2000"], help="IMAGES:STEPS pairs"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for setting in args.settings:
        images, steps = (int(v) for v in setting.split(":"))
        print(json.dumps(measure(args.preset, images, steps, args.seed)), flush=True)


if __name__ == "__main__":
    main()
