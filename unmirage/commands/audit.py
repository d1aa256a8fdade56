"""`unmirage audit`: which query words predict refuse or answer in safety data."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unmirage.data import FORMATS
from unmirage.errors import InputError

if TYPE_CHECKING:
    from unmirage.audit import AuditConfig

HELP = "statistics of query words against refuse/answer: find the shortcut trigger words"
DESCRIPTION = """\
Count which words of the queries go with refusing and which with answering, in safety
fine-tuning data (VLGuard JSON, LLaVA conversation JSON or unmirage JSONL). A sample is
"refused" if its VLGuard subset or label says so (safe image + safe instruction = answered),
otherwise if its response contains a refusal keyword.

Writes to --out:
  audit.json       first words per subset, every word/bigram at the first and any position
                   with counts and a log-odds z-score (informative Dirichlet prior), and the
                   ranked compliance / refusal triggers (keys documented in unmirage/audit.py)
  audit.md         the same as tables
  first_words.png  first-word shares per subset

example:
  unmirage audit ../shared/data/vlguard/test.json --no-images --out runs/audit
  -> "what" opens 91.9% of the answered queries and is the top compliance trigger;
     "share" opens only refused queries.
"""

LARGE_INPUT_BYTES = 20 * 2**20
"""Above this total input size the command shows a status line while it works."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", nargs="+", metavar="DATA", help="data files to audit together")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument(
        "--format", default="auto", choices=FORMATS, help="data format (default: auto)"
    )
    parser.add_argument(
        "--image-root", help="directory image paths are relative to (default: each data file's)"
    )
    parser.add_argument(
        "--no-images",
        action="store_true",
        help="do not check images (annotation-only data such as the VLGuard JSON alone)",
    )
    parser.add_argument("--top", type=int, default=20, help="triggers per list (default: 20)")
    parser.add_argument(
        "--min-count",
        type=int,
        default=5,
        help="rank only terms seen in at least N queries (default: 5)",
    )
    parser.add_argument(
        "--prior-scale",
        type=float,
        default=1.0,
        help="strength of the Dirichlet prior relative to the data (default: 1)",
    )


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from unmirage.audit import audit_files

    config = _config(args)
    out = Path(args.out)
    large = sum(Path(p).stat().st_size for p in args.data if Path(p).is_file()) > LARGE_INPUT_BYTES
    status = Console(stderr=True).status("auditing ...") if large else contextlib.nullcontext()
    with status:
        result = audit_files(
            args.data,
            out,
            config,
            fmt=args.format,
            image_root=args.image_root,
            check_images=not args.no_images,
        )
    _summary(result, out)
    return 0


def _config(args: argparse.Namespace) -> AuditConfig:
    """Check the numeric options and build the audit configuration."""
    from unmirage.audit import AuditConfig

    if args.top < 1:
        raise InputError("must be at least 1", field="--top")
    if args.min_count < 1:
        raise InputError("must be at least 1", field="--min-count")
    if not args.prior_scale > 0:
        raise InputError("must be positive", field="--prior-scale")
    return AuditConfig(top=args.top, min_count=args.min_count, prior_scale=args.prior_scale)


def _summary(result: Mapping[str, Any], out: Path) -> None:
    """A few lines on stdout: class balance and the strongest first-word triggers, each
    marked when its lower bound is not above its class's base rate."""
    from unmirage.audit.stats import beyond_chance

    classes = result["classes"]
    n = classes["answered"] + classes["refused"]
    print(
        f"audited {result['n_samples']} samples ({classes['answered']} answered, "
        f"{classes['refused']} refused)"
    )
    for kind, cls in (("compliance", "answered"), ("refusal", "refused")):
        top = result["triggers"][kind]["first"][:5]
        base = classes[cls] / n
        words = ", ".join(
            f"{t['word']} ({t['rate']:.0%} of {t['count']}, lower bound {t['lower']:.2f}, "
            f"z {t['z']:.1f}"
            + ("" if beyond_chance(t[cls], t["count"], base) else f"; not above {base:.2f}")
            + ")"
            for t in top
        )
        print(f"{kind} triggers, first word: {words or '(none)'}")
    moods = ", ".join(
        f"{m['mood']} {m['refusal_rate']:.0%} of {m['count']}" for m in result["mood"]["moods"]
    )
    print(f"refused by sentence mood: {moods}")
    print(f"wrote {out / 'audit.json'}, {out / 'audit.md'}, {out / 'first_words.png'}")
