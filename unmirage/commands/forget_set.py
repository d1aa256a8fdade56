"""`unmirage forget-set`: the forget and retain sets of unlearning, from VLGuard or SPA-VL."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
from pathlib import Path
from typing import Any

from unmirage.checks import read_yaml_mapping
from unmirage.errors import InputError
from unmirage.forgetset.options import SOURCES, ForgetSetOptions
from unmirage.io import output_lock
from unmirage.judge.harm import DEFAULT_MIN_MASS, HARM_JUDGES

HELP = "build forget/retain sets for unlearning: sample harmful answers, judge, select"

DESCRIPTION = f"""\
VLGuard ships refusals, not the harmful answers unlearning must forget. This command samples
--samples answers to every unsafe query from each --model, scores them with a harm judge,
keeps the most harmful answer per query and writes, in LLaVA conversation layout (what
`unmirage align --forget/--retain` reads):

  OUT/forget.json     unsafe-image queries with their selected answers
  OUT/retain.json     VLGuard's safe pairs (safe image, safe instruction, helpful answer),
                      topped up from --retain-extra (e.g. LLaVA-665k) to --retain-size
  OUT/manifest.json   models, judge and its prompt, sampling settings, seed, counts, the
                      image root to pass to align, sha256 of every input and output
  OUT/candidates.jsonl, OUT/scores.jsonl   every sampled answer and score (resume state)

A killed run resumes: run the same command again and only missing answers are sampled. Each
answer has its own generator seeded by (--seed, query id, model, sample index), so answers do
not depend on batching, and adding a --model or raising --samples samples only what is new.

judges (--judge):
  lm         a local causal LM (--judge-model DIR or Hub id; the paper used Llama-2-13B-chat)
             rates each answer 1-9 for harm; score = expected rating from its next-token
             probabilities of the nine digits. An answer whose digit mass is below
             --judge-min-mass (default {DEFAULT_MIN_MASS}) is unconfident: a query with no
             confident answer is left out and listed in the manifest. Prompt: docs/forget-set.md
  heuristic  no model: non-refusals first (keyword-strict), then the longest answer. Weaker:
             length is not harm. The default, so that a first run needs no judge model.

options of the paper's pipeline:
  --include-safe-unsafe   also forget answers to safe images' unsafe instructions
  --rmu-layout            also write forget_rmu.json / retain_rmu.json: the answer appended to
                          the query in the user turn, as the paper's RMU reads it (unmirage's
                          RMU counts response tokens only and needs no such file)
  --retain-extra FILE     any instruction file (LLaVA JSON, JSONL, VLGuard) to top the retain
                          set up to --retain-size (default 2000 with --retain-extra), seeded
  --text-only             drop every image from forget/retain (answers are still sampled with
                          the image): does textual unlearning carry over to image attacks?
  --format spavl          SPA-VL train data (image, question, chosen, rejected; parquet as
                          released, JSON or JSONL): forget = rejected, retain = chosen, nothing
                          is sampled; --data takes several files or a directory (SPA-VL/data:
                          the 8 train shards)

settings, later ones win: defaults < --config FILE (YAML, keys = option names, e.g.
`samples: 5`, `models: [a, b]`) < flags. configs/forget-set/ holds the paper's settings.

examples:
  unmirage forget-set --model llava-hf/llava-1.5-7b-hf --model llava-hf/llava-1.5-13b-hf \\
      --data vlguard/train.json --image-root vlguard/train --samples 5 \\
      --judge lm --judge-model meta-llama/Llama-2-13b-chat-hf \\
      --retain-extra llava/llava_v1_5_mix665k.json --retain-extra-image-root llava/ \\
      --out forget-set
  unmirage forget-set --config configs/forget-set/vlguard-llava15.yaml --out forget-set
  unmirage forget-set --model runs/base --data train.json --judge heuristic --out fs
  unmirage forget-set --format spavl --data SPA-VL/data --retain-size 2000 --out fs-spavl
  unmirage align --method npo --model llava-hf/llava-1.5-7b-hf --forget forget-set/forget.json \\
      --retain forget-set/retain.json --image-root IMAGE_ROOT_FROM_MANIFEST --out npo
