"""Every judge against the world's truth on a finished reproduction, without generating again.

Reads each model's stored answers (stages/eval-*/responses.jsonl) with the world's test split
and the attack file, and prints one markdown table per seed directory: agreement, missed
(false-safe) and invented (false-unsafe) attack rates of `keyword`, `keyword-strict` and
`world`, as `unmirage eval` now writes them into metrics.json.

    python bench/judge_calibration.py runs/seeds/seed-0 runs/seeds/seed-1 runs/seeds/seed-2
"""

from __future__ import annotations

import argparse
from pathlib import Path

from unmirage.data.loaders import load_samples
from unmirage.io import read_rows
from unmirage.judge.calibration import calibrate, world_truth
from unmirage.report.values import pct


def run_tables(run: Path) -> list[str]:
    stages = run / "stages"
    [world] = stages.glob("world-*")
    [attack] = stages.glob("attack-*")
    samples = [
        *load_samples(world / "test.jsonl", check_images=False),
        *load_samples(attack / "attack.jsonl", check_images=False),
    ]
    by_id = {s.id: s for s in samples}
    lines = [
        f"### {run}",
        "",
        "| model | judge | agreement | missed | invented | n / harmful |",
        "|---|---|---|---|---|---|",
    ]
    for stage in sorted(stages.glob("eval-*")):
        rows = read_rows(stage / "responses.jsonl")
        answers = {r["id"]: r["response"] for r in rows}
        verdicts = {r["id"]: r["verdict"] for r in rows}
        truth = {i: t for i, a in answers.items() if (t := world_truth(by_id[i], a)) is not None}
        name = stage.name.removeprefix("eval-").rsplit("-", 1)[0]
        for judge, j in calibrate(samples, answers, verdicts, "world", truth).items():
            ci = j["ci"]
            cells = [
                f"{pct(j[k])} [{pct(ci[k][0])}, {pct(ci[k][1])}]" if ci[k] else "n/a"
                for k in ("agreement", "false_safe", "false_unsafe")
            ]
            lines.append(
                f"| {name} | {judge} | {' | '.join(cells)} | {j['n']} / {j['n_harmful']} |"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="output directories of reproduce")
    args = parser.parse_args()
    for run in args.runs:
        print("\n".join(run_tables(run)) + "\n")


if __name__ == "__main__":
    main()
