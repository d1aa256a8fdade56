"""The unlearning form every unlearning objective here shares, and its knob checks.

The paper's objective is  l_u(theta; forget) + gamma * l_r(theta; retain),  with
l_r = (next-token loss on retain data) + alpha * (the method's own retain term). `Unlearning`
implements that sum once; a method supplies `forget_loss` and, if its retain term is not the KL
to the model before unlearning (RMU), overrides `retain_loss`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from peft import PeftModel
from torch import Tensor, nn

from unmirage.checks import is_number
from unmirage.errors import InputError
from unmirage.methods.base import Method
from unmirage.methods.losses import (
    Batch,
    masked_mean,
    model_inputs,
    next_token_loss,
    response_nll,
    shifted_response,
)

Loaders = Mapping[str, Callable[[], Iterable[Batch]]]
Logs = dict[str, float]


def check_knob(ok: bool, field: str, message: str) -> None:
    """Reject a bad knob value as user input (exit status 2 in the CLI), naming the knob."""
    if not ok:
        raise InputError(message, field=field)


def check_number(field: str, value: float, *, above: float | None = None) -> None:
    """A finite number: >= 0 by default (weights such as gamma and alpha), > `above` if given
    (above=0 for beta and steer), or any finite number with above=-inf (a margin)."""
    if not (is_number(value) and math.isfinite(value)):
        raise InputError(f"must be a finite number, got {value!r}", field=field)
    if above is None:
        check_knob(value >= 0, field, f"must be >= 0, got {value}")
    else:
        check_knob(value > above, field, f"must be > {above}, got {value}")


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside DistributedDataParallel-style wrappers (which keep it in `.module`)."""
    while isinstance(getattr(model, "module", None), nn.Module):
        model = model.module
    return model


class Reference:
    """Next-token logits of the model as it was before unlearning, for the retain KL.

    A PEFT model is its own reference: the adapter is switched off for one no-grad forward, at
    no memory cost. Any other model is deep-copied once (frozen, eval mode): one more full copy
    of the weights in memory, which is why the KL term is off by default (alpha = 0).
    """

    def __init__(self, model: nn.Module) -> None:
        inner = unwrap(model)
        self.peft = inner if isinstance(inner, PeftModel) else None
        self.copy = None if self.peft else copy.deepcopy(inner).eval().requires_grad_(False)

    @torch.no_grad()
    def logits(self, batch: Batch) -> Tensor:
        if self.peft is not None:
            with self.peft.disable_adapter():
                return self.peft(**model_inputs(batch)).logits
        return self.copy(**model_inputs(batch)).logits


@dataclass
class Unlearning(Method):
    """forget term + gamma * (retain next-token loss + alpha * KL(p_ref || p_theta) on retain).

    gamma: weight of the whole retain part; 0 skips the retain stream's forward entirely.
    alpha: weight of the retain KL to the model before unlearning. Default 0: the retain
    next-token loss already anchors the model (paper §5: without it VLM unlearning collapses),
    and the KL costs a reference forward per step plus, without LoRA, a second copy of the
    weights; set alpha > 0 to measure what it adds.
    """

    streams: ClassVar[tuple[str, ...]] = ("forget", "retain")

    gamma: float = field(
        default=1.0,
        metadata={"help": "weight of the whole retain part (0 skips the retain forward)"},
    )
    alpha: float = field(
        default=0.0,
        metadata={"help": "weight of the retain KL to the model before unlearning (0: off)"},
    )

    def __post_init__(self) -> None:
        check_number("gamma", self.gamma)
        check_number("alpha", self.alpha)
        self._reference: Reference | None = None

    def setup(self, model: nn.Module, loaders: Loaders) -> None:
        """Keep the reference for the retain KL; call on the model *before* unlearning."""
        if self.gamma > 0 and self.alpha > 0:
            self._reference = Reference(model)

    def forget_loss(self, model: nn.Module, batch: Batch) -> tuple[Tensor, Logs]:
        raise NotImplementedError

    def retain_loss(self, model: nn.Module, batch: Batch) -> tuple[Tensor, Logs]:
        """Next-token loss on retain responses, plus alpha * token-mean KL(p_ref || p_theta)."""
        if self._reference is None:
            nll = next_token_loss(model, batch)
            return nll, {"retain_nll": nll.item()}
        logits = model(**model_inputs(batch)).logits
        nll = response_nll(logits, batch["labels"])
        logits, _, mask = shifted_response(logits, batch["labels"])
        ref, _, _ = shifted_response(self._reference.logits(batch), batch["labels"])
        kl_tokens = torch.nn.functional.kl_div(
            torch.log_softmax(logits, dim=-1),
            torch.log_softmax(ref, dim=-1),
            log_target=True,
            reduction="none",
        ).sum(-1)
        kl = masked_mean(kl_tokens, mask)
        return nll + self.alpha * kl, {"retain_nll": nll.item(), "retain_kl": kl.item()}

    def loss_terms(
        self, model: nn.Module, batch: Mapping[str, Batch]
    ) -> Iterator[tuple[Tensor, Logs]]:
        yield self.forget_loss(model, batch["forget"])
        if self.gamma > 0:
            retain, logs = self.retain_loss(model, batch["retain"])
            yield self.gamma * retain, logs

    def loss(self, model: nn.Module, batch: Mapping[str, Batch]) -> tuple[Tensor, Logs]:
        terms = list(self.loss_terms(model, batch))
        total = sum((term for term, _ in terms[1:]), terms[0][0])
        logs = {k: v for _, term_logs in terms for k, v in term_logs.items()}
        logs["loss"] = total.item()
        return total, logs
