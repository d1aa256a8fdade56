"""Build unlearning's forget and retain sets from VLGuard (by sampling) or SPA-VL (as given).

VLGuard ships refusals, not the harmful answers that unlearning must forget. The paper's
pipeline (docs/forget-set.md): sample answers to the unsafe queries from base models, keep the
most harmful one per query according to a judge, put the unsafe queries with those answers in
the forget set, and the safe pairs, topped up with general instruction data, in the retain set.

Resumable like `unmirage eval`: `OUT/candidates.jsonl` holds every sampled answer, keyed by
(query id, model, sample index), `OUT/scores.jsonl` every judge score, keyed the same way plus
the judge's spec; both are append-only and fsynced per batch, so a killed run loses at most the
batch in flight and a rerun skips what is done (a partly written last line is dropped). Each
answer is sampled from its own generator, seeded from (seed, query id, model, sample index), so
it does not depend on the batch it was drawn in, and adding a model or raising `--samples`
later only samples what is missing. `forget.json`, `retain.json` and `manifest.json` are
written together at the end, or not at all.

Modules: `options` (what the command takes; no torch), `vlguard` and `spavl` (the two
sources), `sets` (the retain set and the image root), `build` (checks, then writing).
"""

from __future__ import annotations

from typing import Any

from unmirage.forgetset.options import SOURCES, ForgetSetOptions

__all__ = ["SOURCES", "ForgetSetOptions", "build_forget_set"]


def __getattr__(name: str) -> Any:
    """`build_forget_set`, imported on first use (it loads the models' stack)."""
    if name != "build_forget_set":
        raise AttributeError(f"module 'unmirage.forgetset' has no attribute {name!r}")
    from unmirage.forgetset.build import build_forget_set

    return build_forget_set
