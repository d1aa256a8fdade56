"""Wall time and peak memory of `unmirage reproduce` for a preset, and its Table 1.

Runs the command as a subprocess into a fresh scratch directory (peak RSS of that process
from os.wait4), then prints the per-stage wall times and the headline numbers of each model.
With several seeds it also prints the multi-seed table (mean and [min, max] over seeds).

    python bench/reproduce.py --preset smoke --out /tmp/bench-reproduce
    python bench/reproduce.py --preset default --seeds 0 1 2 --out /tmp/bench-reproduce
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from world_base import timed

from unmirage.report import render_multiseed_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="smoke", choices=("smoke", "default"))
    parser.add_argument("--out", required=True, type=Path, help="scratch directory (replaced)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    runs = []
    for seed in args.seeds:
        out = args.out / f"seed-{seed}"
        cmd = [
            sys.executable,
            "-m",
            "unmirage.cli",
            "reproduce",
            "--preset",
            args.preset,
            "--seed",
            str(seed),
            "--out",
            str(out),
        ]
        seconds, rss = timed(cmd)
        stages = json.loads((out / "stages.json").read_text())
        print(
            f"\npreset {args.preset}, seed {seed}, {os.cpu_count()} CPUs: "
            f"{seconds:.0f} s wall, peak RSS {rss:.0f} MB"
        )
        for name, stage in stages.items():
            print(f"  {name:<12}{stage['seconds']:>8.1f} s")
        runs.append(json.loads((out / "metrics.json").read_text()))
    print()
    print(render_multiseed_table(runs))


if __name__ == "__main__":
    main()
