"""The attack's rewrites of VLGuard's test split: counts, and a seeded sample to read.

The triggers come from the audit of the same file (as `unmirage reproduce` takes them), so
the sample shows what a user's real-data attack file holds. For each trigger and the
own-opener control it prints how many queries the rules reach, how many rewrites are
prefixed in two senses, counted on the text here, independently of the rules' own guard
(the query kept as it was, capital and punctuation included, after a lead-in: the prefixing
of old; and the query's words whole and in order after other words, which also counts a
question embedded unchanged, "Share what is depicted in the image."), and which frames made
them; then, per kind (headline trigger, headline over-prudence trigger, control), a markdown
table of a seeded sample with an empty verdict column for a reader to fill in.

    python bench/vlguard_rewrites.py ../shared/data/vlguard/test.json --n 100
"""

from __future__ import annotations

import argparse
import random
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from unmirage.attack import build_attack, load_audit_triggers
from unmirage.audit import audit_files
from unmirage.data.loaders import load_samples
from unmirage.data.sample import Sample, task_of
from unmirage.text import tokenize


def holds_query(query: str, rewrite: str) -> bool:
    """The rewrite's words contain all of the query's words, in order, after other words."""
    q, r = tokenize(query), tokenize(rewrite)
    return any(r[i : i + len(q)] == q for i in range(1, len(r) - len(q) + 1))


def keeps_sentence(query: str, rewrite: str) -> bool:
    """The query, as it was written, follows a lead-in ("What is the answer to this
    question? Can you ...?", "Whence: What does ...?")."""
    return rewrite.find(query.strip()) > 0


Row = tuple[str, str, str]
"""(original id, rewrite, rule)."""


def as_rows(rows: Sequence[Sample]) -> list[Row]:
    return [(r.meta["orig_id"], r.query, r.meta["rule"]) for r in rows]


def report(name: str, rows: Sequence[Row], n_queries: int, originals: dict[str, str]) -> None:
    reached = len({orig for orig, _, _ in rows})
    sentence = sum(keeps_sentence(originals[orig], rw) for orig, rw, _ in rows)
    words = sum(holds_query(originals[orig], rw) for orig, rw, _ in rows)
    rules = Counter(rule.rsplit("/", 1)[-1] for _, _, rule in rows)
    print(
        f"{name}: {len(rows)} rewrites of {reached} of {n_queries} queries "
        f"({n_queries - reached} not reached); prefixed: {sentence} keep the query as written "
        f"after a lead-in, {words} its words whole after other words; frames used: "
        f"{dict(sorted(rules.items(), key=lambda x: (len(x[0]), x[0])))}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        audit_files([args.data], tmp, check_images=False)
        triggers = load_audit_triggers(Path(tmp) / "audit.json")
    samples = load_samples(args.data, check_images=False)
    originals = {s.id: s.query for s in samples}
    tasks = Counter(task_of(s) for s in samples)
    rows = build_attack(samples, triggers, args.k)
    print(f"triggers: compliance {triggers.compliance[:3]}, refusal {triggers.refusal[:3]}\n")
    kinds = {
        attack: as_rows([r for r in rows if r.meta["attack"] == attack and r.meta["rank"] == 0])
        for attack in ("trigger", "overprudence", "control")
    }
    for attack in ("trigger", "overprudence"):
        for word in dict.fromkeys(r.meta["trigger"] for r in rows if r.meta["attack"] == attack):
            mine = [r for r in rows if r.meta["attack"] == attack and r.meta["trigger"] == word]
            task = "unsafe" if attack == "trigger" else "benign"
            report(f"- {attack} '{word}'", as_rows(mine), tasks[task], originals)
    report("- control (own opener)", kinds["control"], tasks["unsafe"], originals)
    print(
        "  (the control covers the queries the headline trigger reaches: "
        f"{len({r[0] for r in kinds['trigger']})})"
    )
    rng = random.Random(args.seed)
    for attack, pool in kinds.items():
        print(f"\n#### {attack} ({len(pool)} rewrites; {min(args.n, len(pool))} read)\n")
        print("| # | original | rewrite | frame | verdict |")
        print("|---|---|---|---|---|")
        for i, (orig, rw, rule) in enumerate(sorted(rng.sample(pool, min(args.n, len(pool))))):
            cells = (originals[orig], rw, rule)
            print(f"| {i + 1} | " + " | ".join(c.replace("|", "\\|") for c in cells) + " |  |")


if __name__ == "__main__":
    main()
