"""The models `unmirage reproduce` compares and how each is made, apart from the pipeline so
that the command line can list them without loading torch (the pipeline reads them
from here)."""

from __future__ import annotations

from dataclasses import dataclass

EMBEDDED_MODELS = ("sft-posthoc", "sft-mixed", "npo", "rmu")
REAL_MODELS = ("sft", "npo", "rmu")


@dataclass(frozen=True)
class ModelRecipe:
    """How one compared model is made: its objective, where it starts ("base", the checkpoint
    before instruction tuning "pre_instruction", or another compared model by name) and,
    for SFT, which data it is trained on ("safety", "helpful", "base": the world's base
    split)."""

    method: str
    start: str = "base"
    data: tuple[str, ...] = ()
    note: str = ""


RECIPES: dict[str, ModelRecipe] = {
    "sft": ModelRecipe("sft", data=("safety",), note="safety data only: not the paper's recipe"),
    "sft-posthoc": ModelRecipe(
        "sft",
        data=("safety", "helpful"),
        note="the paper's Posthoc-SFT: the base model fine-tuned on safety + helpfulness data",
    ),
    "sft-mixed": ModelRecipe(
        "sft",
        start="pre_instruction",
        data=("base", "safety", "helpful"),
        note="the paper's Mixed-SFT: safety + helpfulness data mixed into the base's "
        "instruction tuning (its data and knowledge replay unchanged), from the checkpoint "
        "before it",
    ),
    "npo-on-sft": ModelRecipe(
        "npo",
        start="sft-posthoc",
        note="NPO unlearning that starts from the Posthoc-SFT model: does unlearning remove "
        "the shortcut SFT learned, or keep it?",
    ),
    "rmu-on-sft": ModelRecipe(
        "rmu",
        start="sft-posthoc",
        note="RMU unlearning that starts from the Posthoc-SFT model",
    ),
}
STARTS = ("base", "pre_instruction")
"""Starting points that are not another compared model."""
