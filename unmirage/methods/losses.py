"""The token-level loss math every objective is built from.

A batch's `labels` mark the response tokens (-100 elsewhere); the logits at position t
predict the token at t+1. Each function takes either a model and a batch (one forward) or
logits a caller already has, so one forward can serve several terms (a retain loss and a
retain KL, or RMU's activations).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

Batch = Mapping[str, Tensor]

MODEL_INPUT_KEYS = (
    "input_ids",
    "attention_mask",
    "pixel_values",
    "image_grid_thw",
    "image_sizes",
    "mm_token_type_ids",
)


def model_inputs(batch: Batch) -> dict[str, Tensor]:
    """The keys of a batch that the model's forward takes (not labels, not index)."""
    return {k: batch[k] for k in MODEL_INPUT_KEYS if k in batch}


def shifted_response(logits: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Align the logits at t with the token at t+1: (logits, targets, response-token mask)."""
    targets = labels[:, 1:]
    mask = targets != -100
    return logits[:, :-1].float(), targets.clamp_min(0), mask


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of `values` where `mask` is true (0 if nothing is selected, never NaN)."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp_min(1)


def token_nll(logits: Tensor, labels: Tensor) -> Tensor:
    """Per-token negative log-likelihood of the response tokens: (B, T-1), zero elsewhere."""
    logits, targets, mask = shifted_response(logits, labels)
    nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
    return nll * mask


def response_nll(logits: Tensor, labels: Tensor) -> Tensor:
    """Mean next-token loss over all response tokens of the batch."""
    return masked_mean(token_nll(logits, labels), labels[:, 1:] != -100)


def next_token_loss(model: nn.Module, batch: Batch) -> Tensor:
    """The ordinary LM loss: one forward, then `response_nll`."""
    return response_nll(model(**model_inputs(batch)).logits, batch["labels"])


def sequence_logprob(model: nn.Module, batch: Batch, *, mean: bool = False) -> Tensor:
    """log p(response | prompt) per row: the sum over response tokens, or their mean."""
    nll = token_nll(model(**model_inputs(batch)).logits, batch["labels"])
    total = -nll.sum(dim=1)
    if not mean:
        return total
    return total / (batch["labels"][:, 1:] != -100).sum(dim=1).clamp_min(1)
