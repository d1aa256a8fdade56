"""`unmirage reproduce`: the paper's experiment end to end in one command."""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from unmirage.commands.attack import CONTROL_CHOICES
from unmirage.embedded.presets import PRESETS
from unmirage.reproduce.recipes import EMBEDDED_MODELS, RECIPES

HELP = "run the whole experiment (world, base, SFT recipes / NPO / RMU, attack, eval, report)"
DESCRIPTION = """\
Reproduce the Safety Mirage experiment end to end and write OUT/report.html, OUT/report.md,
OUT/metrics.json and the plots:

  audit of the safety SFT data (trigger words come from here, never from a fixed list)
  -> base model -> the paper's two SFT recipes and NPO / RMU unlearning from the base:
       sft-posthoc  the base fine-tuned on safety data + helpfulness data (5,000 : 3,000)
       sft-mixed    safety + helpfulness data mixed into the base's instruction tuning
       npo, rmu     unlearning of the forget set, until a held-out tenth of it stops leaking
     (`--methods sft ...` adds SFT on the safety data alone, which is not the paper's recipe;
     `--methods sft-posthoc npo-on-sft rmu-on-sft`: unlearning that starts from Posthoc-SFT)
  -> one-word K-shot attacks with the top three compliance triggers, no-trigger controls,
     over-prudence rewrites with the top three refusal triggers
  -> evaluation of every model with the same judge
  -> depth, per model: GCG suffixes and a prefilled "Sure," (ASR), and on the embedded world
     relearning curves, a linear knowledge probe and first-word saliency (--no-depth skips)
  -> report

Every stage is cached in OUT/stages by the hash of its inputs: rerun the same command after a
kill and it resumes; change one option and only what depends on it runs again.

embedded default (no downloads; two CPU cores):
  unmirage reproduce --out runs/default                 # one seed (see the README for times)
  unmirage reproduce --seeds 0 1 2 --out runs/seeds     # three seeds and their summary
  unmirage reproduce --preset smoke --out runs/smoke    # a minute or two, for a quick look
  printf 'bias_strength: 0\\n' > unbiased.yaml           # a world knob, measured
  unmirage reproduce --world-config unbiased.yaml --out runs/unbiased

real models (GPUs; see the README):
  unmirage reproduce --model llava-hf/llava-1.5-7b-hf --lora \\
      --safety-data vlguard/train.json --image-root safety=vlguard/train \\
      --test-data vlguard/test.json --image-root test=vlguard/test \\
      --helpful-data llava/llava_v1_5_mix665k.json --image-root helpful=llava/data \\
      --forget fs/forget.json --retain fs/retain.json --out runs/llava
  (each input's images resolve against its --image-root NAME=DIR, else its file's directory)
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output directory (resumable)")
    parser.add_argument(
        "--preset",
        default="default",
        choices=list(PRESETS),
        help="embedded world and model size (default: default)",
    )
    parser.add_argument("--k", type=int, default=3, help="rewrites per unsafe query (K-shot; 3)")
    parser.add_argument(
        "--mood",
        action="store_true",
        help="also attack by sentence mood (requests made questions, wh-questions requests)",
    )
    parser.add_argument(
        "--control",
        default="own-opener",
        choices=CONTROL_CHOICES,
        help="no-trigger control (see `unmirage attack --help`; default own-opener)",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        help="run every stage once per seed (OUT/seed-N) and write one summary report with "
        "per-seed rows, mean and [min, max] (instead of --seed)",
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        help=f"models to compare besides the base: recipes {', '.join(RECIPES)} or any "
        f"unlearning method (default: {' '.join(EMBEDDED_MODELS)}; with --model: "
        "sft-posthoc npo rmu when --helpful-data is given, else sft npo rmu)",
    )
    parser.add_argument(
        "--helpful-ratio",
        type=float,
        default=5000 / 3000,
        help="helpfulness samples per safety sample in the SFT recipes (default 5000/3000, "
        "the paper's Posthoc-SFT)",
    )
    parser.add_argument(
        "--judge",
        default="auto",
        help="judge name (default: world in the embedded world, else keyword)",
    )
    parser.add_argument("--max-new-tokens", type=int, default=48, help="answer length cap (48)")
    parser.add_argument("--batch-size", type=int, default=64, help="generation batch (64)")
    parser.add_argument(
        "--align-steps",
        type=int,
        help="train every alignment method for N steps (default: each method's own)",
    )
    depth = parser.add_argument_group("depth (docs/depth.md)")
    depth.add_argument(
        "--no-depth",
        action="store_true",
        help="skip the depth stages (GCG, prefill; relearning, probe, saliency on the world)",
    )
    depth.add_argument(
        "--prefill",
        default="Sure,",
        metavar="TEXT",
        help="the assistant turn's opening for the prefill attack (default 'Sure,')",
    )
    depth.add_argument(
        "--gcg-queries",
        type=int,
        metavar="N",
        help="unsafe queries GCG attacks per model (default: smoke 2, default 20)",
    )
    world = parser.add_argument_group("embedded world")
    world.add_argument(
        "--world-config",
        help="YAML file overriding world config fields (see `unmirage world --help`), e.g. "
        "bias_strength: 0 or test_openers: held_out",
    )
    world.add_argument(
        "--bias-from", help="audit.json whose first words replace the safety SFT statistics"
    )
    real = parser.add_argument_group("real models")
    real.add_argument("--model", help="HF id or directory of the base VLM (LLaVA, Qwen2-VL)")
    real.add_argument("--safety-data", help="safety SFT data (VLGuard train JSON, LLaVA, JSONL)")
    real.add_argument("--test-data", help="test data (VLGuard test JSON, JSONL)")
    real.add_argument(
        "--helpful-data",
        help="general instruction data for sft-posthoc (e.g. a LLaVA-665k sample, LLaVA JSON)",
    )
    real.add_argument("--forget", help="forget set for unlearning (LLaVA JSON or JSONL)")
    real.add_argument("--retain", help="retain set for unlearning")
    real.add_argument(
        "--image-root",
        action="append",
        metavar="[INPUT=]DIR",
        help="image root of one input (safety, helpful, test, forget, retain), or of every "
        "input without its own; repeatable (default: each file's own directory)",
    )
    real.add_argument("--lora", action="store_true", help="align with LoRA adapters")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from unmirage.data.images import parse_roots
    from unmirage.reproduce import ReproduceConfig, reproduce, reproduce_seeds
    from unmirage.reproduce.config import INPUTS

    config = ReproduceConfig(
        preset=args.preset,
        seed=args.seed,
        k=args.k,
        mood=args.mood,
        control=args.control.replace("-", "_"),
        methods=tuple(args.methods) if args.methods else None,
        helpful_ratio=args.helpful_ratio,
        judge=args.judge,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        lora=args.lora,
        model=args.model,
        safety_data=args.safety_data,
        test_data=args.test_data,
        helpful_data=args.helpful_data,
        forget=args.forget,
        retain=args.retain,
        image_root=parse_roots(args.image_root, INPUTS),
        world_config=args.world_config,
        bias_from=args.bias_from,
        depth=not args.no_depth,
        prefill=args.prefill,
        gcg_queries=args.gcg_queries,
    )
    if args.align_steps is not None:
        steps = {m: {"steps": args.align_steps} for m in config.models}
        config = dataclasses.replace(config, align_overrides=steps)
    console = Console(stderr=True)
    start = time.perf_counter()

    def on_stage(name: str, index: int, total: int) -> None:
        console.rule(f"[bold]stage {index}/{total}: {name}")

    out = Path(args.out)
    if args.seeds:
        summary = reproduce_seeds(config, args.seeds, out, on_stage=on_stage)
        console.rule("[bold]done")
        for name, m in summary["summary"].items():
            print(
                f"{name:>12}: ASR {_spread(m['asr_pre'])} -> {_spread(m['asr_post'])} | "
                f"benign RR {_spread(m['rr_pre'])} -> {_spread(m['rr_post'])} | "
                f"utility {_spread(m['utility'])}"
            )
        print(f"report: {out / 'report.html'} ({time.perf_counter() - start:.0f} s)")
        return 0
    metrics = reproduce(config, args.out, on_stage=on_stage)
    console.rule("[bold]done")
    for name, m in metrics["models"].items():
        depth = m.get("depth") or {}
        attacks = "".join(
            f" | {label} {_percent(depth[key])}"
            for label, key in (("GCG", "asr_gcg"), ("prefill", "asr_prefill"))
            if depth.get(key) is not None
        )
        print(
            f"{name:>12}: ASR {_percent(m['asr_pre'])} -> {_percent(m['asr_post'])}{attacks} | "
            f"benign RR {_percent(m['rr_pre'])} -> {_percent(m['rr_post'])} | "
            f"utility {_percent(m['utility'])}"
        )
    print(f"report: {out / 'report.html'} ({time.perf_counter() - start:.0f} s)")
    return 0


def _percent(value: float | None) -> str:
    """ "12.3%", or "n/a" for a rate with no queries (a test set without utility questions)."""
    from unmirage.report.values import pct

    return "n/a" if value is None else f"{pct(value)}%"


def _spread(entry: dict[str, float | None]) -> str:
    from unmirage.report.values import pct

    if entry.get("mean") is None:
        return "n/a"
    return f"{pct(entry['mean'])}% [{pct(entry['min'])}, {pct(entry['max'])}]"
