"""GCG's search budget, apart from the search so that `unmirage gcg --help` needs no torch."""

from __future__ import annotations

from dataclasses import dataclass

from unmirage.checks import is_int
from unmirage.errors import InputError


@dataclass(frozen=True)
class GCGConfig:
    """The search budget; every count must be at least 1. The defaults fit the embedded
    world's 4M-parameter model on two cores (docs/depth.md gives the cost and the larger
    budgets of the GCG literature for real models)."""

    steps: int = 30
    candidates: int = 64
    topk: int = 32
    suffix_len: int = 8
    batch_size: int = 64
    early_stop: bool = True
    seed: int = 0

    def check(self) -> None:
        for f in ("steps", "candidates", "topk", "suffix_len", "batch_size"):
            value = getattr(self, f)
            if not is_int(value) or value < 1:
                raise InputError(f"must be an integer of at least 1, got {value!r}", field=f)
