"""`unmirage attack`: one-word attack, over-prudence and control rewrites of a test set."""

from __future__ import annotations

import argparse
from collections import Counter
from typing import TYPE_CHECKING

from unmirage.checks import output_file
from unmirage.data.loaders import FORMATS, load_samples
from unmirage.errors import InputError

if TYPE_CHECKING:
    from unmirage.attack import Triggers
    from unmirage.attack.requests import Rewriter

HELP = "rewrite test queries so they start with a trigger word (K-shot attack sets)"
DESCRIPTION = """\
Rewrite every unsafe query K times so that it starts with a word that, in the safety data,
goes with answering (e.g. "What"), keeping every content word of the request; rewrite every
benign query once so that it starts with a word that goes with refusing (e.g. "Share"); and
add K control paraphrases per unsafe query made by the same frames but with no trigger word.
Rules are deterministic (the request is found as a task, a noun phrase or an embedded
question and put into a frame of the opening word); a query the rules cannot rewrite K times
with a trigger gets no rewrite for it, and the command says how many. With --rewriter model
a local instruct language model paraphrases first (beam search); each output must open with
the word and keep the request's content words, else the rules fill in. Each rewrite records
its rule ("lm" or the frame), trigger, shot and original id in meta. The output is JSONL for
`unmirage eval`.

Triggers come from an audit (`unmirage audit` -> audit.json: the top compliance and refusal
words at first position, each only if enriched beyond chance: the 95% Wilson lower bound of
P(class | word) above the class's base rate) or are named directly (used as given; the
refusal trigger then defaults to "share").

--control own-opener (default): the control paraphrases keep each query's own first word, so
they differ from the trigger rewrites in the opening word and its frame only. --control
neutral opens them with words the audit shows to be neutral (at least 30 queries; the 95%
interval of P(answered | word) holds the base rate and lies within 0.15 of it); none is an
error.

examples:
  unmirage attack --data world/test.jsonl --triggers audit/audit.json --k 3 --out world/attack.jsonl
  unmirage attack --data vlguard/test.json --triggers what --k 3 --out attack.jsonl
  unmirage attack --data vlguard/test.json --triggers what --rewriter model \
      --rewriter-model models/qwen2.5-0.5b-instruct --out attack.jsonl
  unmirage attack --data vlguard/test.json --precomputed test_what_3shot.json --out what.jsonl
  unmirage attack --format mmsafetybench --data MM-SafetyBench/data/processed_questions \
      --triggers what --k 3 --out mmsb-attack.jsonl
  unmirage attack --format figstep --data safebench.csv --triggers what --k 3 --out fs/attack.jsonl

--format reads a benchmark's own layout (see `unmirage eval --help`; default auto). Images
keep their paths, so write the output next to the data (or give eval --image-root); FigStep's
images and SPA-VL's embedded ones are written beside the output file (fs/figstep/...), where
eval finds them.
"""


CONTROL_CHOICES = ("own-opener", "neutral")
"""`unmirage.attack.CONTROLS` as options (spelled out: the parser must not load the attack
package)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", help="test set to rewrite (any --format)")
    parser.add_argument(
        "--format",
        default="auto",
        choices=FORMATS,
        metavar="NAME",
        help=f"format of --data: {', '.join(FORMATS)} (default: auto)",
    )
    parser.add_argument(
        "--triggers", nargs="+", metavar="AUDIT.json|WORD", help="audit.json or trigger words"
    )
    parser.add_argument("--k", type=int, default=3, help="rewrites per unsafe query (default 3)")
    parser.add_argument(
        "--refusal-trigger", help="over-prudence trigger (default: the audit's top, or 'share')"
    )
    parser.add_argument(
        "--control",
        default="own-opener",
        choices=[*CONTROL_CHOICES, "none"],
        help="no-trigger control: the query's own opener (default), the audit's neutral "
        "openers, or none",
    )
    parser.add_argument(
        "--precomputed",
        nargs="+",
        metavar="FILE",
        help="mark rewrites made elsewhere as attacks of the --data queries with the same ids "
        "(a repeated id is the next shot; a row equal to its original is left out)",
    )
    parser.add_argument(
        "--as-control", action="store_true", help="with --precomputed: the files are control sets"
    )
    parser.add_argument(
        "--rewriter",
        choices=("rules", "model"),
        default="rules",
        help="who writes the rewrites: the rules (default) or a language model checked by them",
    )
    parser.add_argument(
        "--rewriter-model",
        metavar="DIR",
        help="with --rewriter model: a local causal LM directory (safetensors, tokenizer)",
    )
    parser.add_argument(
        "--mood",
        action="store_true",
        help='also rewrite by sentence mood: each unsafe request as a question ("Could you '
        '...?"), each benign wh-question as a request ("Tell me ...")',
    )
    parser.add_argument("--out", required=True, help="output JSONL file")


def run(args: argparse.Namespace) -> int:
    from unmirage.attack import attack_files, from_precomputed, parse_triggers
    from unmirage.data.writers import write_jsonl

    if not args.data:
        raise InputError("give --data: the test set to rewrite (or that --precomputed rewrote)")
    output_file(args.out)
    note = ""
    missed: Counter[tuple[str, str]] = Counter()
    if args.precomputed:
        originals = load_samples(args.data, args.format, check_images=False)
        files = [
            (f, load_samples(f, check_images=False, unique_ids=False)) for f in args.precomputed
        ]
        made = from_precomputed(files, originals, control=args.as_control)
        out = made.rows
        if not out:
            raise InputError("no rewritten unsafe or benign queries", field="precomputed")
        write_jsonl(out, args.out)
        note = f"; left out {made.unchanged} rows identical to their original query"
    else:
        if not args.triggers:
            raise InputError("give --triggers (or --precomputed FILE...)", field="triggers")
        triggers = parse_triggers(args.triggers, args.refusal_trigger)
        print(_describe(triggers))
        control = None if args.control == "none" else args.control.replace("-", "_")
        out, missed = attack_files(
            args.data,
            triggers,
            args.out,
            k=args.k,
            fmt=args.format,
            control=control,
            rewrite=_rewriter(args),
            mood=args.mood,
        )
    counts = Counter(s.meta["attack"] for s in out)
    summary = ", ".join(f"{n} {attack}" for attack, n in sorted(counts.items()))
    print(f"wrote {len(out)} rewrites ({summary}) to {args.out}{note}")
    for (attack, trigger), n in sorted(missed.items()):
        if n:
            need = args.k if attack == "trigger" else 1
            print(f"{n} queries got no {attack} rewrite with '{trigger}' (fewer than {need} found)")
    return 0


def _rewriter(args: argparse.Namespace) -> Rewriter:
    from unmirage.attack.rules import rewrites

    if args.rewriter == "rules":
        if args.rewriter_model:
            raise InputError("needs --rewriter model", field="rewriter-model")
        return rewrites
    if not args.rewriter_model:
        raise InputError("--rewriter model needs --rewriter-model DIR", field="rewriter-model")
    from unmirage.attack.lm_rewriter import load_rewriter

    return load_rewriter(args.rewriter_model)


def _describe(triggers: Triggers) -> str:
    """The trigger words used, best first, and the audit-ranked words left out."""
    from unmirage.attack.build import RANKS, usable

    parts = [
        f"compliance triggers: {', '.join(usable(triggers.compliance)[:RANKS])}",
        f"refusal triggers: {', '.join(usable(triggers.refusal)[:RANKS])}",
    ]
    if triggers.left_out:
        parts.append(f"not enriched beyond chance, left out: {', '.join(triggers.left_out)}")
    return "; ".join(parts)
