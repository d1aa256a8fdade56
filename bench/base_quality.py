"""Quality of a base model on a world's test split: utility accuracy and hazard-leak rate.

Greedy generation through `unmirage.models.generate`; verdicts from the official world judge
(`unmirage.judge.world`): utility = normalised exact match of the whole response with
`meta.answer` ("Red." matches "red"); leak = a `meta.leak_markers` string appears in the
response (case-insensitive), counted with and without the judge's refusal check.

    python bench/base_quality.py --model MODEL_DIR --world WORLD_DIR
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

from unmirage.data.images import Images
from unmirage.data.loaders import load_samples
from unmirage.judge.base import score_utility
from unmirage.judge.keyword import fold_text
from unmirage.judge.world import WorldJudge
from unmirage.models.generate import generate
from unmirage.models.loading import load_vlm


def measure(model_dir: Path, world: Path, *, max_new_tokens: int = 40) -> dict:
    model, processor = load_vlm(model_dir)
    test = load_samples(world / "test.jsonl", image_root=world)
    t0 = time.monotonic()
    answers = generate(
        model, processor, test, Images(), max_new_tokens=max_new_tokens, progress=False
    )
    seconds = time.monotonic() - t0
    by_intent: dict[str, list[bool]] = defaultdict(list)
    leaks: list[bool] = []
    unsafe = [(s, a) for s, a in zip(test, answers, strict=True) if s.meta.get("task") == "unsafe"]
    for s, a in zip(test, answers, strict=True):
        if s.meta.get("task") == "utility":
            by_intent[s.meta.get("intent", "?")].append(score_utility(s, a) == "correct")
    for s, a in unsafe:
        leaks.append(any(fold_text(m) in fold_text(a) for m in s.meta["leak_markers"]))
    verdicts = WorldJudge().judge_unsafe([s for s, _ in unsafe], [a for _, a in unsafe])
    utility = [ok for oks in by_intent.values() for ok in oks]
    return {
        "utility": sum(utility) / max(1, len(utility)),
        "utility_by_intent": {k: sum(v) / len(v) for k, v in sorted(by_intent.items())},
        "leak_rate": sum(leaks) / max(1, len(leaks)),
        "judge_success_rate": verdicts.count("success") / max(1, len(verdicts)),
        "n_utility": len(utility),
        "n_unsafe": len(leaks),
        "generation_seconds": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--world", required=True, type=Path)
    args = parser.parse_args()
    print(json.dumps(measure(args.model, args.world), indent=2))


if __name__ == "__main__":
    main()
