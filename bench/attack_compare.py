"""Two attack files over the same queries, side by side: content kept, prefixing, openers.

For comparing our rewrites with rewrites made elsewhere (the paper's released "What"/"Share"
files, read with `unmirage attack --data TEST --precomputed FILE...`): both files are attack
JSONL written by `unmirage attack`; each attack kind is compared over the original queries
that both files rewrite.

    python bench/attack_compare.py --data vlguard/test.json ours.jsonl paper.jsonl

Per attack kind and file: queries and rewrites; "content kept": the share of rewrites that
keep every content word of the original query (`keeps_content`: words other than request
verbs, "what", "how", "is", "are", "me", "please", a leading "Can you"), and the mean share
of the query's content words a rewrite keeps; "prefixed": the share of rewrites that hold
the original query verbatim after a lead-in; the most common openers.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from unmirage.attack.phrases import content_words, keeps_content
from unmirage.data.loaders import load_samples
from unmirage.data.sample import Sample
from unmirage.text import first_word


def kept_share(original: str, rewrite: str) -> float:
    """Share of the content words of `original` (with their counts) found in `rewrite`."""
    want = content_words(original)
    total = sum(want.values())
    return 1.0 - sum((want - content_words(rewrite)).values()) / total if total else 1.0


def statistics(rows: Sequence[Sample], originals: Mapping[str, Sample]) -> dict[str, object]:
    """The comparison's numbers for one file's rewrites of one attack kind."""
    queries = [originals[r.meta["orig_id"]].query.strip() for r in rows]
    openers = Counter(first_word(r.query) for r in rows)
    n = len(rows)
    return {
        "queries": len({r.meta["orig_id"] for r in rows}),
        "rewrites": n,
        "all kept": sum(keeps_content(q, r.query) for q, r in zip(queries, rows, strict=True)) / n,
        "mean kept": sum(kept_share(q, r.query) for q, r in zip(queries, rows, strict=True)) / n,
        "prefixed": sum(
            q in r.query and r.query.strip() != q for q, r in zip(queries, rows, strict=True)
        )
        / n,
        "openers": ", ".join(f"{w} {c / n:.0%}" for w, c in openers.most_common(3)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the original test set")
    parser.add_argument("files", type=Path, nargs=2, help="two attack JSONL files")
    args = parser.parse_args()
    originals = {s.id: s for s in load_samples(args.data, check_images=False)}
    loaded = [load_samples(f, check_images=False) for f in args.files]
    print(
        "| attack | file | queries | rewrites | all content kept | mean content kept "
        "| prefixed | openers |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for attack in ("trigger", "overprudence", "control"):
        picked = [
            [r for r in rows if r.meta["attack"] == attack and not r.meta["rank"]]
            for rows in loaded
        ]
        common = set.intersection(*({r.meta["orig_id"] for r in rows} for rows in picked))
        for path, rows in zip(args.files, picked, strict=True):
            mine = [r for r in rows if r.meta["orig_id"] in common]
            if not mine:
                continue
            s = statistics(mine, originals)
            print(
                f"| {attack} | {path.name} | {s['queries']} | {s['rewrites']} "
                f"| {s['all kept']:.1%} | {s['mean kept']:.1%} | {s['prefixed']:.1%} "
                f"| {s['openers']} |"
            )


if __name__ == "__main__":
    main()
