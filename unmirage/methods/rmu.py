"""RMU: push the activations of forget answers at one decoder layer onto a fixed random
direction, and hold retain activations where they were.

Activations come from forward hooks on the language model's decoder layers, found by module
name, so no forward ever returns the hidden states of every layer. Only positions whose label
is not -100 count, i.e. the response tokens: never padding, prompt or image placeholders
(public implementations averaged over all of them, paper-notes §6). The paper appends the
answer to the query in the user turn for RMU; with this masking the same answer tokens are
the ones that count, so forget and retain batches are encoded like every other method's.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import torch
from peft import PeftModel
from torch import Tensor, nn

from unmirage.checks import is_int
from unmirage.errors import InputError
from unmirage.methods.base import register
from unmirage.methods.losses import (
    Batch,
    masked_mean,
    model_inputs,
    next_token_loss,
    response_nll,
)
from unmirage.methods.unlearning import (
    Loaders,
    Logs,
    Unlearning,
    check_knob,
    check_number,
    unwrap,
)

# LLaVA / Qwen2-VL in transformers 5.x: model.language_model.layers.N (4.x LLaVA:
# language_model.model.layers.N); PEFT adds base_model.model., DDP adds module. in front.
_VLM_LAYER = re.compile(r"(?:^|\.)language_model(?:\.model)?\.layers\.(\d+)$")
# A text-only causal LM: model.layers.N. Vision towers (encoder.layers.N, visual.blocks.N)
# match neither pattern.
_LM_LAYER = re.compile(r"(?:^|\.)model\.layers\.(\d+)$")
_CACHE_KWARGS = ("cache", "past_key_values", "past_key_value")

AUTO = "auto"
STEER_SCALE = 5.0
"""steer "auto" = this x the mean norm of h_L over forget response tokens of the model before
unlearning: the control vector lies far outside the activations the layer produces."""
PAPER_LAYER = {"full": 7, "lora": 15}
PAPER_DEPTH = 32
"""The authors' RMU layers for 32-layer LLaVA-1.5-7B; layer "auto" keeps the same relative
depth."""


def decoder_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The language model's decoder layers in order, with their module names in `model`."""
    for pattern in (_VLM_LAYER, _LM_LAYER):
        found: dict[int, tuple[str, nn.Module]] = {}
        for name, module in model.named_modules():
            match = pattern.search(name)
            if match:
                found[int(match.group(1))] = (name, module)
        if found:
            return [found[i] for i in sorted(found)]
    raise InputError(
        "cannot find the language model's decoder layers (no module named "
        "'...language_model.layers.N' or '...model.layers.N')",
        field="layer",
    )


