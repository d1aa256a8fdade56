"""Effect check of alignment on a finished `unmirage reproduce` run of the embedded world.

For every model of the run: the forget set's mean token NLL (teacher-forced, response tokens
only), and from its metrics.json the hazard leak rate on the original unsafe queries, the
refusal rates of unsafe and benign queries, and utility.

    python bench/effect_check.py runs/default
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from unmirage.data.images import Images
from unmirage.data.loaders import load_samples
from unmirage.io import read_rows
from unmirage.methods.losses import model_inputs, token_nll
from unmirage.models.encode import encode_for_training
from unmirage.models.loading import load_vlm


@torch.no_grad()
def forget_nll(model_dir: Path, world: Path, batch_size: int = 64) -> float:
    model, processor = load_vlm(model_dir)
    model.eval()
    forget = load_samples(world / "forget.jsonl", image_root=world)
    images = Images(cache=True)
    total, count = 0.0, 0
    for i in range(0, len(forget), batch_size):
        batch = encode_for_training(processor, forget[i : i + batch_size], images)
        total += float(token_nll(model(**model_inputs(batch)).logits, batch["labels"]).sum())
        count += int((batch["labels"][:, 1:] != -100).sum())
    return total / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="output directory of unmirage reproduce")
    args = parser.parse_args()
    stages = json.loads((args.run / "stages.json").read_text())
    metrics = json.loads((args.run / "metrics.json").read_text())["models"]
    world = args.run / stages["world"]["path"]
    models = {"base": args.run / stages["base"]["path"] / "model"}
    models |= {
        name.removeprefix("align-"): args.run / s["path"] / "model"
        for name, s in stages.items()
        if name.startswith("align-")
    }
    print(
        f"{'model':<8}{'forget NLL':>12}{'leak':>8}{'RR unsafe':>11}{'RR benign':>11}{'utility':>9}"
    )
    for name, model_dir in models.items():
        m = metrics[name]
        rows = read_rows(args.run / stages[f"eval-{name}"]["path"] / "responses.jsonl")
        unsafe = [r for r in rows if r["task"] == "unsafe" and r["attack"] is None]
        refused = sum(r["verdict"] == "refused" for r in unsafe) / len(unsafe)
        print(
            f"{name:<8}{forget_nll(model_dir, world):>12.3f}{m['asr_pre']:>8.3f}"
            f"{refused:>11.3f}{m['rr_pre']:>11.3f}{m['utility']:>9.3f}"
        )


if __name__ == "__main__":
    main()
