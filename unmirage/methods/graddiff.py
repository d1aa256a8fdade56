"""GradDiff: gradient ascent on the forget set, held in place by the retain loss."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from unmirage.methods.base import register
from unmirage.methods.losses import Batch, next_token_loss
from unmirage.methods.unlearning import Logs, Unlearning


@register("graddiff")
@dataclass
class GradDiff(Unlearning):
    """Gradient ascent on forget responses plus the retain loss (gamma, alpha: `Unlearning`).

    l_u = -(mean next-token loss on forget responses). The term has no lower bound: the forget
    likelihood can be driven to zero and the loss to minus infinity, so the model diverges
    (gibberish everywhere) unless the retain weight, learning rate and step count keep it in
    check. NPO and SimNPO bound this term; GradDiff is here as the standard baseline.
    """

    """Three passes over the embedded world's 800 forget pairs at batch 16."""

    def forget_loss(self, model: nn.Module, batch: Batch) -> tuple[Tensor, Logs]:
        nll = next_token_loss(model, batch)
        return -nll, {"forget_nll": nll.item()}
