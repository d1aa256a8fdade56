"""Training-depth sweep: when, in training, each half of the mirage appears.

Trains each SFT recipe over a grid of peak learning rates and lengths (a multiple of the
recipe's own number of steps) from a finished `unmirage reproduce` run, evaluates every point
on that run's test and attack files with its judge, and plots effect 1 (ASR before and after
the one-word attack, with the no-trigger control) and effect 2 (benign RR before and after
the over-prudence rewrite) against training depth, the sum of the step sizes (peak lr x
steps), over seeds.

    python bench/depth_sweep.py --run runs/seeds --seeds 0 1 2 --out runs/sweep \
        --recipes sft-posthoc --lrs 1e-4 1e-3 --lengths 0.5 1 2

Each point is a one-model reproduction (`--no-depth`) whose stage cache is the run's own
(`OUT/seed-N/<point>/stages` links to `RUN/seed-N/stages`), so the world, base, audit,
attack and base evaluation are reused and only the point's training and evaluation run; a
killed sweep resumes where it stopped. Writes OUT/sweep.json (every point's rates, with the
command) and OUT/sweep.png.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from unmirage.io import atomic_write_json
from unmirage.reproduce import ReproduceConfig, reproduce

RATES = ("asr_pre", "asr_post", "asr_control", "rr_pre", "rr_post")


def seed_run(run: Path, seed: int) -> Path:
    """The directory of one seed's reproduction: RUN/seed-N of a `--seeds` run, or RUN itself
    when it is a one-seed run of that seed."""
    if (run / f"seed-{seed}").is_dir():
        return run / f"seed-{seed}"
    if run_metrics(run)["config"]["seed"] == seed:
        return run
    raise SystemExit(f"{run}: no seed-{seed} directory and not a run of seed {seed}")


def run_metrics(run: Path) -> dict[str, Any]:
    return json.loads((run / "metrics.json").read_text(encoding="utf-8"))


def own_settings(source: Path, recipe: str) -> tuple[float, int]:
    """The peak lr (its align stage's record) and the steps the recipe trained for in the run."""
    stages = json.loads((source / "stages.json").read_text(encoding="utf-8"))
    model = source / stages[f"align-{recipe}"]["path"] / "model"
    train = json.loads((model / "train_config.json").read_text(encoding="utf-8"))["train"]
    return float(train["lr"]), int(run_metrics(source)["training"][recipe]["steps"])


def rates(seed: int, recipe: str, lr: float, steps: int, m: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "seed": seed,
        "recipe": recipe,
        "lr": lr,
        "steps": steps,
        "depth": lr * steps,
        **{k: m[k] for k in RATES},
        "by_hazard_group": m.get("by_hazard_group"),
    }


def point(run: Path, out: Path, seed: int, recipe: str, lr: float, steps: int) -> dict[str, Any]:
    """Train and evaluate one (recipe, lr, steps) point of one seed with the run's own options
    (preset, K, control, world config ...); its rates. The run's own point is read from the
    run, not trained again."""
    source = seed_run(run, seed)
    if own_settings(source, recipe) == (lr, steps):
        return {**rates(seed, recipe, lr, steps, run_metrics(source)["models"][recipe]), "run": 1}
    where = out / f"seed-{seed}" / f"{recipe}-lr{lr:g}-steps{steps}"
    where.mkdir(parents=True, exist_ok=True)
    if not (where / "stages").exists():
        (where / "stages").symlink_to((source / "stages").resolve())
    options = run_metrics(source)["config"]
    config = ReproduceConfig(
        **{
            **options,
            "methods": (recipe,),
            "depth": False,
            "align_overrides": {recipe: {"lr": lr, "steps": steps}},
        }
    )
    metrics = reproduce(config, where, progress=False)
    return {**rates(seed, recipe, lr, steps, metrics["models"][recipe]), "run": 0}


def plot(points: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Effect 1 and effect 2 against depth, one row per recipe, one colour per lr; the mean
    over seeds with its [min, max] as an error bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    recipes = sorted({p["recipe"] for p in points})
    fig, axes = plt.subplots(len(recipes), 2, figsize=(11, 3.8 * len(recipes)), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    panels = (
        (
            "effect 1: unsafe queries answered (%)",
            (("asr_pre", ":"), ("asr_post", "-"), ("asr_control", "--")),
        ),
        ("effect 2: benign queries refused (%)", (("rr_pre", ":"), ("rr_post", "-"))),
    )
    for row, recipe in zip(axes, recipes, strict=True):
        mine = [p for p in points if p["recipe"] == recipe]
        for ax, (title, keys) in zip(row, panels, strict=True):
            for colour, lr in zip(colours, sorted({p["lr"] for p in mine}), strict=False):
                at_lr = [p for p in mine if p["lr"] == lr]
                depths = sorted({p["depth"] for p in at_lr})
                for key, style in keys:
                    values = [[100 * p[key] for p in at_lr if p["depth"] == d] for d in depths]
                    means = [sum(v) / len(v) for v in values]
                    low = [m - min(v) for m, v in zip(means, values, strict=True)]
                    high = [max(v) - m for m, v in zip(means, values, strict=True)]
                    ax.errorbar(
                        depths,
                        means,
                        yerr=[low, high],
                        color=colour,
                        ls=style,
                        marker="o",
                        ms=3,
                        capsize=2,
                    )
                ax.plot([], [], color=colour, label=f"lr {lr:g}")
            for key, style in keys:
                ax.plot([], [], color="grey", ls=style, label=key)
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels overlap at this width
            ax.set_ylim(-3, 103)
            ax.set_xlabel("training depth: peak lr x steps")
            ax.set_title(f"{recipe}: {title}", fontsize=10)
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, type=Path, help="a `reproduce --seeds` output")
    parser.add_argument("--out", required=True, type=Path, help="the sweep's directory")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--recipes", nargs="+", default=["sft-posthoc", "sft-mixed"])
    parser.add_argument("--lrs", type=float, nargs="+", required=True, help="peak learning rates")
    parser.add_argument(
        "--lengths",
        type=float,
        nargs="+",
        required=True,
        help="steps as multiples of each recipe's own (1 = as in the run)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    points = []
    todo = [
        (seed, recipe, lr, length)
        for recipe in args.recipes
        for lr in args.lrs
        for length in args.lengths
        for seed in args.seeds
    ]
    for i, (seed, recipe, lr, length) in enumerate(todo, 1):
        own = run_metrics(seed_run(args.run, seed))["training"][recipe]["steps"]
        steps = max(1, round(length * own))
        print(f"[{i}/{len(todo)}] seed {seed} {recipe} lr {lr:g} steps {steps}", file=sys.stderr)
        points.append(point(args.run, args.out, seed, recipe, lr, steps))
        atomic_write_json(
            args.out / "sweep.json",
            {
                "command": "python bench/depth_sweep.py " + " ".join(sys.argv[1:]),
                "points": points,
            },
        )
    plot(points, args.out / "sweep.png")
    print(f"wrote {args.out / 'sweep.json'} and {args.out / 'sweep.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
