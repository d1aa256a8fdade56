"""Wall time and peak memory of `unmirage reproduce` for a preset, per stage, and its Table 1.

Runs the command as a subprocess into a fresh scratch directory (peak RSS of that process
from os.wait4), then prints each stage's wall time and peak RSS (both recorded by the stage
runner in stages.json; the peak is sampled while the stage runs) and the headline numbers.
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
    parser.add_argument("--threads", type=int, help="passed to unmirage reproduce")
    parser.add_argument("--json", type=Path, help="also write wall times and peaks here")
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    runs, timings = [], []
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
            *(["--threads", str(args.threads)] if args.threads else []),
        ]
        seconds, rss = timed(cmd)
        stages = json.loads((out / "stages.json").read_text())
        print(
            f"\npreset {args.preset}, seed {seed}, {os.cpu_count()} CPUs: "
            f"{seconds:.0f} s wall, peak RSS {rss:.0f} MB"
        )
        print(f"  {'stage':<16}{'wall s':>8}{'peak RSS MB':>13}")
        for name, stage in stages.items():
            peak = stage.get("peak_rss_mb")
            print(f"  {name:<16}{stage['seconds']:>8.1f}{peak or float('nan'):>13.0f}")
        timings.append({"seed": seed, "seconds": seconds, "peak_rss_mb": rss, "stages": stages})
        runs.append(json.loads((out / "metrics.json").read_text()))
    print()
    print(render_multiseed_table(runs))
    if args.json:
        args.json.write_text(json.dumps({"preset": args.preset, "runs": timings}, indent=2) + "\n")


if __name__ == "__main__":
    main()
