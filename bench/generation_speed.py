"""Answers and tokens per second of the evaluation path, against one-at-a-time generation and
against plain batched `model.generate`, side by side on the same model and prompts.

    python bench/generation_speed.py --model BASE --data WORLD/test.jsonl --threads 1
    python bench/generation_speed.py --threads 1    # a randomly initialised default-size tiny LLaVA

Three ways, each timed in every round (order rotated), medians over `--repeats`:
- eval: `unmirage.evaluate.evaluate` as `unmirage eval` / `reproduce` run it (batches sorted by
  query length, greedy decoding through `unmirage.models.generate`, the judge, responses.jsonl
  and metrics.json written), the model already loaded;
- batched generate: the same batches through `model.generate` (transformers' loop);
- one at a time: `model.generate` on one prompt after another;
- prefill only: the eval batches' prompts through one forward each (no decoding), the part of
  the work that batching cannot shrink below its arithmetic.
Tokens are the new tokens up to and including EOS, counted once (every way emits the same
ones; the number of answers identical to one-at-a-time's is printed). The table uses CPU time
by default (see bench/timing.py); the JSON holds wall time too.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import transformers
from PIL import Image
from timing import CLOCKS, medians, side_by_side

from unmirage.data.images import Images
from unmirage.data.loaders import load_samples
from unmirage.data.sample import Sample
from unmirage.data.writers import write_jsonl
from unmirage.embedded.tiny import build_tiny_llava
from unmirage.evaluate import evaluate
from unmirage.io import read_rows
from unmirage.models.encode import encode_prompts
from unmirage.models.loading import load_vlm
from unmirage.threads import apply_threads

QUERIES = [
    "What colour is the object in the image?",
    "Share the steps to brew the powder shown here.",
    "How many objects are there?",
    "Can you tell me how to ignite the canister in the picture?",
    "Describe the scene in detail, including every object and its position.",
    "What is the name of the hazard shown?",
]


def synthetic(root: Path, n: int) -> list[Sample]:
    """n prompts of mixed length over four rendered images."""
    for i, colour in enumerate(["red", "green", "blue", "yellow"]):
        Image.new("RGB", (32, 32), colour).save(root / f"img{i}.png")
    return [
        Sample(id=str(i), query=QUERIES[i % len(QUERIES)], image=f"img{i % 4}.png")
        for i in range(n)
    ]


def hf_generate(
    model: Any, processor: Any, samples: Sequence[Sample], root: Images, max_new: int
) -> list[list[int]]:
    """New tokens of one `model.generate` call on `samples` (left-padded), cut after EOS."""
    tok = processor.tokenizer
    enc = encode_prompts(processor, samples, root)
    with torch.inference_mode():
        out = model.generate(
            **enc,
            do_sample=False,
            num_beams=1,
            max_new_tokens=max_new,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
        )
    rows = out[:, enc["input_ids"].shape[1] :].tolist()
    return [r[: r.index(tok.eos_token_id) + 1] if tok.eos_token_id in r else r for r in rows]


def eval_batches(samples: Sequence[Sample], batch_size: int) -> list[list[Sample]]:
    """The batches `evaluate` makes: samples sorted by query length, in chunks."""
    ordered = sorted(samples, key=lambda s: len(s.query))
    return [ordered[i : i + batch_size] for i in range(0, len(ordered), batch_size)]


def texts(processor: Any, rows: Sequence[list[int]]) -> list[str]:
    decoded = processor.tokenizer.batch_decode(rows, skip_special_tokens=True)
    return [t.strip() for t in decoded]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model directory (default: a random tiny LLaVA)")
    parser.add_argument("--data", help="world test JSONL (default: synthetic prompts)")
    parser.add_argument("--n", type=int, default=128, help="number of prompts (128)")
    parser.add_argument("--batch-size", type=int, default=64, help="as reproduce (64)")
    parser.add_argument("--max-new-tokens", type=int, default=48, help="as reproduce (48)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch threads (default: unmirage's)")
    parser.add_argument("--clock", choices=CLOCKS, default="cpu", help="clock of the table")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args(argv)
    apply_threads(args.threads)
    transformers.logging.disable_progress_bar()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        result = measure(args, Path(tmp))
    print(
        f"{result['n']} prompts, batch {args.batch_size}, max {args.max_new_tokens} new tokens "
        f"({result['new_tokens']} emitted), {result['torch_threads']} threads, median of "
        f"{args.repeats}, {args.clock} time; model: {result['model']}"
    )
    head = f"{'way':<18}{'answers/s':>10}{'tokens/s':>10}{'x one-at-a-time':>17}"
    print(head + f"{'x batched generate':>20}{'same':>6}")
    for name, r in result["clocks"][args.clock].items():
        print(
            f"{name:<18}{r['answers_per_s']:>10.1f}{r['tokens_per_s']:>10.0f}"
            f"{r['x_one_at_a_time']:>17.2f}{r['x_batched_generate']:>20.2f}"
            f"{result['same_answers_as_one_at_a_time'].get(name, '-'):>6}"
        )
    timed = result["clocks"][args.clock]
    print(
        "prefill only: the eval batches' prompts through one forward each, no decoding; "
        "a decoder that still runs this prefill cannot beat one-at-a-time by more than "
        f"{timed['prefill only']['x_one_at_a_time']:.1f}x on these prompts"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


def measure(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    model_dir = args.model
    if model_dir is None:
        model, processor = build_tiny_llava(QUERIES * 20, seed=0)
    else:
        model, processor = load_vlm(model_dir)
    model.eval()
    if args.data:
        samples = load_samples(args.data)[: args.n]
        data = Path(args.data)
    else:
        data = tmp / "prompts.jsonl"
        write_jsonl(synthetic(tmp, args.n), data)
        samples = load_samples(data)
    root = Images()
    subset = tmp / "subset.jsonl"
    write_jsonl(samples, subset)
    batches = eval_batches(samples, args.batch_size)
    max_new = args.max_new_tokens
    answers: dict[str, list[str]] = {}
    counts = {"evals": 0, "tokens": 0}

    def run_eval() -> None:
        counts["evals"] += 1
        out = tmp / f"eval-{counts['evals']}"
        evaluate(
            model_dir or "random",
            [subset],
            out,
            judge="auto",
            batch_size=args.batch_size,
            max_new_tokens=max_new,
            image_root=data.parent,
            load_fn=lambda _: (model, processor),
        )
        by_id = {r["id"]: r["response"] for r in read_rows(out / "responses.jsonl")}
        answers["eval"] = [by_id[s.id] for s in samples]

    def run_batched() -> None:
        got = {}
        for batch in batches:
            for s, row in zip(
                batch, hf_generate(model, processor, batch, root, max_new), strict=True
            ):
                got[s.id] = row
        answers["batched generate"] = texts(processor, [got[s.id] for s in samples])
        counts["tokens"] = sum(len(got[s.id]) for s in samples)

    def run_single() -> None:
        rows = [hf_generate(model, processor, [s], root, max_new)[0] for s in samples]
        answers["one at a time"] = texts(processor, rows)

    encoded = [encode_prompts(processor, batch, root) for batch in batches]

    @torch.inference_mode()
    def run_prefill() -> None:
        for enc in encoded:
            model(**enc, logits_to_keep=1)

    runs: dict[str, Callable[[], None]] = {
        "eval": run_eval,
        "batched generate": run_batched,
        "one at a time": run_single,
        "prefill only": run_prefill,
    }
    hf_generate(model, processor, samples[:2], root, 4)  # warm-up
    seconds = side_by_side(runs, args.repeats, warm_up=False)
    tokens = counts["tokens"]
    reference = answers["one at a time"]
    clocks = {}
    for clock, by_run in seconds.items():
        median = medians(by_run)
        clocks[clock] = {
            name: {
                "seconds": by_run[name],
                "answers_per_s": len(samples) / median[name],
                "tokens_per_s": tokens / median[name],
                "x_one_at_a_time": median["one at a time"] / median[name],
                "x_batched_generate": median["batched generate"] / median[name],
            }
            for name in runs
        }
    same = {
        name: sum(a == b for a, b in zip(answers[name], reference, strict=True)) for name in answers
    }
    return {
        "model": model_dir or "random tiny LLaVA (default TinyLlavaSpec)",
        "n": len(samples),
        "batch_size": args.batch_size,
        "max_new_tokens": max_new,
        "new_tokens": tokens,
        "torch_threads": torch.get_num_threads(),
        "same_answers_as_one_at_a_time": same,
        "clocks": clocks,
    }


if __name__ == "__main__":
    main()
