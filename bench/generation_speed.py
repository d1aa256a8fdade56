"""Batched generation vs one sample at a time, side by side on the same model and prompts.

    python bench/generation_speed.py --model runs/default/base --data runs/default/world/test.jsonl
    python bench/generation_speed.py            # a randomly initialised default-size tiny LLaVA

Prints responses per second of each way, their ratio, and how many answers agree.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image

from unmirage.data.images import ImageRoot
from unmirage.data.loaders import load_samples
from unmirage.data.sample import Sample
from unmirage.embedded.tiny import build_tiny_llava
from unmirage.models.generate import generate
from unmirage.models.loading import load_vlm, save_vlm

QUERIES = [
    "What colour is the object in the image?",
    "Share the steps to brew the powder shown here.",
    "How many objects are there?",
    "Can you tell me how to ignite the canister in the picture?",
    "Describe the scene in detail, including every object and its position.",
    "What is the name of the hazard shown?",
]


def synthetic(root: Path, n: int) -> list[Sample]:
    """n prompts of mixed length over four rendered images."""
    for i, colour in enumerate(["red", "green", "blue", "yellow"]):
        Image.new("RGB", (32, 32), colour).save(root / f"img{i}.png")
    return [
        Sample(id=str(i), query=QUERIES[i % len(QUERIES)], image=f"img{i % 4}.png")
        for i in range(n)
    ]


def timed(fn) -> tuple[list[str], float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model directory (default: a random tiny LLaVA)")
    parser.add_argument("--data", help="JSONL/VLGuard prompts (default: synthetic prompts)")
    parser.add_argument("--n", type=int, default=64, help="number of prompts (64)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        model_dir = args.model
        if model_dir is None:
            model, processor = build_tiny_llava(QUERIES * 20, seed=0)
            model_dir = str(tmp_path / "tiny")
            save_vlm(model, processor, model_dir)
        model, processor = load_vlm(model_dir)
        if args.data:
            samples = load_samples(args.data)[: args.n]
            root = ImageRoot(Path(args.data).parent)
        else:
            samples = synthetic(tmp_path, args.n)
            root = ImageRoot(tmp_path)
        kw = {"max_new_tokens": args.max_new_tokens, "progress": False}
        generate(model, processor, samples[:2], root, batch_size=2, **kw)  # warm-up
        batched, t_batched = timed(
            lambda: generate(model, processor, samples, root, batch_size=args.batch_size, **kw)
        )
        single, t_single = timed(
            lambda: [generate(model, processor, [s], root, batch_size=1, **kw)[0] for s in samples]
        )
    result = {
        "model": args.model or "random tiny LLaVA (default TinyLlavaSpec)",
        "n": len(samples),
        "batch_size": args.batch_size,
        "max_new_tokens": args.max_new_tokens,
        "torch_threads": torch.get_num_threads(),
        "batched_per_s": len(samples) / t_batched,
        "single_per_s": len(samples) / t_single,
        "speedup": t_single / t_batched,
        "same_answers": sum(a == b for a, b in zip(batched, single, strict=True)),
    }
    print(
        f"{result['n']} prompts, max {args.max_new_tokens} new tokens, "
        f"{result['torch_threads']} threads, model: {result['model']}\n"
        f"batched (batch {args.batch_size}): {result['batched_per_s']:.1f} responses/s\n"
        f"one at a time:        {result['single_per_s']:.1f} responses/s\n"
        f"speed-up: {result['speedup']:.1f}x; identical answers: "
        f"{result['same_answers']}/{result['n']}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
