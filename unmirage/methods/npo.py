"""NPO: negative preference optimisation against the model before unlearning, with a cached
reference.

The reference log-probabilities of the forget set never change during unlearning, so they are
computed once in `setup` and looked up by row index: no second model is kept or run for the
forget term (paper-notes §6).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from unmirage.errors import InputError
from unmirage.methods.base import register
from unmirage.methods.losses import Batch, sequence_logprob
from unmirage.methods.unlearning import Loaders, Logs, Unlearning, check_knob, check_number


def npo_loss(logratio: Tensor, beta: float) -> Tensor:
    """Per-row -(2/beta) * log sigmoid(-beta * logratio), logratio = log p_theta - log p_ref.

    Equals (2/beta) * log 2 at logratio 0; its gradient always pushes log p_theta down, with a
    weight sigmoid(beta * logratio) that fades as the forget answer becomes unlikely.
    """
    return -(2.0 / beta) * torch.nn.functional.logsigmoid(-beta * logratio)


def move_to(batch: Batch, device: torch.device) -> dict[str, Tensor]:
    """A batch with every tensor on `device` (setup may be handed CPU batches)."""
    return {k: v.to(device) if isinstance(v, Tensor) else v for k, v in batch.items()}


def model_device(model: nn.Module) -> torch.device:
    """Device of the model's first parameter (where its inputs must live)."""
    return next(model.parameters()).device


@torch.no_grad()
def per_row(
    model: nn.Module, loaders: Loaders, stream: str, fn: Callable[[Batch], Tensor]
) -> Tensor:
    """`fn(batch)` for every row of one stream, in eval mode, stored at the row's `index`.

    Rows never seen stay NaN so a later lookup of them fails loudly instead of silently.
    """
    was_training = model.training
    model.eval()
    try:
        found: list[tuple[Tensor, Tensor]] = []
        device = model_device(model)
        for batch in loaders[stream]():
            values = fn(move_to(batch, device))
            found.append((batch["index"].long().cpu(), values.float().cpu()))
    finally:
        model.train(was_training)
    if not found:
        raise InputError(f"the {stream} data set is empty", field=stream)
    size = int(max(index.max() for index, _ in found)) + 1
    table = torch.full((size,), float("nan"))
    for index, values in found:
        table[index] = values
    return table


def lookup(table: Tensor, index: Tensor) -> Tensor:
    """Values cached for these rows; a row missing from the cache is a contract violation."""
    index = index.long().cpu()
    if int(index.max()) >= table.numel() or torch.isnan(table[index]).any():
        raise RuntimeError(
            "a forget row has no cached reference (or a NaN one): setup() must iterate the "
            "whole forget stream, with the row indices used in training, on a finite model"
        )
    return table[index]


@register("npo")
@dataclass
class NPO(Unlearning):
    """NPO forget term + gamma * (retain next-token loss + alpha * retain KL) (see `Unlearning`).

    l_u = mean over forget rows of -(2/beta) log sigmoid(-beta (log p_theta(y|x) - log p_ref(y|x))).

    beta: inverse temperature. Default 0.9, the authors' full fine-tuning value (LoRA: 0.7).
    normalize: how log p(y|x) is taken per row. "sum" sums token log-probs (original NPO);
    "mean" averages them (closer to the authors' code, which uses the batch-mean token
    cross-entropy). Default "mean": with it the log-ratio does not grow with the answer's length,
    so one beta means the same for a 5-token and a 200-token answer, and the authors' betas
    (tuned on token means) transfer; with "sum" long answers saturate the sigmoid after a few
    steps and stop contributing.

    Call `setup` on the model before unlearning (on resume too, before restoring the trained
    weights): it caches log p_ref of every forget row.
    """

    """Three passes over the embedded world's 800 forget pairs at batch 16."""

    beta: float = field(
        default=0.9, metadata={"help": "inverse temperature (authors: 0.9 full, 0.7 LoRA)"}
    )
    normalize: str = field(
        default="mean",
        metadata={"help": "log p(y|x) per row: 'mean' of token log-probs, or 'sum' (NPO's)"},
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check_number("beta", self.beta, above=0)
        check_knob(
            self.normalize in ("sum", "mean"),
            "normalize",
            f"must be 'sum' or 'mean', got '{self.normalize}'",
        )
        self._ref_logp: Tensor | None = None

    def logprob(self, model: nn.Module, batch: Batch) -> Tensor:
        """log p(y|x) per row under this method's normalisation."""
        return sequence_logprob(model, batch, mean=self.normalize == "mean")

    def setup(self, model: nn.Module, loaders: Loaders) -> None:
        super().setup(model, loaders)
        self._ref_logp = per_row(model, loaders, "forget", lambda b: self.logprob(model, b))

    def forget_loss(self, model: nn.Module, batch: Batch) -> tuple[Tensor, Logs]:
        if self._ref_logp is None:
            raise RuntimeError("NPO.setup() must run before the first loss")
        logp = self.logprob(model, batch)
        ref = lookup(self._ref_logp, batch["index"]).to(logp.device)
        logratio = logp - ref
        loss = npo_loss(logratio, self.beta).mean()
        return loss, {
            "forget_npo": loss.item(),
            "forget_logp": logp.mean().item(),
            "forget_logratio": logratio.mean().item(),
        }
