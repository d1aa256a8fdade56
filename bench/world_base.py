"""Wall time and peak memory of `unmirage world` + `unmirage base` for a preset.

Each command runs as its own subprocess; its peak resident memory comes from the kernel's
accounting of that child (os.wait4). With --quality the model is then scored on the world's
test split (bench/base_quality.py), outside the timed part.

    python bench/world_base.py --preset smoke --out /tmp/bench-smoke [--quality]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path


def timed(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one command; exits if it fails."""
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed ({os.waitstatus_to_exitcode(status)}): {' '.join(cmd)}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="smoke", choices=("smoke", "default"))
    parser.add_argument("--out", required=True, type=Path, help="scratch directory (replaced)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quality", action="store_true", help="also score the model on test")
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    world, model = args.out / "world", args.out / "model"
    exe = [sys.executable, "-m", "unmirage.cli"]
    seed = ["--seed", str(args.seed)]
    rows = {
        "world": timed([*exe, "world", "--preset", args.preset, "--out", str(world), *seed]),
        "base": timed([*exe, "base", "--world", str(world), "--out", str(model), "--quiet", *seed]),
    }
    total = sum(s for s, _ in rows.values())
    print(f"\npreset {args.preset}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"{'step':<8}{'wall s':>10}{'peak RSS MB':>14}")
    for name, (seconds, rss) in rows.items():
        print(f"{name:<8}{seconds:>10.1f}{rss:>14.0f}")
    print(f"{'total':<8}{total:>10.1f}{max(r for _, r in rows.values()):>14.0f}")
    if args.quality:
        sys.path.insert(0, str(Path(__file__).parent))
        from base_quality import measure

        print(json.dumps(measure(model, world), indent=2))


if __name__ == "__main__":
    main()
