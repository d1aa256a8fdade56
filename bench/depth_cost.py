"""Wall time of the depth probes (relearning, knowledge probe, saliency) for several models.

    python bench/depth_cost.py --world runs/default/world \\
        --models runs/default/base runs/default/sft runs/default/npo runs/default/rmu \\
        --json /tmp/depth-cost.json

Runs `run_depth` at default knobs, one model at a time, and prints per model and probe the
seconds it took, with the total against the budget (all depth probes of four models, GCG
included, within 10 minutes on two cores; GCG is measured by its own benchmark). With
`--copies N` one model directory is probed N times: the cost depends on the architecture
and the data sizes, hardly on the weights (only through how early answers end).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from unmirage.depth.run import PROBES, DepthKnobs, probe_model, read_world

BUDGET_S = 600.0


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", required=True, help="world directory")
    parser.add_argument("--models", nargs="+", required=True, help="model directories")
    parser.add_argument("--copies", type=int, default=1, help="probe each model N times")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1)")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    knobs = DepthKnobs()
    knobs.validate()
    data = read_world(args.world)
    rows = []
    start = time.perf_counter()
    for model_dir in args.models:
        for copy in range(args.copies):
            t0 = time.perf_counter()
            out = probe_model(model_dir, data, knobs, progress=False)
            rows.append(
                {
                    "model": model_dir,
                    "copy": copy,
                    "seconds": out["seconds"],
                    "total": round(time.perf_counter() - t0, 3),
                }
            )
            print(f"{model_dir} #{copy}: {rows[-1]['seconds']} total {rows[-1]['total']} s")
    total = time.perf_counter() - start
    result = {
        "world": args.world,
        "threads": args.threads,
        "cpus": os.cpu_count(),
        "load_average_1min_at_end": os.getloadavg()[0],
        "knobs": dataclasses.asdict(knobs),
        "rows": rows,
        "total_s": round(total, 3),
        "budget_s": BUDGET_S,
    }
    print()
    print("| model | " + " | ".join(f"{p} s" for p in PROBES) + " | total s |")
    print("|---" * (len(PROBES) + 2) + "|")
    for row in rows:
        cells = " | ".join(f"{row['seconds'].get(p, 0):.1f}" for p in PROBES)
        print(f"| {Path(row['model']).name} #{row['copy']} | {cells} | {row['total']:.1f} |")
    print(f"\nall models: {total:.1f} s of a {BUDGET_S:.0f} s budget (GCG not included)")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
