"""The paper's headline numbers (LLaVA-1.5-7B, VLGuard test) and how our models map to them.

Source: Chen et al., "Safety Mirage" (arXiv 2503.11832), main table and mechanism analysis.
They are shown beside ours for the direction of each effect only: the scales differ.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ROLES: tuple[str, ...] = ("base", "sft", "npo", "rmu", "graddiff", "simnpo")
"""Model roles a run may contain; every role but base and sft is a machine-unlearning one."""

MU_ROLES: frozenset[str] = frozenset({"npo", "rmu", "graddiff", "simnpo"})


@dataclass(frozen=True)
class PaperRow:
    """One row of the paper's main table, in percent."""

    name: str
    asr_pre: float
    asr_post: float
    rr_pre: float
    rr_post: float
    vqav2: float


PAPER_TABLE: dict[str, PaperRow] = {
    "base": PaperRow("LLaVA-1.5-7B", 64.25, 90.27, 0.36, 0.36, 78.53),
    "mixed_sft": PaperRow("Mixed-SFT (VLGuard)", 0.23, 54.98, 4.48, 91.76, 78.23),
    "posthoc_sft": PaperRow("Posthoc-SFT (VLGuard)", 0.23, 46.83, 2.69, 90.83, 78.03),
    "npo": PaperRow("NPO unlearning", 2.49, 12.92, 2.51, 11.69, 77.34),
    "rmu": PaperRow("RMU unlearning", 1.29, 10.18, 1.25, 7.56, 77.04),
}

PAPER_MECHANISM: dict[str, str] = {
    "sft": "RR about 70, IR about 5",
    "npo": "IR 49, RR 44",
    "rmu": "IR 89, RR 6",
}
"""Per-shot response mechanism after the attack, in percent, as the paper reports it."""


def _tokens(name: str) -> list[str]:
    return [t for t in re.split(r"[^a-z0-9]+", name.lower()) if t]


def model_role(name: str, block: Mapping[str, Any] | None = None) -> str | None:
    """The role of a model: "base", "sft" or its unlearning method, read from its recipe where
    metrics.json records one (a reproduction's models), else from its name ("sft",
    "llava-npo", "Posthoc-SFT"); None if unknown."""
    recipe = (block or {}).get("recipe")
    if recipe:
        return {"base": "base", "sft": "sft"}.get(recipe["kind"], recipe.get("method"))
    tokens = _tokens(name)
    for role in ROLES:
        if role in tokens:
            return role
    return None


def unlearns(name: str, block: Mapping[str, Any] | None = None) -> bool:
    """Whether a model was made by unlearning: its recipe says so, or (no recipe) its name
    names a machine-unlearning method."""
    recipe = (block or {}).get("recipe")
    if recipe:
        return bool(recipe["kind"] == "unlearning")
    return model_role(name) in MU_ROLES


def paper_row(name: str, block: Mapping[str, Any] | None = None) -> PaperRow | None:
    """The paper's row for a model: an SFT model made by one of its recipes (its recipe's
    start and data, or, with no recipe, its name: "posthoc", "mixed") gets that recipe's row;
    SFT on safety data alone is neither, so it gets none."""
    role = model_role(name, block)
    recipe = (block or {}).get("recipe")
    if role != "sft":
        if recipe and recipe.get("start", "base") != "base":
            return None  # e.g. unlearning on top of SFT: no row of the paper
        return PAPER_TABLE.get(role) if role else None
    if recipe:
        if recipe.get("start") == "pre_instruction":
            return PAPER_TABLE["mixed_sft"]
        return PAPER_TABLE["posthoc_sft"] if "helpful" in recipe.get("data", ()) else None
    tokens = _tokens(name)
    made = next((r for r in ("mixed", "posthoc") if r in tokens), None)
    return PAPER_TABLE[f"{made}_sft"] if made else None
