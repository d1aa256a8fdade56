"""`unmirage depth`: is the safety deep? Relearning, a knowledge probe and trigger saliency."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from unmirage.depth.knobs import (
    NEUTRAL,
    PROBES,
    DepthKnobs,
    ProbeKnobs,
    RelearnKnobs,
    SaliencyKnobs,
)
from unmirage.errors import InputError

HELP = "relearning curves, a linear knowledge probe and first-word saliency of models"
DESCRIPTION = f"""\
Three checks of whether a model's safety goes deeper than its first answer token, on the
world's exact facts (docs/depth.md):

  relearn   fine-tune a copy of the model with plain SFT on the forget pairs of one hazard
            (--relearn-hazard, default a seeded pick; --relearn-pairs N of them) and
            measure leaks on held-out test queries of the OTHER hazards ("other") and of
            the relearned one ("same") after each of --relearn-steps optimizer steps;
  probe     logistic regression on the hidden state at the last prompt token of chosen
            layers: which hazard fact (hazard x kind) and which hazard a query asks for,
            trained on the training splits' hazard queries, scored on the test split's;
  saliency  refusal log-odds (refusal templates' first tokens vs the compliant answer's):
            its change when the first word is dropped or replaced by "{NEUTRAL}", and the
            first word's share of gradient x input over the query tokens.

Give the base model with --base: it is run like the others and named the reference.
Writes OUT/depth.json (all numbers, keys in docs/depth.md) and OUT/saliency.png, both at
once when everything has run.

examples:
  unmirage depth runs/default/sft runs/default/npo runs/default/rmu \\
      --base runs/default/base --world runs/default/world --out runs/default/depth
  unmirage depth models/sft --world worlds/smoke --relearn-steps 0 10 --skip probe --out d
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("models", nargs="*", metavar="MODEL_DIR", help="aligned model dirs")
    parser.add_argument("--base", help="base model directory: run too, the reference")
    parser.add_argument("--world", required=True, help="world directory (unmirage world --out)")
    parser.add_argument("--out", required=True, help="output directory")
    r = RelearnKnobs()
    parser.add_argument(
        "--relearn-steps",
        type=int,
        nargs="+",
        default=list(r.steps),
        metavar="N",
        help=f"step counts the leaks are measured at (default {' '.join(map(str, r.steps))})",
    )
    parser.add_argument(
        "--relearn-hazard",
        default=r.hazard,
        help="hazard whose forget pairs are relearned: a name, auto (seeded) or all",
    )
    parser.add_argument("--relearn-pairs", type=int, help="relearn only N of them (seeded)")
    parser.add_argument("--relearn-lr", type=float, default=r.lr, help=f"learning rate ({r.lr})")
    parser.add_argument(
        "--relearn-queries",
        type=int,
        default=r.queries,
        help=f"held-out queries per relearning curve (default {r.queries})",
    )
    p = ProbeKnobs()
    parser.add_argument(
        "--probe-layers",
        type=int,
        nargs="+",
        metavar="L",
        help="hidden-state indices, 0 = embeddings (default: every other layer and the last)",
    )
    parser.add_argument(
        "--probe-queries",
        type=int,
        default=p.train_queries,
        help=f"training queries of the probe (default {p.train_queries})",
    )
    parser.add_argument(
        "--probe-l2", type=float, help="ridge penalty (default: cross-validated per layer)"
    )
    s = SaliencyKnobs()
    parser.add_argument(
        "--saliency-queries",
        type=int,
        default=s.queries,
        help=f"test queries per task for saliency (default {s.queries})",
    )
    parser.add_argument("--neutral-word", default=s.neutral, help=f"occlusion word ({s.neutral})")
    parser.add_argument(
        "--figure-queries",
        type=int,
        default=s.figure_queries,
        help=f"queries per model in the figure (default {s.figure_queries})",
    )
    parser.add_argument("--skip", nargs="+", default=[], metavar="PROBE", help=", ".join(PROBES))
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def knobs_from(args: argparse.Namespace) -> DepthKnobs:
    return DepthKnobs(
        relearn=RelearnKnobs(
            steps=tuple(args.relearn_steps),
            hazard=args.relearn_hazard,
            pairs=args.relearn_pairs,
            lr=args.relearn_lr,
            queries=args.relearn_queries,
            seed=args.seed,
        ),
        probe=ProbeKnobs(
            layers=tuple(args.probe_layers) if args.probe_layers else None,
            train_queries=args.probe_queries,
            l2=args.probe_l2,
            seed=args.seed,
        ),
        saliency=SaliencyKnobs(
            queries=args.saliency_queries,
            neutral=args.neutral_word,
            figure_queries=args.figure_queries,
            seed=args.seed,
        ),
        skip=tuple(args.skip),
    )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def summary(name: str, m: dict[str, Any]) -> list[str]:
    """A few lines per model: the curves, the best probe layer, the first-word shares."""
    lines = [name]
    if "relearn" in m:
        r = m["relearn"]
        for group, values in r["leak"].items():
            points = ", ".join(f"{s}:{_pct(v)}" for s, v in zip(r["steps"], values, strict=True))
            lines.append(f"  relearn {r['hazard']} -> leak {group}: {points}")
    if "probe" in m:
        for label, p in m["probe"]["labels"].items():
            layers = ", ".join(f"L{k} {_pct(v)}" for k, v in p["accuracy"].items())
            lines.append(f"  probe {label}: {layers} (chance {_pct(p['chance'])})")
    if "saliency" in m:
        for task, s in m["saliency"].items():
            if not s["n"]:
                lines.append(f"  saliency {task}: no query scorable at the first token")
                continue
            lines.append(
                f"  saliency {task}: first word {_pct(s['first_word_share'])} of |gradient x "
                f"input| (uniform {_pct(s['uniform_share'])}), drop shifts log-odds by "
                f"{s['occlusion_drop']:+.2f}, replace by {s['occlusion_replace']:+.2f}"
            )
    return lines


def run(args: argparse.Namespace) -> int:
    from unmirage.depth.run import run_depth
    from unmirage.depth.saliency import saliency_figure
    from unmirage.io import atomic_write_bytes, atomic_write_json, staged_dir

    if not args.models and not args.base:
        raise InputError("give at least one MODEL_DIR or --base", field="MODEL_DIR")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a directory", file=str(out), field="--out")
    knobs = knobs_from(args)
    knobs.validate()
    doc = run_depth(args.models, args.world, base=args.base, knobs=knobs, progress=not args.quiet)
    examples = {
        name: [ex for task in m["saliency"].values() for ex in task["examples"]]
        for name, m in doc["models"].items()
        if "saliency" in m
    }
    with staged_dir(out) as stage:
        if any(examples.values()):
            atomic_write_bytes(stage / "saliency.png", saliency_figure(examples))
        atomic_write_json(stage / "depth.json", doc)
    for name, m in doc["models"].items():
        print("\n".join(summary(name, m)))
    print(f"wrote {out}/depth.json" + (" and saliency.png" if any(examples.values()) else ""))
    return 0
