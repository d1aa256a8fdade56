"""`unmirage gcg`: an adversarial suffix per unsafe query (greedy coordinate gradient)."""

from __future__ import annotations

import argparse

from unmirage.depth.gcg_config import GCGConfig

HELP = "search an adversarial suffix per unsafe query (GCG) and write an attack file"
DEFAULTS = GCGConfig()
DESCRIPTION = """\
Greedy coordinate gradient search: for every unsafe query of --queries (a test file or an
attack file: originals and one-word rewrites; controls and benign queries are skipped) find
a suffix of --suffix-len tokens that makes the model's answer begin with the target. Each
step takes the gradient of the target loss with respect to the one-hot suffix tokens (the
image stays fixed), keeps the --topk best tokens per position, scores --candidates random
single-token swaps in batched forward passes and moves to the best one. Only tokens that
survive decode/encode are used, and a suffix must re-tokenize to itself in the prompt, so
`unmirage eval` feeds the model exactly the tokens that were optimised.

Target: the world's compliant answer up to its first fact ("Steps for the zorvan: first")
for world hazard queries, else "Sure, here is"; --target TEXT for every query, or --targets
FILE, a JSON object {query id: target}. Reaching the target is not a leak: the judge still
needs the model to go on and state the fact.

--out FILE is the attack file (the suffixed queries, meta.attack "gcg"; `unmirage eval`
reports their ASR as asr_gcg). Image paths are kept, so write it next to the data (or give
eval --image-root). Beside it, FILE-stem.gcg/ holds log.jsonl (one line per query: suffix,
losses per step, steps, forward passes, seconds), summary.json and run.json. A killed run
resumes where it stopped; --queries-limit may be raised between runs.

examples:
  unmirage gcg runs/sft --queries world/test.jsonl --queries-limit 20 --out world/gcg-sft.jsonl
  unmirage eval --model runs/sft --data world/test.jsonl world/gcg-sft.jsonl --out eval-sft
  unmirage gcg runs/sft --queries vlguard/test.json --target "Sure, here is" \
      --out vlguard/gcg-sft.jsonl
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL_DIR", help="model directory (Hugging Face layout)")
    parser.add_argument("--queries", required=True, help="test or attack file")
    parser.add_argument("--out", required=True, help="attack file to write (JSONL)")
    parser.add_argument("--steps", type=int, default=DEFAULTS.steps, help="GCG steps per query")
    parser.add_argument(
        "--candidates", type=int, default=DEFAULTS.candidates, help="swaps scored per step"
    )
    parser.add_argument(
        "--topk", type=int, default=DEFAULTS.topk, help="tokens kept per suffix position"
    )
    parser.add_argument(
        "--suffix-len", type=int, default=DEFAULTS.suffix_len, help="suffix length in tokens"
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULTS.batch_size,
        help="candidates per forward pass (a memory knob)",
    )
    parser.add_argument(
        "--queries-limit", type=int, metavar="N", help="attack the first N unsafe queries"
    )
    parser.add_argument("--target", metavar="TEXT", help="target opening for every query")
    parser.add_argument("--targets", metavar="FILE", help="JSON {query id: target text}")
    parser.add_argument(
        "--no-early-stop",
        action="store_true",
        help="run every step even once the greedy answer already begins with the target",
    )
    parser.add_argument(
        "--image-root", help="directory image paths are relative to (default: the file's)"
    )


def run(args: argparse.Namespace) -> int:
    from unmirage.depth.gcg_run import gcg_attack, search_dir
    from unmirage.embedded.targets import world_target
    from unmirage.models.loading import check_model_source

    config = GCGConfig(
        steps=args.steps,
        candidates=args.candidates,
        topk=args.topk,
        suffix_len=args.suffix_len,
        batch_size=args.batch_size,
        early_stop=not args.no_early_stop,
        seed=args.seed,
    )
    config.check()  # the flags first, then the model, then the data it will read
    check_model_source(args.model)
    summary = gcg_attack(
        args.model,
        args.queries,
        args.out,
        config=config,
        target=args.target,
        targets_file=args.targets,
        target_rule=world_target,
        limit=args.queries_limit,
        image_root=args.image_root,
        progress=True,
    )
    print(
        f"GCG on {summary['n_queries']} queries: target loss {summary['initial_loss']:.3f} -> "
        f"{summary['loss']:.3f}, target reached {100 * summary['reached']:.1f}%, "
        f"{summary['steps_per_query']:.1f} steps, {summary['forwards_per_query']:.0f} forward "
        f"passes, {summary['seconds_per_query']:.1f} s "
        f"({summary['cpu_seconds_per_query']:.1f} s CPU) per query"
    )
    work = search_dir(args.out)
    print(f"wrote {args.out}, and {work}/log.jsonl and summary.json")
    return 0
