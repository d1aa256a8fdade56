"""The Method contract: an objective is a loss over a batch plus its knobs.

The shared loop in `unmirage.train` owns everything else (optimizer, schedule, accumulation,
checkpoints, data order). A method names the data streams it reads (`streams`), may compute
fixed state once before training (`setup`), and overrides `loss`.

A batch is `{stream: tensors}`; each stream's tensors are what `unmirage.models.encode` made
(input_ids, attention_mask, labels, pixel_values, ...) plus `index`: the position of every row
in its stream's data set, so that per-sample state (e.g. cached reference log-probs) can be
looked up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from unmirage.errors import InputError

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


def response_logits_and_targets(model: nn.Module, batch: Batch) -> tuple[Tensor, Tensor, Tensor]:
    """Forward once; return shifted logits, targets and the mask of response tokens."""
    logits = model(**model_inputs(batch)).logits[:, :-1].float()
    targets = batch["labels"][:, 1:]
    mask = targets != -100
    return logits, targets.clamp_min(0), mask


def token_nll(model: nn.Module, batch: Batch) -> Tensor:
    """Per-token negative log-likelihood of the response tokens: (B, T-1), zero elsewhere."""
    logits, targets, mask = response_logits_and_targets(model, batch)
    nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
    return nll * mask


def next_token_loss(model: nn.Module, batch: Batch) -> Tensor:
    """Mean cross-entropy over all response tokens of the batch (the ordinary LM loss)."""
    nll = token_nll(model, batch)
    n = (batch["labels"][:, 1:] != -100).sum().clamp_min(1)
    return nll.sum() / n


def sequence_logprob(model: nn.Module, batch: Batch, *, mean: bool = False) -> Tensor:
    """log p(response | prompt) per row: the sum over response tokens, or their mean."""
    nll = token_nll(model, batch)
    total = -nll.sum(dim=1)
    if not mean:
        return total
    return total / (batch["labels"][:, 1:] != -100).sum(dim=1).clamp_min(1)


@dataclass
class Method:
    """Base class; subclasses are dataclasses whose fields are the method's knobs."""

    name: ClassVar[str] = ""
    streams: ClassVar[tuple[str, ...]] = ()

    def setup(self, model: nn.Module, loaders: Mapping[str, Callable[[], Iterable[Batch]]]) -> None:
        """Compute fixed state once before training; `loaders[s]()` iterates stream s in order."""

    def trainable_parameter_patterns(self, model: nn.Module) -> list[str] | None:
        """Regexes (`re.search`) of the only parameter names this method may train, or None.

        The loop intersects them with what is trainable already (all weights, or the LoRA
        adapters), e.g. RMU's few layers; None leaves the selection to the run configuration.
        """
        return None

    def loss(self, model: nn.Module, batch: Mapping[str, Batch]) -> tuple[Tensor, dict[str, float]]:
        raise NotImplementedError


METHODS: dict[str, type[Method]] = {}


def register(name: str) -> Callable[[type[Method]], type[Method]]:
    """Class decorator adding a method to the registry under `name`."""

    def wrap(cls: type[Method]) -> type[Method]:
        cls.name = name
        METHODS[name] = cls
        return cls

    return wrap


def get_method(name: str, **knobs: Any) -> Method:
    """Instantiate a registered method, naming the bad knob or method on error."""
    if name not in METHODS:
        raise InputError(
            f"unknown method '{name}' (choose from {', '.join(sorted(METHODS))})", field="method"
        )
    cls = METHODS[name]
    fields = {f.name for f in dataclasses.fields(cls)}
    for key in knobs:
        if key not in fields:
            raise InputError(
                f"method '{name}' has no knob '{key}' (knobs: "
                f"{', '.join(sorted(fields)) or 'none'})",
                field=key,
            )
    return cls(**knobs)
