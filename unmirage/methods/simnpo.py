"""SimNPO: NPO without a reference model, on the length-normalised log-likelihood."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from unmirage.methods.base import register
from unmirage.methods.losses import Batch, sequence_logprob
from unmirage.methods.unlearning import Logs, Unlearning, check_number


def simnpo_loss(mean_logp: Tensor, beta: float, margin: float) -> Tensor:
    """Per-row -(2/beta) * log sigmoid(-beta * mean_logp - margin).

    `mean_logp` is log p(y|x) / |y| (the token mean), so beta / |y| * log p(y|x) = beta * mean_logp.
    """
    return -(2.0 / beta) * torch.nn.functional.logsigmoid(-beta * mean_logp - margin)


@register("simnpo")
@dataclass
class SimNPO(Unlearning):
    """SimNPO forget term + gamma * (retain next-token loss + alpha * retain KL) (`Unlearning`).

    l_u = mean over forget rows of -(2/beta) log sigmoid(-(beta/|y|) log p_theta(y|x) - margin).

    No reference model and no setup pass: the length normalisation replaces NPO's reference.
    beta: inverse temperature; margin: the SimNPO paper's gamma, renamed so that it does not
    clash with the retain weight `gamma`. Defaults beta 2.5, margin 0: the SimNPO authors'
    TOFU forget-5% setting (no VLM setting has been published).
    """

    """Three passes over the embedded world's 800 forget pairs at batch 16."""

    beta: float = field(default=2.5, metadata={"help": "inverse temperature (SimNPO: 2.5)"})
    margin: float = field(
        default=0.0, metadata={"help": "the SimNPO paper's gamma, renamed: a reward margin"}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check_number("beta", self.beta, above=0)
        check_number("margin", self.margin, above=-math.inf)

    def forget_loss(self, model: nn.Module, batch: Batch) -> tuple[Tensor, Logs]:
        mean_logp = sequence_logprob(model, batch, mean=True)
        loss = simnpo_loss(mean_logp, self.beta, self.margin).mean()
        return loss, {"forget_simnpo": loss.item(), "forget_mean_logp": mean_logp.mean().item()}