"""

DEFAULTS: dict[str, Any] = {
    f.name: f.default
    for f in dataclasses.fields(ForgetSetOptions)
    if f.default is not dataclasses.MISSING
}
DEFAULTS["models"] = []
PATHS = ("out", "image_root", "retain_extra", "retain_extra_image_root")
CONFIG_KEYS = set(DEFAULTS) - {"progress"} | {"data", "out"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--out", help="output directory (resumable)")
    a(
        "--data",
        nargs="+",
        help="VLGuard train JSON (or, with --format spavl, SPA-VL files or directories)",
    )
    a("--format", dest="fmt", choices=SOURCES, help="vlguard (default) or spavl")
    a(
        "--model",
        dest="models",
        metavar="M",
        action="append",
        help="VLM to sample from (repeatable)",
    )
    a("--image-root", help="directory the data's image paths are relative to (default: its own)")
    a("--config", help="YAML file of settings (see configs/forget-set/)")
    g = parser.add_argument_group("sampling")
    g.add_argument("--samples", type=int, help="answers per query and model (3)")
    g.add_argument("--temperature", type=float, help="sampling temperature (1.0)")
    g.add_argument("--top-p", type=float, help="nucleus sampling mass (0.9)")
    g.add_argument("--max-new-tokens", type=int, help="answer length cap (256)")
    g.add_argument("--batch-size", type=int, help="sampling batch (8)")
    g.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], help="weights (auto)")
    g.add_argument("--device", help="cuda, cuda:1, cpu, ... (default: as loaded, the CPU)")
    g.add_argument(
        "--trust-remote-code",
        action="store_true",
        default=None,
        help="run model code from the Hub (off)",
    )
    j = parser.add_argument_group("judge")
    j.add_argument("--judge", choices=HARM_JUDGES.names(), help="lm or heuristic (heuristic)")
    j.add_argument("--judge-model", help="causal LM of --judge lm (directory or Hub id)")
    j.add_argument(
        "--judge-min-mass",
        type=float,
        help=f"digit mass below which a rating is unconfident ({DEFAULT_MIN_MASS})",
    )
    j.add_argument("--judge-batch-size", type=int, help="judge batch (8)")
    o = parser.add_argument_group("layout")
    o.add_argument(
        "--include-safe-unsafe",
        action="store_true",
        default=None,
        help="also forget safe images' unsafe instructions",
    )
    o.add_argument(
        "--rmu-layout",
        action="store_true",
        default=None,
        help="also write *_rmu.json with the answer in the user turn",
    )
    o.add_argument(
        "--text-only", action="store_true", default=None, help="drop the images from forget/retain"
    )
    o.add_argument("--retain-extra", help="instruction file to top the retain set up from")
    o.add_argument("--retain-extra-image-root", help="image root of --retain-extra")
    o.add_argument("--retain-size", type=int, help="retain set size (2000 with --retain-extra)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def read_config(path: str) -> dict[str, Any]:
    """A YAML mapping of option names (dashes or underscores); unknown keys are errors."""
    doc = read_yaml_mapping(path)
    out = {}
    for key, value in doc.items():
        name = {"format": "fmt", "model": "models"}.get(str(key), str(key).replace("-", "_"))
        if name not in CONFIG_KEYS:
            raise InputError("unknown setting", file=path, field=str(key))
        if name in ("models", "data"):
            value = [value] if isinstance(value, str) else value
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise InputError(
                    "expected a string or a list of strings", file=path, field=str(key)
                )
        out[name] = value
    return out


def resolve(args: argparse.Namespace) -> ForgetSetOptions:
    """Defaults < config file < flags."""
    doc = _config_doc(args)
    values: dict[str, Any] = {}
    for name, default in {"data": None, "out": None, **DEFAULTS}.items():
        flag = getattr(args, name, None)
        values[name] = flag if flag is not None else doc.get(name, default)
    for name in ("data", "out"):
        if values.get(name) is None:
            raise InputError(f"give --{name} (or `{name}:` in --config)", field=f"--{name}")
    values["seed"] = args.seed if args.seed != 0 or "seed" not in doc else doc["seed"]
    values["progress"] = not args.quiet
    for name in PATHS:
        if values.get(name) is not None:
            values[name] = Path(values[name])
    values["data"] = [Path(p) for p in values["data"]]
    return ForgetSetOptions(**values)


def _config_doc(args: argparse.Namespace) -> dict[str, Any]:
    return read_config(args.config) if args.config else {}


def _from_config(err: InputError, args: argparse.Namespace) -> InputError:
    """`err` naming the config file when the bad setting came from it, not from a flag."""
    name = str(err.field or "").lstrip("-").replace("-", "_")
    if err.file is not None or getattr(args, name, None) is not None:
        return err
    if name not in _config_doc(args):
        return err
    return InputError(err.message, file=args.config, record=err.record, field=name)


def run(args: argparse.Namespace) -> int:
    from unmirage.forgetset import build_forget_set

    opts = resolve(args)
    # `unmirage.cli` locks --out; an output named only in --config is locked here.
    with output_lock(opts.out) if args.out is None else contextlib.nullcontext():
        try:
            m = build_forget_set(opts)
        except InputError as err:
            raise _from_config(err, args) from None
    c = m["counts"]
    line = f"forget {c['forget']}, retain {c['retain']} ({c['retain_safe']} own"
    line += f" + {c['retain_extra']} top-up)" if c.get("retain_extra") else ")"
    if m["format"] == "vlguard":
        line += (
            f"; {c['candidates']} candidates for {c['queries']} queries from "
            f"{len(m['models'])} model(s), judge {m['judge']['name']}"
        )
        if c["unjudged_queries"]:
            line += f"; {c['unjudged_queries']} queries without a confident rating left out"
        if c["unconfident_candidates"]:
            line += f"; {c['unconfident_candidates']} unconfident ratings"
        if c["selected_refusals"]:
            line += f"; warning: {c['selected_refusals']} selected answers are refusals"
    print(line)
    root = m["image_root"]
    hint = f" with --image-root {root}" if root else " (text only)"
    print(f"wrote {opts.out}/forget.json, retain.json, manifest.json; align them{hint}")
    return 0
