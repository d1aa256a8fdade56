"""`unmirage align`: safety fine-tuning or unlearning of a model, LoRA or full, 1..N processes."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import yaml

from unmirage.checks import output_dir
from unmirage.data.images import add_image_root_option, parse_roots
from unmirage.errors import InputError
from unmirage.methods.catalog import CATALOG
from unmirage.training.run_settings import DEFAULTS, REPORT_TO


def _defaults() -> str:
    return ", ".join(f"{k} {v}" for k, v in DEFAULTS.items() if k != "merge_lora")


def _lengths() -> str:
    """Each method's default run length, grouped: "sft 2 epochs; npo, rmu 150 steps"."""
    groups: dict[str, list[str]] = {}
    for m in CATALOG:
        ((unit, value),) = m.run_length.items()
        groups.setdefault(f"{value:g} {unit}", []).append(m.name)
    return "; ".join(f"{', '.join(names)} {length}" for length, names in groups.items())


HELP = "safety fine-tuning or unlearning of a model (" + ", ".join(m.name for m in CATALOG) + ")"

DESCRIPTION = f"""\
Train a vision-language model with one objective and write a plain Hugging Face model
directory to --out (with --lora: a PEFT adapter in OUT/adapter, merged into OUT with
--merge), plus OUT/train_log.jsonl (losses per optimizer step) and OUT/train_config.json
(the resolved configuration: method knobs, run settings, model, data files and their sha256).

methods:
{chr(10).join(f"  {m.name:<9} {m.summary}" for m in CATALOG)}
Only response tokens count in every loss (never prompt, image placeholders or padding).

settings, later ones win: defaults < --config FILE < flags (--lr ...) and --knob KEY=VALUE.
The config file holds run settings (lr, steps or epochs, batch_size, grad_accum, schedule,
warmup_steps, weight_decay, max_grad_norm, checkpoint_every, max_length, trainable,
mixed_precision, report_to), `dtype`, `lora: {{r, alpha, dropout, target_modules}}` and
`method: {{name, <knob>: value}}`; see configs/align/. Knobs per method: docs/methods.md.

defaults, sized for the embedded world's tiny model on two CPU cores:
  {_defaults()};
  {_lengths()};
  all weights train (with --lora, the adapters only).
Knobs left "auto" (RMU's layer and steer) are resolved by the method's setup from the model
and the forget data (docs/methods.md); --seed seeds the data order and a method's own seed
knob (RMU's control vector).

A killed run resumes from its last checkpoint when rerun with the same arguments; under
torchrun / accelerate launch the same command trains on every process (batch size is per
process: effective batch = batch x grad-accum x processes).

examples:
  unmirage align --method sft --model base --data world/safety_sft.jsonl --out model-sft
  unmirage align --method sft --model base --data world/safety_sft.jsonl \\
      world/helpful.jsonl --out model-sft-posthoc      # safety + helpfulness data
  unmirage align --method npo --model base --forget world/forget.jsonl \\
      --retain world/retain.jsonl --knob beta=0.5 --out model-npo
  unmirage align --method rmu --model base --forget F --retain R --lora --merge --out m
  unmirage align --merge-only model-rmu/adapter --out model-rmu-merged
  torchrun --nproc_per_node 2 -m unmirage.cli align --method npo --model base \\
      --forget F --retain R --batch-size 8 --out model-npo
  accelerate launch --config_file configs/accelerate/fsdp.yaml -m unmirage.cli align \\
      --config configs/align/llava15-7b-npo-full.yaml --model llava-hf/llava-1.5-7b-hf \\
      --forget forget.jsonl --retain retain.jsonl --out llava-npo
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--method", help=f"one of {', '.join(sorted(m.name for m in CATALOG))}")
    parser.add_argument("--model", help="model directory or Hugging Face id to start from")
    parser.add_argument(
        "--data",
        "--safety-data",
        dest="data",
        nargs="+",
        metavar="FILE",
        help="training data of sft (JSONL/VLGuard/LLaVA); several files are mixed, e.g. "
        "VLGuard's train split and general instruction data (the paper's post-hoc SFT)",
    )
    parser.add_argument(
        "--data-weights",
        nargs="+",
        type=float,
        metavar="W",
        help="how often each --data file's samples are taken (default 1 each: concatenated; "
        "0.5 = a seeded half, 2 = twice)",
    )
    parser.add_argument("--forget", help="forget data of the unlearning methods")
    parser.add_argument("--retain", help="retain data of the unlearning methods")
    add_image_root_option(parser)
    parser.add_argument("--config", help="YAML file of settings (see configs/align/)")
    parser.add_argument("--steps", type=int, help="optimizer steps (replaces epochs)")
    parser.add_argument("--epochs", type=float, help="passes over the first data set")
    parser.add_argument("--lr", type=float, help="peak learning rate")
    parser.add_argument("--batch-size", type=int, help="samples per process and micro-step")
    parser.add_argument("--grad-accum", type=int, help="micro-steps per optimizer step")
    parser.add_argument("--max-length", type=int, help="truncate responses beyond this length")
    parser.add_argument("--checkpoint-every", type=int, help="steps between checkpoints (0: none)")
    parser.add_argument(
        "--stop-at-leak",
        type=float,
        metavar="SHARE",
        help="unlearning: stop once at most this share of held-out forget queries leaks "
        "(needs meta.leak_markers, as the embedded world's forget pairs have; --steps is then "
        "the most it may take)",
    )
    parser.add_argument(
        "--holdout", type=float, help="share of forget pairs held out for --stop-at-leak (0.1)"
    )
    parser.add_argument("--eval-every", type=int, help="steps between --stop-at-leak checks (25)")
    parser.add_argument(
        "--knob",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="method knob, e.g. beta=0.5 (repeatable)",
    )
    parser.add_argument("--lora", action="store_true", help="train a LoRA adapter only")
    parser.add_argument("--lora-r", type=int, help="LoRA rank (default 16)")
    parser.add_argument("--lora-alpha", type=int, help="LoRA alpha (default 32)")
    parser.add_argument("--merge", action="store_true", help="also save the merged model")
    parser.add_argument(
        "--merge-only",
        metavar="ADAPTER_DIR",
        help="only merge an existing adapter into its base (--model overrides the base)",
    )
    parser.add_argument("--report-to", choices=REPORT_TO, help="experiment tracker (none)")
    parser.add_argument(
        "--trust-remote-code", action="store_true", help="run model code from the Hub (off)"
    )
    parser.add_argument(
        "--allow-pickle",
        action="store_true",
        help="also load pickled weights (pytorch_model.bin), which can run code: only for "
        "files you trust (off: safetensors only)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def parse_knobs(items: list[str]) -> dict[str, Any]:
    """`KEY=VALUE` pairs; values read as YAML scalars (0.5 -> float, auto -> string)."""
    knobs: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"expected KEY=VALUE, got {item!r}", field="--knob")
        try:
            knobs[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise InputError(f"cannot read the value of {item!r}", field="--knob") from None
    return knobs


def run(args: argparse.Namespace) -> int:
    from unmirage.align import (
        align,
        merge_adapter,
        method_from_config,
        read_config_file,
        resolve_settings,
    )

    out = output_dir(args.out)
    if args.merge_only is not None:
        merge_adapter(
            args.merge_only, out, base=args.model, trust_remote_code=args.trust_remote_code
        )
        print(f"merged {args.merge_only} into a plain model directory: {out}")
        return 0
    if args.model is None:
        raise InputError("give --model (a model directory or Hugging Face id)", field="--model")
    doc = read_config_file(args.config) if args.config else {}
    method = method_from_config(doc, args.method, args.config)
    lora: dict[str, Any] | bool = False
    if args.lora or args.lora_r is not None or args.lora_alpha is not None:
        lora = {k: v for k, v in (("r", args.lora_r), ("alpha", args.lora_alpha)) if v is not None}
        lora = lora or True
    overrides = {
        "steps": args.steps,
        "epochs": args.epochs,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "grad_accum": args.grad_accum,
        "max_length": args.max_length,
        "checkpoint_every": args.checkpoint_every,
        "report_to": args.report_to,
        "merge_lora": True if args.merge else None,
        "stop_at_leak": args.stop_at_leak,
        "holdout": args.holdout,
        "eval_every": args.eval_every,
    }
    settings = resolve_settings(
        method,
        config=doc,
        config_file=args.config,
        overrides=overrides,
        knobs=parse_knobs(args.knob),
        lora=lora,
        seed=args.seed,
    )
    start = time.perf_counter()
    align(
        method,
        args.model,
        out,
        data=args.data,
        data_weights=args.data_weights,
        forget=args.forget,
        retain=args.retain,
        settings=settings,
        image_root=parse_roots(
            args.image_root, [f for f in (*(args.data or ()), args.forget, args.retain) if f]
        ),
        trust_remote_code=args.trust_remote_code,
        allow_pickle=args.allow_pickle,
        progress=not args.quiet,
    )
    if _is_main_process():
        print(_summary(method, out, time.perf_counter() - start))
    return 0


def _is_main_process() -> bool:
    from accelerate import PartialState

    return PartialState().is_main_process


def _summary(method: str, out: Path, seconds: float) -> str:
    lines = (out / "train_log.jsonl").read_text(encoding="utf-8").splitlines()
    first, last = json.loads(lines[0]), json.loads(lines[-1])
    written = "adapter in " + str(out / "adapter") if not (out / "config.json").exists() else ""
    where = written or f"model in {out}"
    return (
        f"{method}: {last['step']} steps in {seconds:.1f} s, loss {first['loss']:.4f} -> "
        f"{last['loss']:.4f}; {where}"
    )