def rmu_distance(hidden: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Mean over masked tokens of ||hidden - target||^2 / d (d = hidden size).

    Dividing by d (a per-element mean squared error, as in every public RMU) keeps the scale of
    `steer` and `alpha` independent of the model width. `target` is (d,) or shaped like hidden.
    """
    per_token = (hidden.float() - target.float()).pow(2).mean(dim=-1)
    return masked_mean(per_token, mask)


class StopForward(Exception):
    """Raised by `capture(stop=True)` once the output it wants exists."""


@contextmanager
def capture(
    output_of: nn.Module, input_of: nn.Module | None = None, *, stop: bool = False
) -> Iterator[dict[str, Any]]:
    """Record the output of one module during a forward, and the call of another: its
    arguments and the autocast state it ran under (mixed precision), to replay it exactly.

    stop: end the forward right after `output_of` (by raising `StopForward`, which the caller
    catches), so the layers above it and the LM head are not computed for nothing.
    """
    seen: dict[str, Any] = {}

    def keep_output(module: nn.Module, args: Any, output: Any) -> None:
        seen["output"] = output[0] if isinstance(output, tuple) else output
        if stop:
            raise StopForward

    def keep_input(module: nn.Module, args: tuple, kwargs: dict) -> None:
        hidden = args[0] if args else kwargs["hidden_states"]
        device = hidden.device.type
        autocast = (device, torch.get_autocast_dtype(device), torch.is_autocast_enabled(device))
        seen["input"] = (args, kwargs, autocast)

    handles = [output_of.register_forward_hook(keep_output)]
    if input_of is not None:
        handles.append(input_of.register_forward_pre_hook(keep_input, with_kwargs=True))
    try:
        yield seen
    finally:
        for handle in handles:
            handle.remove()


@torch.no_grad()
def mean_activation_norm(
    model: nn.Module, layer: nn.Module, batches: Callable[[], Iterable[Batch]]
) -> float:
    """Mean norm of `layer`'s output over the response tokens of every batch."""
    total, count = 0.0, 0
    for batch in batches():
        with capture(layer) as seen:
            model(**model_inputs(batch))
        mask = batch["labels"] != -100
        n = int(mask.sum())
        total += float(masked_mean(seen["output"].float().norm(dim=-1), mask)) * n
        count += n
    return total / max(count, 1)


@register("rmu")
@dataclass
class RMU(Unlearning):
    """RMU forget term + gamma * (retain next-token loss + alpha * retain activation match).

    l_u = mean over forget response tokens of ||h_L(x) - steer * u||^2 / d; retain term = mean
    over retain response tokens of ||h_L(x) - h_L^frozen(x)||^2 / d (see `rmu_distance`).

    layer: L, index of the decoder layer whose output is steered (negative counts from the
    end). Default "auto": the authors' relative depth, round(7 x n / 32) of n decoder layers
    (round(15 x n / 32) under LoRA), i.e. 7 (15) on 32-layer LLaVA-1.5.
    steer: c, the length of the control vector. Default "auto": STEER_SCALE x the mean norm
    of h_L over the forget response tokens of the model before unlearning, measured in
    `setup` (the authors fix 10, which must be large against that norm: check it per model).
    train_layers: how many layers, ending at L, are trained (default 3: L-2..L, as the
    authors); train_params: "mlp" (their MLP weights, default, as in the original RMU) or
    "all". The loop must freeze everything else: see `trainable_parameter_patterns`.
    alpha: weight of the activation match; default 1, both terms being per-element squared
    errors on the same activations. seed: draws u = rand(d) / ||rand(d)||.

    h_L^frozen without a second model: every layer below the first trained one is frozen, so
    its input is the same for the frozen and the live model; `setup` deep-copies only the
    trained layers (up to L) and runs the copies on that captured input. Memory: train_layers
    decoder layers. Under LoRA the copies carry the adapter as it was at setup. Call `setup`
    on the model before unlearning (on resume too, before restoring the trained weights).
    """

    """Three passes over the embedded world's 800 forget pairs at batch 16."""

    alpha: float = field(default=1.0, metadata={"help": "weight of the retain activation match"})
    layer: int | str = field(
        default=AUTO,
        metadata={"help": "decoder layer L steered ('auto': the authors' relative depth)"},
    )
    steer: float | str = field(
        default=AUTO,
        metadata={"help": "control vector length c ('auto': 5 x the mean norm of h_L)"},
    )
    train_layers: int = field(
        default=3, metadata={"help": "layers trained, ending at L (L-2..L by default)"}
    )
    train_params: str = field(
        default="mlp", metadata={"help": "'mlp' (their MLP weights) or 'all' of those layers"}
    )
    seed: int = field(default=0, metadata={"help": "draws the control vector (default: --seed)"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.steer != AUTO:
            check_number("steer", self.steer, above=0)
        for knob in ("layer", "train_layers", "seed"):
            value = getattr(self, knob)
            check_knob(
                is_int(value) or (knob == "layer" and value == AUTO),
                knob,
                f"must be an integer{' or auto' if knob == 'layer' else ''}, got {value!r}",
            )
        check_knob(self.train_layers >= 1, "train_layers", "must be >= 1")
        check_knob(
            self.train_params in ("mlp", "all"),
            "train_params",
            f"must be 'mlp' or 'all', got '{self.train_params}'",
        )
        self._control: Tensor | None = None
        self._frozen: nn.ModuleList | None = None
        self._checked_model: int | None = None
        self._derived: dict[str, Any] = {}

    def layer_index(self, model: nn.Module, depth: int) -> tuple[int, str]:
        """L as given, or resolved from "auto" for a language model `depth` layers deep; and
        how it was chosen."""
        if self.layer != AUTO:
            return self.layer, "given"
        reference = PAPER_LAYER["lora" if isinstance(unwrap(model), PeftModel) else "full"]
        index = min(depth - 1, round(reference * depth / PAPER_DEPTH))
        return index, f"round({reference} x {depth} / {PAPER_DEPTH})"

    def span(self, model: nn.Module) -> tuple[list[tuple[str, nn.Module]], int, int]:
        """The decoder layers, the first trained layer and L (validated against the model)."""
        layers = decoder_layers(model)
        n = len(layers)
        layer, _ = self.layer_index(model, n)
        last = layer + n if layer < 0 else layer
        check_knob(
            0 <= last < n,
            "layer",
            f"layer {self.layer} does not exist: the language model has {n} decoder layers",
        )
        return layers, max(0, last - self.train_layers + 1), last

    def trainable_parameter_patterns(self, model: nn.Module) -> list[str]:
        """The MLP (or all) parameters of layers L-train_layers+1..L, as `re.search` patterns.

        The loop keeps a parameter trainable only if it already is (any weight under full
        fine-tuning, the adapters under LoRA) and its name matches one of these.
        """
        layers, first, last = self.span(model)
        inside = r"\.mlp\." if self.train_params == "mlp" else r"\."
        return [rf"(?:^|\.){re.escape(name)}{inside}" for name, _ in layers[first : last + 1]]

    def setup(self, model: nn.Module, loaders: Loaders) -> None:
        """Resolve "auto" knobs, draw the control vector, copy the trained layers if the
        retain match is on."""
        layers, first, last = self.span(model)
        if self.layer == AUTO:
            self.layer, self._derived["layer"] = self.layer_index(model, len(layers))
        if self.steer == AUTO:
            norm = mean_activation_norm(model, layers[last][1], loaders["forget"])
            self.steer = STEER_SCALE * norm
            self._derived["steer"] = {"scale": STEER_SCALE, "forget_h_norm": norm}
        hidden = unwrap(model).config.get_text_config().hidden_size
        u = torch.rand(hidden, generator=torch.Generator().manual_seed(self.seed))
        self._control = self.steer * u / u.norm()
        self._frozen = None
        if self.gamma > 0 and self.alpha > 0:
            copies = [copy.deepcopy(module) for _, module in layers[first : last + 1]]
            self._frozen = nn.ModuleList(copies).eval().requires_grad_(False)

    def derived_knobs(self) -> dict[str, Any]:
        return dict(self._derived)

    def check_trainable(self, model: nn.Module) -> None:
        """Refuse to run if anything outside the trained layers is trainable.

        The frozen retain activations (and the method itself) assume it; a silent mismatch
        would make the retain term wrong from the first step.
        """
        if self._checked_model == id(model):
            return
        patterns = self.trainable_parameter_patterns(model)
        for name, param in model.named_parameters():
            if param.requires_grad and not any(re.search(p, name) for p in patterns):
                raise RuntimeError(
                    f"RMU trains only the parameters matching {patterns}, but '{name}' is "
                    "trainable: freeze every other parameter first"
                )
        self._checked_model = id(model)

    def forget_loss(self, model: nn.Module, batch: Batch) -> tuple[Tensor, Logs]:
        if self._control is None:
            raise RuntimeError("RMU.setup() must run before the first loss")
        self.check_trainable(model)
        layers, _, last = self.span(model)
        # Only h_L counts: stop the forward there, unless a wrapper (DDP, FSDP) must see the
        # whole forward to sync gradients.
        stop = unwrap(model) is model
        with capture(layers[last][1], stop=stop) as seen, suppress(StopForward):
            model(**model_inputs(batch))
        hidden, mask = seen["output"], batch["labels"] != -100
        loss = rmu_distance(hidden, self._control.to(hidden.device), mask)
        h_norm = masked_mean(hidden.detach().float().norm(dim=-1), mask)
        return loss, {"forget_rmu": loss.item(), "forget_h_norm": h_norm.item()}

    def retain_loss(self, model: nn.Module, batch: Batch) -> tuple[Tensor, Logs]:
        if self._frozen is None:
            nll = next_token_loss(model, batch)
            return nll, {"retain_nll": nll.item()}
        layers, first, last = self.span(model)
        with capture(layers[last][1], layers[first][1]) as seen:
            logits = model(**model_inputs(batch)).logits
        nll = response_nll(logits, batch["labels"])
        frozen = self.frozen_output(*seen["input"])
        match = rmu_distance(seen["output"], frozen, batch["labels"] != -100)
        return nll + self.alpha * match, {"retain_nll": nll.item(), "retain_rep": match.item()}

    @torch.no_grad()
    def frozen_output(self, args: tuple, kwargs: dict, autocast: tuple[str, Any, bool]) -> Tensor:
        """h_L of the model before unlearning: the frozen copies run on the captured input."""
        device, dtype, enabled = autocast
        kwargs = dict(kwargs)
        hidden = args[0] if args else kwargs.pop("hidden_states")
        for key in _CACHE_KWARGS:
            if key in kwargs:
                kwargs[key] = None
        if "use_cache" in kwargs:
            kwargs["use_cache"] = False
        self._frozen.to(hidden.device)
        hidden = hidden.detach()
        with torch.autocast(device, dtype=dtype, enabled=enabled):
            for layer in self._frozen:
                out = layer(hidden, *args[1:], **kwargs)
                hidden = out[0] if isinstance(out, tuple) else out
        return hidden
