"""Supervised fine-tuning: the ordinary next-token loss on the response tokens."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor, nn

from unmirage.methods.base import Method, register
from unmirage.methods.losses import Batch, next_token_loss


@register("sft")
@dataclass
class SFT(Method):
    """Cross-entropy averaged over all response tokens of the "train" stream.

    Two passes over the data by default.
    """

    streams: ClassVar[tuple[str, ...]] = ("train",)

    def loss(self, model: nn.Module, batch: Mapping[str, Batch]) -> tuple[Tensor, dict[str, float]]:
        loss = next_token_loss(model, batch["train"])
        return loss, {"nll": loss.item()}
