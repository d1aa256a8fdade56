"""Run-setting defaults and choices of the training loop, apart from it so that the command
line can show them without loading torch (`unmirage.align` and `unmirage.training.train` read them
from here)."""

from __future__ import annotations

from typing import Any

DEFAULTS: dict[str, Any] = {
    "lr": 1e-4,
    "batch_size": 16,
    "warmup_steps": 10,
    "schedule": "cosine",
    "checkpoint_every": 50,
    "merge_lora": False,
}
"""Run settings shared by every method: the defaults of `TrainConfig`'s fields, so the Python
API and the command line train alike."""

REPORT_TO = ("none", "tensorboard", "wandb")
"""Experiment trackers the training loop can report to."""
