"""The run settings of the training loop (`TrainConfig`, LoRA options, the stop rule a run
may carry), apart from the loop so that its callers need not import it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from torch import nn

from unmirage.errors import InputError
from unmirage.training.run_settings import DEFAULTS, REPORT_TO

SCHEDULES = {"linear": "linear", "cosine": "cosine", "constant": "constant_with_warmup"}
LORA_DEFAULT_TARGETS = (
    r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
)
"""The language model's projections. Bare names would also match the q/k/v_proj of LLaVA's CLIP
tower, which the paper's LoRA runs (and LLaVA's fine-tuning) leave frozen."""


@dataclass
class LoraOptions:
    """PEFT LoRA on the modules named in `target_modules` (a list, or one regex string)."""

    r: int = 16
    alpha: int = 32
    dropout: float = 0.0
    target_modules: list[str] | str = LORA_DEFAULT_TARGETS


class StopRule(Protocol):
    """Decides, from the model as it is, whether training has reached its goal."""

    def check(self, model: nn.Module) -> tuple[bool, dict[str, float]]: ...


@dataclass
class TrainConfig:
    """Everything about a run except the method's own knobs.

    `steps` counts optimizer steps; `epochs` instead derives them from the first stream of the
    method. Unlearning may stop early (`stop_at_leak`): `holdout` of the forget pairs are kept
    out of training, and every `eval_every` steps the model answers them; the run ends at the
    first check where at most a `stop_at_leak` share of the answers leaks (`steps` is then the
    most it may take). See `unmirage.training.stopping.LeakStop`. `batch_size` is per process and
    micro-step; the effective batch is batch_size x grad_accum x processes. `trainable`
    (regular expressions searched in parameter names, e.g. "multi_modal_projector") freezes
    everything else; None trains all (or, with `lora`, the adapters only, plus any parameters
    `trainable` names).
    """

    lr: float = DEFAULTS["lr"]
    steps: int | None = None
    epochs: float | None = None
    batch_size: int = DEFAULTS["batch_size"]
    grad_accum: int = 1
    warmup_steps: int = DEFAULTS["warmup_steps"]
    schedule: str = DEFAULTS["schedule"]
    weight_decay: float = 0.0
    max_grad_norm: float | None = 1.0
    seed: int = 0
    checkpoint_every: int = DEFAULTS["checkpoint_every"]
    keep_checkpoints: bool = False
    """Keep OUT/checkpoints after the run (it holds the last checkpoint only; each save
    replaces the one before)."""
    max_length: int | None = None
    trainable: list[str] | None = None
    lora: LoraOptions | None = None
    merge_lora: bool = DEFAULTS["merge_lora"]
    mixed_precision: str = "no"
    report_to: str = "none"
    holdout: float = 0.0
    stop_at_leak: float | None = None
    eval_every: int = 25

    def validate(self) -> None:
        if (self.steps is None) == (self.epochs is None):
            raise InputError("give exactly one of steps and epochs", field="steps")
        checks = {
            "lr": self.lr > 0,
            "steps": self.steps is None or self.steps > 0,
            "epochs": self.epochs is None or self.epochs > 0,
            "batch_size": self.batch_size > 0,
            "grad_accum": self.grad_accum > 0,
            "warmup_steps": self.warmup_steps >= 0,
            "checkpoint_every": self.checkpoint_every >= 0,
            "schedule": self.schedule in SCHEDULES,
            "report_to": self.report_to in REPORT_TO,
            "mixed_precision": self.mixed_precision in ("no", "bf16", "fp16"),
            "holdout": 0.0 <= self.holdout < 1.0,
            "stop_at_leak": self.stop_at_leak is None or 0.0 <= self.stop_at_leak <= 1.0,
            "eval_every": self.eval_every > 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise InputError(f"invalid value {getattr(self, name)!r}", field=name)
