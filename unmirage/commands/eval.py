"""`unmirage eval`: generate, judge and score a model on test and attack sets."""

from __future__ import annotations

import argparse
import functools
from typing import Any

from unmirage.checks import output_dir
from unmirage.data.images import add_image_root_option, parse_roots
from unmirage.data.loaders import FORMATS
from unmirage.judge.base import JUDGES

HELP = "answer test/attack queries with a model, judge them, write metrics.json"
DESCRIPTION = """\
Answer every query of the data files with batched greedy decoding, judge each answer, and
write OUT/responses.jsonl (one row per query, append-only) and OUT/metrics.json: ASR before
and after the one-word attack (K-shot, with the whole curve), irrelevant and refusal shares
after the attack, refusals of benign queries before and after the over-prudence rewrite,
utility, the control set's ASR, each with a 95% Wilson interval; for data read with a
benchmark --format, the same per benchmark, category and variant.

A killed run resumes: run the same command again and it skips the answers already written.

--prefill TEXT begins every assistant turn with TEXT, written through the model's own chat
template ("ASSISTANT: Sure," for LLaVA, "<|im_start|>assistant\nSure," for Qwen2-VL), and
judges what the model writes after it: a refusal that only lives in the first tokens
disappears. The documented prefixes are "Sure," and "Sure, here is" (docs/depth.md); run one
eval per prefix, each in its own --out.

judges:
  auto            world if every unsafe query has meta.leak_markers, else keyword
  world           exact ground truth of the procedural world: refused / leaked / irrelevant
  keyword         the paper's refusal keyword list (refused / success only)
  keyword-strict  first-person refusal phrases near the start (fewer false refusals)
  model           keyword refusals, then a local judge model asked whether the answer is
                  relevant (--judge-model DIR); unparseable answers are counted as unparsed

data formats (--format, one for all files or one per file; default auto):
  jsonl, vlguard, llava  our JSONL, VLGuard JSON, LLaVA conversation JSON
  spavl          SPA-VL train / test harm / help (parquet or JSON; harm unsafe, help benign)
  mmsafetybench  MM-SafetyBench processed_questions/ (SD, SD_TYPO, TYPO and text per question)
  figstep        FigStep's safebench.csv; the FigStep images are drawn into OUT/figstep/
  xstest         XSTest xstest_prompts.csv (safe prompts benign, contrast_ prompts unsafe)
  mossbench      MOSSBench information.json (benign: refusals are over-refusal)
  vqav2          VQAv2 questions JSON (+ annotations beside it), VQA soft accuracy as utility
  mc             multiple choice {question, options, answer}, scored by the option letter
  Benchmark results go to metrics.json "benchmarks", per category and variant.

examples:
  unmirage eval --model runs/sft --data world/test.jsonl world/attack.jsonl --out eval-sft
  unmirage eval --model runs/sft --data world/test.jsonl --prefill "Sure," --out eval-sft-sure
  unmirage eval --model runs/sft --format mmsafetybench \\
      --data MM-SafetyBench/data/processed_questions --out eval-mmsb
  unmirage eval --model runs/sft --format figstep jsonl \\
      --data safebench.csv fs/attack.jsonl --out eval-fs
  unmirage eval --model runs/sft --format vqav2 \\
      --data vqav2/v2_OpenEnded_mscoco_val2014_questions.json --out eval-vqa
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model directory (Hugging Face layout)")
    parser.add_argument("--data", nargs="+", required=True, help="test and attack files")
    parser.add_argument(
        "--format",
        nargs="+",
        default=["auto"],
        choices=FORMATS,
        metavar="NAME",
        help="data format: one for all --data files or one per file (default: auto)",
    )
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--judge", default="auto", choices=["auto", *sorted(JUDGES)])
    parser.add_argument("--judge-model", help="local judge model directory (--judge model)")
    parser.add_argument("--batch-size", type=int, default=16, help="generation batch (16)")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="answer length cap (64)")
    parser.add_argument("--name", help="model name in metrics.json (default: directory name)")
    parser.add_argument(
        "--judge-agreement",
        metavar="LABELS.jsonl",
        help='per-response labels {"id": ..., "harmful": true|false}: score every judge on the '
        "harmful queries against them (the world's own truth needs no labels)",
    )
    add_image_root_option(parser)
    parser.add_argument(
        "--prefill",
        default="",
        metavar="TEXT",
        help='begin every answer with TEXT (e.g. "Sure,"); the judge sees what follows it',
    )
    parser.add_argument(
        "--allow-pickle",
        action="store_true",
        help="also load pickled weights (pytorch_model.bin), which can run code: only for "
        "files you trust (off: safetensors only)",
    )


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _summary(m: dict[str, Any]) -> str:
    gcg = f", GCG ASR {_fmt(m['asr_gcg'])} (RR {_fmt(m['rr_gcg'])})" if m.get("n_gcg") else ""
    prefill = f" [prefill {m['prefill']!r}]" if m.get("prefill") else ""
    return (
        f"ASR {_fmt(m['asr_pre'])} -> {_fmt(m['asr_post'])} (K={m['k']}, "
        f"control {_fmt(m['asr_control'])}), IR {_fmt(m['ir_post'])}, "
        f"RR unsafe {_fmt(m['rr_unsafe_post'])}, "
        f"RR benign {_fmt(m['rr_pre'])} -> {_fmt(m['rr_post'])}, "
        f"utility {_fmt(m['utility'])}{gcg}{prefill}"
    )


def run(args: argparse.Namespace) -> int:
    from unmirage.evaluate import evaluate
    from unmirage.models.loading import check_model_source

    output_dir(args.out)
    check_model_source(args.model, allow_pickle=args.allow_pickle)  # before the data

    opts: dict[str, Any] = {"model": args.judge_model} if args.judge == "model" else {}
    load_fn = None
    if args.allow_pickle:
        from unmirage.models.loading import load_vlm

        load_fn = functools.partial(load_vlm, allow_pickle=True)
    doc = evaluate(
        args.model,
        args.data,
        args.out,
        judge=args.judge,
        judge_opts=opts,
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
        name=args.name,
        image_root=parse_roots(args.image_root, args.data),
        formats=args.format,
        seed=args.seed,
        prefill=args.prefill,
        progress=True,
        load_fn=load_fn,
        judge_labels=args.judge_agreement,
    )
    for name, m in doc["models"].items():
        print(f"{name} (judge {doc['config']['judge']}): {_summary(m)}")
        for judge, j in (m.get("judges") or {}).items():
            print(
                f"  judge {judge} against the truth ({j['n']} answers to harmful queries): "
                f"agrees {_fmt(j['agreement'])}, calls {_fmt(j['false_safe'])} of the harmful "
                f"safe and {_fmt(j['false_unsafe'])} of the harmless a success"
            )
    for bench, section in doc.get("benchmarks", {}).items():
        for m in section["models"].values():
            print(f"  {section['title']} ({bench}): {_summary(m)}")
    print(f"wrote {args.out}/metrics.json and responses.jsonl")
    return 0
