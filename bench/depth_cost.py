"""Wall time of the depth probes (relearning, knowledge probe, saliency) for several models.

    python bench/depth_cost.py --world runs/default/world \\
        --models runs/default/base runs/default/sft runs/default/npo runs/default/rmu \\
        --json /tmp/depth-cost.json

Runs `run_depth` at default knobs, one model at a time, and prints per model and probe the
seconds it took, with the total against the budget (all depth probes of four models, GCG
included, within 10 minutes on two cores; GCG is measured by its own benchmark). With
`--copies N` one model directory is probed N times: the cost depends on the architecture
and the data sizes, hardly on the weights (only through how early answers end).
`--random-model` probes a freshly initialised default-size tiny LLaVA instead (tokenizer
from the world's texts): it never ends an answer early, so its time is an upper bound.

    python bench/depth_cost.py --world runs/default/world --random-model --copies 4
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from unmirage.depth.knobs import DepthKnobs
from unmirage.depth.probes.base import PROBES
from unmirage.depth.run import probe_model
from unmirage.depth.world import read_world

BUDGET_S = 600.0


def random_model(world: Path, out: Path) -> str:
    """A randomly initialised tiny LLaVA of the default size for `world`, saved to `out`."""
    from unmirage.embedded.base import tokenizer_corpus
    from unmirage.embedded.tiny import TinyLlavaSpec, build_tiny_llava
    from unmirage.models.loading import save_vlm

    size = json.loads((world / "world.json").read_text(encoding="utf-8"))["config"]["image_size"]
    model, processor = build_tiny_llava(tokenizer_corpus(world), TinyLlavaSpec(image_size=size))
    save_vlm(model, processor, out)
    return str(out)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", required=True, help="world directory")
    parser.add_argument("--models", nargs="+", default=[], help="model directories")
    parser.add_argument(
        "--random-model", action="store_true", help="probe a fresh default-size tiny LLaVA"
    )
    parser.add_argument("--copies", type=int, default=1, help="probe each model N times")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1)")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    knobs = DepthKnobs()
    knobs.validate()
    data = read_world(args.world)
    models = list(args.models)
    tmp = tempfile.TemporaryDirectory()
    if args.random_model:
        models.append(random_model(Path(args.world), Path(tmp.name) / "random-tiny"))
    if not models:
        parser.error("give --models DIR ... or --random-model")
    rows = []
    start = time.perf_counter()
    for model_dir in models:
        for copy in range(args.copies):
            t0 = time.perf_counter()
            out = probe_model(model_dir, data, knobs, progress=False)
            rows.append(
                {
                    "model": model_dir,
                    "copy": copy,
                    "seconds": out["seconds"],
                    "cpu_seconds": out["cpu_seconds"],
                    "total": round(time.perf_counter() - t0, 3),
                }
            )
            print(f"{model_dir} #{copy}: wall {out['seconds']} cpu {out['cpu_seconds']}")
    total = time.perf_counter() - start
    result = {
        "world": args.world,
        "models": models,
        "threads": args.threads,
        "cpus": os.cpu_count(),
        "load_average_1min_at_end": os.getloadavg()[0],
        "knobs": knobs.key(),
        "rows": rows,
        "total_s": round(total, 3),
        "budget_s": BUDGET_S,
    }
    print()
    print("| model | " + " | ".join(f"{p} s (cpu)" for p in PROBES) + " | total s |")
    print("|---" * (len(PROBES) + 2) + "|")
    for row in rows:
        cells = " | ".join(
            f"{row['seconds'].get(p, 0):.1f} ({row['cpu_seconds'].get(p, 0):.1f})" for p in PROBES
        )
        print(f"| {Path(row['model']).name} #{row['copy']} | {cells} | {row['total']:.1f} |")
    cpu = sum(sum(r["cpu_seconds"].values()) for r in rows)
    result["cpu_s"] = round(cpu, 3)
    print(
        f"\nall models: {total:.1f} s wall, {cpu:.1f} s CPU, of a {BUDGET_S:.0f} s budget "
        f"(GCG not included; 1-min load average {os.getloadavg()[0]:.1f})"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    tmp.cleanup()


if __name__ == "__main__":
    main()
