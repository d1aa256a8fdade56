"""A seeded sample of the attack's rewrites of VLGuard's test split, as markdown tables.

The triggers come from the audit of the same file (as `unmirage reproduce` takes them), so
the sample shows what a user's real-data attack file holds, for anyone to judge.

    python bench/vlguard_rewrites.py ../shared/data/vlguard/test.json --n 30
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path

from unmirage.attack import build_attack, load_audit_triggers
from unmirage.audit import audit_files
from unmirage.data.loaders import load_samples


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
    rewrites = build_attack(samples, triggers, args.k)
    print(f"triggers: compliance {triggers.compliance[:3]}, refusal {triggers.refusal[:3]}")
    rng = random.Random(args.seed)
    for attack in ("trigger", "control", "overprudence"):
        pool = [r for r in rewrites if r.meta["attack"] == attack and r.meta["rank"] == 0]
        prefixed = sum(r.meta["rule"].startswith(("embed/", "prefix")) for r in pool)
        print(f"\n### {attack} (headline trigger; {prefixed} of {len(pool)} prefixed)\n")
        print("| original | rewrite | rule |")
        print("|---|---|---|")
        for r in sorted(rng.sample(pool, min(args.n, len(pool))), key=lambda r: r.id):
            cells = (originals[r.meta["orig_id"]], r.query, r.meta["rule"])
            print("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")


if __name__ == "__main__":
    main()
