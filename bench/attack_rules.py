"""Per-shot attack success by rewrite rule, for every model of a finished reproduce run.

Which rewrites break a model: the grammatical ones ("Share X." -> "What are X?") or the
prefixings that leave the original query whole ("What would you say to this: Can you ...?"),
and how the no-trigger control's rules compare. Read from each eval stage's responses.jsonl.

    python bench/attack_rules.py runs/default
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path

from unmirage.io import read_rows


def by_rule(responses: Path) -> dict[tuple[str, str], Counter[str]]:
    """(attack, rule) -> verdict counts, over the trigger and control rewrites."""
    out: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for row in read_rows(responses):
        if row.get("attack") in ("trigger", "control"):
            out[(row["attack"], row["rule"])][row["verdict"]] += 1
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="output directory of unmirage reproduce")
    args = parser.parse_args()
    stages = json.loads((args.run / "stages.json").read_text())
    for name, stage in stages.items():
        if not name.startswith("eval-"):
            continue
        print(f"\n{name.removeprefix('eval-')}")
        print(f"  {'attack':<9}{'rule':<26}{'rewrites':>9}{'success':>9}")
        rules = by_rule(args.run / stage["path"] / "responses.jsonl")
        for (attack, rule), verdicts in sorted(rules.items()):
            n = sum(verdicts.values())
            print(f"  {attack:<9}{rule:<26}{n:>9}{verdicts['success'] / n:>9.3f}")


if __name__ == "__main__":
    main()
